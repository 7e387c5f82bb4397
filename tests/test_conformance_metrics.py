"""One contract every registered Metric passes, parametrised over the METRICS registry (a new
metric is tested here with no new test code).

Contract: id / version / direction / outputs / inputs / weights are declared and consistent;
an unknown parameter is refused with its name; through the runner, a clip that cannot be
scored becomes a failure record while the others score, and a rerun with the same ``--out``
takes every score from the cache and aggregates to the same numbers.

The runner part needs the metric's weights. Package-shipped files are used as they are;
files that can only be downloaded get a random-initialised file of the exact architecture
from :data:`RANDOM_WEIGHTS` (non-canonical). A metric whose weights are in neither must stop
before any work with MissingWeightsError naming ``tfbench weights`` — asserted, not skipped.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from _fixtures_raw import speech, talking_frames
from tfbench.errors import MissingWeightsError, TfbenchError
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.runner import ClipJob, Runner, RunInfo, resolve_metrics
from tfbench.weights import get_spec, specs

IDS = METRICS.names()


def _torch_state(build):
    def write(name):
        import torch

        from tfbench.testing import install_random_weights

        torch.manual_seed(0)
        install_random_weights(name, build())
    return write


def _fid():
    from test_metric_fid import random_fid_state

    return random_fid_state()


def _alexnet():
    import torchvision

    return torchvision.models.alexnet(weights=None)


def _vgg16():
    import torchvision

    return torchvision.models.vgg16(weights=None)


def _syncnet():
    from tfbench.nets.syncnet import SyncNet

    return SyncNet()


def _emotion_fan():
    from test_metric_efd import _emotion_fan_checkpoint

    return _emotion_fan_checkpoint(0)


#: Download-only weights -> writer of a random file of the exact architecture (tests only).
RANDOM_WEIGHTS = {"fid_inception": _torch_state(_fid), "alexnet": _torch_state(_alexnet), "vgg16": _torch_state(_vgg16),
                  "syncnet_v2": _torch_state(_syncnet), "emotion_fan": _torch_state(_emotion_fan)}


@pytest.mark.parametrize("metric_id", IDS)
def test_declarations(metric_id):
    cls = METRICS.get(metric_id)
    assert cls.id == metric_id
    assert isinstance(cls.version, str) and cls.version
    assert isinstance(cls.higher_is_better, bool)
    outputs = cls.output_ids()
    assert outputs and len(set(outputs)) == len(outputs)
    assert cls.needs and cls.needs <= {"pred", "gt", "audio", "reference"}
    assert set(cls.weights) <= {spec.name for spec in specs()}


@pytest.mark.parametrize("metric_id", IDS)
def test_unknown_parameter_is_refused(metric_id):
    with pytest.raises(TfbenchError, match="no_such_parameter"):
        METRICS.get(metric_id)(device="cpu", no_such_parameter=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two talking-head clips (pred = gt slightly darkened, with audio) and one corrupt prediction."""
    from tfbench.io.video import write_video

    root = tmp_path_factory.mktemp("metric_clips")
    jobs = []
    for index, text in enumerate(("Hello there, nice day.", "Look at the blue sky.")):
        audio = speech(text, 1.4)
        gt = talking_frames(audio, 25.0, 1.4, canvas=(224, 224))
        pred = np.clip(gt.astype(np.int16) - 12 * (index + 1), 0, 255).astype(np.uint8)
        gt_path = write_video(root / f"gt{index}.mp4", gt, fps=25, audio=audio, lossless=True)
        pred_path = write_video(root / f"pred{index}.mp4", pred, fps=25, lossless=True)
        jobs.append(ClipJob(f"clip{index}", pred_path, gt_path))
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    jobs.append(ClipJob("corrupt", corrupt, jobs[0].gt))
    return jobs


def _same(a, b) -> bool:
    """Bit-identical, None == None, NaN == NaN."""
    if a is None or b is None:
        return a is b
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("metric_id", IDS)
def test_failed_clips_are_recorded_and_a_rerun_resumes_from_cache(metric_id, clips, tmp_path):
    cls = METRICS.get(metric_id)
    unavailable = [name for name in cls.weights if get_spec(name).source == "download" and name not in RANDOM_WEIGHTS]
    if unavailable:
        with pytest.raises(MissingWeightsError, match="tfbench weights"):
            resolve_metrics([metric_id])
        return
    for name in cls.weights:
        if name in RANDOM_WEIGHTS:
            RANDOM_WEIGHTS[name](name)
    info = RunInfo(model="conformance", dataset="unit", split="test", protocol="pred-vs-gt/v1")
    first = Runner(resolve_metrics([metric_id]), tmp_path, info, progress=False).run(clips)
    failed = {failure.clip_id for failure in first.failures}
    assert "corrupt" in failed, f"the corrupt prediction was not recorded as a failure: {failed}"
    assert first.scores_computed >= 1, f"no clip scored: {[f.error for f in first.failures]}"
    second = Runner(resolve_metrics([metric_id]), tmp_path, info, progress=False).run(clips)
    assert second.scores_computed == 0 and second.scores_reused == first.scores_computed
    before = {key: result.value for key, result in first.record.metrics.items()}
    after = {key: result.value for key, result in second.record.metrics.items()}
    assert before.keys() == after.keys() and all(_same(before[key], after[key]) for key in before), (before, after)
