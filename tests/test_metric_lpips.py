"""LPIPS: parity with the ``lpips`` package given identical (random) backbone weights."""

import lpips
import numpy as np
import pytest
import torch
import torchvision

from tfbench.errors import MissingWeightsError
from tfbench.evaluate.clip import ClipInputs
from tfbench.evaluate.metrics import METRICS
from tfbench.evaluate.metrics.lpips import to_signed_unit
from tfbench.nets.lpips import LPIPSNetwork
from tfbench.testing import install_random_weights
from tfbench.weights import weights_path, weights_record


def reference_lpips(net: str, features: torch.nn.Sequential) -> lpips.LPIPS:
    """The package's LPIPS with its shipped linear layers and ``features`` as backbone."""
    reference = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False).eval()
    source = dict(features.named_parameters())
    for name, parameter in reference.net.named_parameters():  # "slice<k>.<index>.<weight|bias>"
        _, index, kind = name.split(".")
        parameter.data.copy_(source[f"{index}.{kind}"].data)
    return reference


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    pred = np.clip(gt.astype(int) + rng.integers(-60, 60, gt.shape), 0, 255).astype(np.uint8)
    pred[0] = gt[0]
    return pred, gt


def test_lpips_alex_matches_package_per_frame(frames):
    torch.manual_seed(0)
    backbone = torchvision.models.alexnet(weights=None)
    install_random_weights("alexnet", backbone)
    pred, gt = frames
    metric = METRICS.get("lpips@alex")(batch_size=2)  # batches of 2, 2, 1
    ours = metric.per_frame(pred, gt)
    reference = reference_lpips("alex", backbone.features)
    with torch.no_grad():
        expected = reference(to_signed_unit(pred), to_signed_unit(gt)).flatten().double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
    assert ours[0] == 0.0 and np.all(ours[1:] > 0)
    score = metric.score_clip(ClipInputs.from_arrays(pred, gt))
    assert score.values["lpips@alex"] == pytest.approx(expected.mean(), rel=1e-5)
    record = weights_record("alexnet")
    assert record.canonical is False  # random test weights are never reported as canonical


def test_lpips_vgg_network_matches_package(frames):
    torch.manual_seed(1)
    network = LPIPSNetwork("vgg").eval()
    linear_state = torch.load(weights_path("lpips_vgg_linear"), map_location="cpu", weights_only=True)
    network.linear.load_state_dict({f"{k}.weight": linear_state[f"lin{k}.model.1.weight"] for k in range(5)})
    pred, gt = frames
    reference = reference_lpips("vgg", network.backbone.features)
    a, b = to_signed_unit(pred[:3]), to_signed_unit(gt[:3])
    with torch.no_grad():
        expected = reference(a, b).flatten()
    torch.testing.assert_close(network(a, b), expected, rtol=1e-5, atol=1e-7)


def test_missing_backbone_names_the_fix(frames):
    metric = METRICS.get("lpips@alex")()
    assert metric.weights == ("alexnet", "lpips_alex_linear")
    pred, gt = frames
    with pytest.raises(MissingWeightsError, match="tfbench weights download alexnet"):
        metric.score_clip(ClipInputs.from_arrays(pred, gt))
