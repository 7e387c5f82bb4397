"""Media I/O: video decoding with timestamp resampling (:mod:`.video`), audio decoding and
resampling (:mod:`.audio`), and the audio features of Wav2Lip and SyncNet (:mod:`.features`).

Import from the sub-modules (``from tfbench.io.video import read_video``); this package
imports nothing heavy at load time.
"""
