"""Media constants every part of tfbench agrees on (defined once, imported everywhere).

- :data:`SAMPLE_RATE`: 16000 Hz, the audio rate of prepared clips, of every request a
  method receives, and of the SyncNet / mel features;
- :data:`FPS`: 25.0 frames per second, the video rate of prepared clips and of
  ``tfbench generate`` outputs.
"""

#: Audio sample rate (Hz) of prepared clips, requests and audio features.
SAMPLE_RATE = 16000
#: Video frame rate (frames per second) of prepared clips and generated videos.
FPS = 25.0
