"""tfbench: prepare data, run methods and evaluate audio-driven talking-face generation."""

__version__ = "0.1.0"
