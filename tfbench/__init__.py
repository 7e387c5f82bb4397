"""tfbench: prepare data, run methods and evaluate audio-driven talking-face generation.

The Python API (docs/api.md); names load on first use, so ``import tfbench`` stays light:

- ``tfbench.evaluate(pred=DIR, gt=DIR, metrics=[...], out=None)`` -> result record with ``.per_clip``
- ``tfbench.metrics.get("ssim")`` -> metric with ``update`` / ``compute`` / ``reset``
- ``tfbench.open_dataset(path_or_name)`` -> :class:`tfbench.data.PreparedDataset`
- ``tfbench.load_model(name, checkpoint=None)`` -> :class:`tfbench.models.base.Generator`
"""

__version__ = "0.1.0"

__all__ = ["GenerationRequest", "ResultRecord", "data", "evaluate", "load_model", "metrics", "models", "open_dataset"]

_MODULES = {"data", "evaluate", "metrics", "models"}
_NAMES = {
    "open_dataset": ("tfbench.data", "open_prepared"),
    "load_model": ("tfbench.models", "load_model"),
    "GenerationRequest": ("tfbench.models.base", "GenerationRequest"),
    "ResultRecord": ("tfbench.results", "ResultRecord"),
}


def __getattr__(name: str):
    import importlib

    if name in _MODULES:
        return importlib.import_module(f"tfbench.{name}")
    if name in _NAMES:
        module, attribute = _NAMES[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'tfbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
