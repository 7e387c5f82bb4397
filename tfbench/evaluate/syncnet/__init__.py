"""SyncNet (Chung & Zisserman 2016) as used for LSE-C / LSE-D: network, scoring, face pipeline.

The networks are shared (:mod:`tfbench.nets.syncnet`, the "S" network; :mod:`tfbench.nets.s3fd`,
the face detector of the full pipeline). Modules here: :mod:`scoring` (MFCC windows,
offset search, LSE-C/LSE-D), :mod:`pipeline` (detect -> track -> smooth -> crop). The reference is joonson/syncnet_python
as driven by Wav2Lip's ``evaluation/scores_LSE``; see ``docs/metrics/lse.md``.
"""
