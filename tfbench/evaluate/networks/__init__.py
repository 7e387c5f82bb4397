"""Feature networks of the image and video metrics (FID Inception, LPIPS, FVD I3D).

Each loader takes its files from :func:`tfbench.weights.weights_path`, so a missing
file raises :class:`~tfbench.errors.MissingWeightsError` naming the fix, and never
falls back to random weights.
"""
