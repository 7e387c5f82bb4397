"""Name -> plug-in registries with lazy imports and "did you mean" errors.

A registry maps a name to ``"module.path:attribute"``; the module is imported only when
the name is looked up, so ``tfbench --help`` never imports torch. Third-party packages
add entries through the entry-point group given to the registry (for example
``[project.entry-points."tfbench.models"] mymethod = "mypkg.model:MyGenerator"``).
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points
from typing import Any, Generic, Iterator, TypeVar

from tfbench.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Lazy registry of plug-ins of one kind (models, metrics, recipes)."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._targets: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points_read = False

    def add(self, name: str, target: str) -> None:
        """Register ``name`` -> ``"package.module:Attribute"`` without importing it."""
        if name in self._targets and self._targets[name] != target:
            raise ValueError(f"{self.kind} {name!r} is already registered as {self._targets[name]}")
        self._targets[name] = target

    def _read_entry_points(self) -> None:
        if self._entry_points_read or not self.entry_point_group:
            return
        self._entry_points_read = True
        for ep in entry_points(group=self.entry_point_group):
            self._targets.setdefault(ep.name, ep.value)

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        self._read_entry_points()
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def target(self, name: str) -> str:
        """The ``module:attribute`` string of ``name`` (no import)."""
        self._read_entry_points()
        if name not in self._targets:
            close = difflib.get_close_matches(name, self._targets, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(self.names())}."
            )
        return self._targets[name]

    def get(self, name: str) -> T:
        """Import and return the plug-in registered as ``name``."""
        if name not in self._loaded:
            module_name, _, attribute = self.target(name).partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in attribute.split(".") if attribute else []:
                obj = getattr(obj, part)
            self._loaded[name] = obj
        return self._loaded[name]


def weights_users() -> dict[str, list[str]]:
    """Weights name -> who uses it, computed from the plug-ins' declarations (never hand-kept).

    Metrics declare ``Metric.weights`` (listed by metric id), models ``Generator.weights``
    (listed by model name) and their trainers ``Trainer.weights`` (``"<model> training"``);
    a spec's own ``used_by`` adds users that are not plug-ins (``prepare`` backends).
    Imports every registered plug-in (and so torch).
    """
    from tfbench.evaluate.metrics import METRICS
    from tfbench.models import MODELS
    from tfbench.weights import specs

    users: dict[str, set[str]] = {spec.name: set(spec.used_by) for spec in specs()}

    def add(names, user: str) -> None:
        for name in names:
            users.setdefault(name, set()).add(user)

    for metric_id in METRICS.names():
        add(METRICS.get(metric_id).weights, metric_id)
    for model_name in MODELS.names():
        model = MODELS.get(model_name)
        add(getattr(model, "weights", ()), model_name)
        try:
            trainer = model.trainer_class()
        except Exception:  # a model with nothing to train
            continue
        add(getattr(trainer, "weights", ()), f"{model_name} training")
    return {name: sorted(found) for name, found in sorted(users.items())}


def registry_help(kind: str) -> str:
    """"sample, mead, ..." for CLI help: the names registered for ``kind`` ("recipe",
    "model", "metric"), computed so help never drifts from the registries (no torch import)."""
    if kind == "recipe":
        from tfbench.recipes import RECIPES as registry
    elif kind == "model":
        from tfbench.models import MODELS as registry
    else:
        from tfbench.evaluate.metrics import METRICS as registry
    return ", ".join(registry.names())


def dataset_titles() -> dict[str, str]:
    """Recipe name -> display title (``Recipe.title``, else the name), for leaderboards."""
    from tfbench.recipes import RECIPES

    return {name: getattr(RECIPES.get(name), "title", "") or name for name in RECIPES.names()}
