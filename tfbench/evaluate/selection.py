"""Which metrics an evaluation runs: by id, or every one whose weights are present."""

from __future__ import annotations

import json
from typing import Iterable

from tfbench.errors import InputError
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.base import Metric


def resolve_metrics(ids: Iterable[str], device: str = "cpu", params: dict[str, dict] | None = None) -> list[Metric]:
    """Instantiate metrics by registry id (``params[id]`` go to the constructor).

    Every metric's weights are checked first, so a missing file stops here, before any
    network is built, with one error naming each fix.
    """
    from tfbench.weights import require

    params = params or {}
    classes = [METRICS.get(metric_id) for metric_id in ids]
    unknown = sorted(set(params) - set(ids))
    if unknown:
        raise InputError(f"--param given for metric(s) not run: {', '.join(unknown)}")
    require(sorted({name for cls in classes for name in cls.weights}))
    return [cls(device=device, **params.get(metric_id, {})) for metric_id, cls in zip(ids, classes)]


def available_metrics() -> tuple[list[str], dict[str, str]]:
    """(ids whose weights are present, {id: why left out, with the fix}) over the registry."""
    from tfbench.errors import MissingWeightsError
    from tfbench.weights import require

    present, left_out = [], {}
    for metric_id in METRICS.names():
        try:
            cls = METRICS.get(metric_id)
            require(cls.weights)
        except MissingWeightsError as error:
            left_out[metric_id] = str(error)
            continue
        except ImportError as error:
            left_out[metric_id] = f"cannot import: {error}"
            continue
        present.append(metric_id)
    return present, left_out


def parse_params(items: list[str]) -> dict[str, dict]:
    """``["psnr.max_db=80", "lse_c.min_track_frames=50"]`` -> ``{"psnr": {"max_db": 80}, ...}``; values are JSON or strings."""
    params: dict[str, dict] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        metric, dot, key = name.rpartition(".")
        if not sep or not dot or not metric or not key:
            raise InputError(f"--param takes METRIC.KEY=VALUE (e.g. psnr.max_db=80), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params.setdefault(metric, {})[key] = value
    return params


def choose_metrics(requested: str | None, echo) -> list[str]:
    """Metric ids to run: the requested ones (checked to exist), or every one whose weights are present."""
    if requested:
        ids = [item.strip() for item in requested.split(",") if item.strip()]
        for metric_id in ids:
            METRICS.target(metric_id)  # unknown id -> "did you mean"
        return ids
    from tfbench.weights import status

    ids, left_out = available_metrics()
    for metric_id, why in left_out.items():
        missing = [name for name in METRICS.get(metric_id).weights if status(name).state == "missing"] if "cannot import" not in why else []
        echo(f"[yellow]left out {metric_id}[/]: " + (f"weights not here: {', '.join(missing)}" if missing else why))
    if left_out:
        echo("  get weights with `tfbench weights download NAME` (offline: `tfbench weights import NAME FILE`); "
             "`tfbench weights list` shows every file and where it comes from")
    if not ids:
        from tfbench.errors import TfbenchError

        raise TfbenchError("no metric can run: every registered metric lacks its weights (see above)")
    return ids
