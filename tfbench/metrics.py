"""Every evaluator metric, one at a time, torchmetrics style (docs/api.md)::

    m = tfbench.metrics.get("ssim")
    m.update(pred, gt)       # one clip: uint8 [T,H,W,3] RGB arrays/tensors, or video files
    m.compute()              # aggregate over the clips so far (float, or dict for several outputs)
    m.reset()

A :class:`StreamingMetric` wraps the evaluator's own :class:`~tfbench.evaluate.metrics.base.Metric`
(same class, same ``score_clip`` and ``aggregate``, same weights checks), so a number
computed here is the number ``tfbench evaluate`` gives for the same clips. Each ``update``
is one clip: its per-clip score is kept (FID/FVD keep the clip's features, as the
evaluator's cache does) and ``compute`` aggregates the kept scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfbench.errors import InputError

__all__ = ["StreamingMetric", "get", "names"]


def names() -> list[str]:
    """Ids of every registered metric (``psnr``, ``ssim``, ``csim@dlib``, ...)."""
    from tfbench.evaluate.metrics import METRICS

    return METRICS.names()


def get(metric_id: str, device: str = "cpu", **params: Any) -> "StreamingMetric":
    """The metric ``metric_id`` ready for ``update``/``compute``.

    ``params`` are the metric's protocol parameters (as ``tfbench evaluate --param
    ID.KEY=VALUE``, e.g. ``get("ssim", window="gaussian")``). Unknown ids raise with
    suggestions; missing weights raise naming ``tfbench weights download|import``.
    """
    from tfbench.evaluate.runner import resolve_metrics

    return StreamingMetric(resolve_metrics([metric_id], device=device, params={metric_id: params} if params else None)[0])


def _frames(value: Any, which: str) -> Any:
    """uint8 [T,H,W,3] numpy frames from an array or tensor (one frame [H,W,3] = T of 1;
    torch channels-first [T,3,H,W] is transposed); paths pass through."""
    if value is None or isinstance(value, (str, Path)):
        return value
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu()
        if value.ndim in (3, 4) and value.shape[-1] != 3 and value.shape[-3] == 3:
            value = value.movedim(-3, -1)
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype != np.uint8:
        raise InputError(f"{which}: frames must be uint8 RGB in 0..255, got {array.dtype}; convert floats in [0, 1] "
                         "with (x * 255).round().clip(0, 255).astype(np.uint8) (torch: .to(torch.uint8))")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise InputError(f"{which}: frames must be [T,H,W,3] (or one [H,W,3] frame), got {list(array.shape)}")
    return array


def _audio(value: Any) -> Any:
    if value is None or isinstance(value, (str, Path)):
        return value
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32).reshape(-1)


class StreamingMetric:
    """One evaluator metric with ``update`` (one clip) / ``compute`` / ``reset``.

    Attributes mirror the metric's: ``id``, ``outputs`` (ids ``compute`` returns),
    ``higher_is_better``, ``version``, ``needs`` (subset of pred, gt, audio, reference),
    ``weights``. ``metric`` is the wrapped evaluator metric; ``scores`` the per-clip values.
    """

    def __init__(self, metric) -> None:
        self.metric = metric
        self._scores: list = []

    id = property(lambda self: self.metric.id)
    outputs = property(lambda self: self.metric.output_ids())
    higher_is_better = property(lambda self: self.metric.higher_is_better)
    version = property(lambda self: self.metric.version)
    needs = property(lambda self: self.metric.needs)
    weights = property(lambda self: self.metric.weights)

    def update(self, pred: Any, gt: Any = None, *, audio: Any = None, reference: Any = None,
               fps: float = 25.0, clip_id: str | None = None) -> dict[str, float]:
        """Score one clip and keep its score; returns the clip's values (``{"ssim": 0.91}``).

        ``pred``, ``gt``: uint8 ``[T,H,W,3]`` RGB frames at ``fps`` (numpy or torch; torch
        ``[T,3,H,W]`` too; one ``[H,W,3]`` frame is a clip of one), or video file paths
        (decoded at ``fps``). ``audio``: float32 ``[N]`` mono 16 kHz, or a file (default: the
        gt file's audio). ``reference``: uint8 ``[H,W,3]`` identity frame (default: gt frame 0).
        The evaluator's clip policies apply: lengths may differ by 2 frames (both truncated),
        sizes must match. Raises the metric's error when the clip cannot be scored.
        """
        from tfbench.evaluate.clip import ClipInputs

        clip_id = clip_id or f"clip{len(self._scores)}"
        clip = ClipInputs(clip_id, pred=_frames(pred, "pred"), gt=_frames(gt, "gt"), audio=_audio(audio),
                          reference=None if reference is None else _frames(reference, "reference")[0], fps=fps)
        clip.require(self.metric.needs)
        score = self.metric.score_clip(clip)
        clip.release()
        self._scores.append(score)
        return dict(score.values)

    def compute(self) -> float | None | dict[str, float | None]:
        """The aggregate over every clip since the last :meth:`reset`: a float for a metric with
        one output, ``{output: value}`` for several (``lse`` -> ``lse_c``, ``lse_d``); None
        where no clip was scored (FID/FVD need at least 2 frames/windows)."""
        values = self.metric.aggregate(iter(self._scores))
        return values[self.outputs[0]] if len(self.outputs) == 1 else dict(values)

    def reset(self) -> None:
        """Forget every clip."""
        self._scores = []

    @property
    def scores(self) -> list[dict[str, float]]:
        """Per-clip values, in update order."""
        return [dict(score.values) for score in self._scores]

    def __repr__(self) -> str:
        return f"StreamingMetric({self.id!r}, clips={len(self._scores)})"
