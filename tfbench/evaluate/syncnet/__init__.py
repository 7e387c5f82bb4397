"""SyncNet (Chung & Zisserman 2016) as used for LSE-C / LSE-D: network, scoring, face pipeline.

The "S" network itself is shared: :mod:`tfbench.nets.syncnet`. Modules: :mod:`scoring` (MFCC windows,
offset search, LSE-C/LSE-D), :mod:`s3fd` (face detector of the full pipeline),
:mod:`pipeline` (detect -> track -> smooth -> crop). The reference is joonson/syncnet_python
as driven by Wav2Lip's ``evaluation/scores_LSE``; see ``docs/metrics/lse.md``.
"""
