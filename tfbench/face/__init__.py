"""Faces: detection (``detect``), 68-point landmarks (``landmarks``, FAN in ``fan``),
identity embeddings (``embed``) and emotion features (``emotion``).

Every function takes uint8 RGB frames and returns float32 arrays with NaN rows where a
frame has no face; nothing is interpolated. See docs/metrics/lmd.md for the conventions.
"""
