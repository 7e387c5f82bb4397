"""The one request builder: needs filtering, representations (3DMM kind, phoneme ids), options."""

from __future__ import annotations

import numpy as np
import pytest

from tfbench.errors import InputError
from tfbench.models.base import GenerationRequest, Generator
from tfbench.models.request import PHONE_SET, build_request, phoneme_ids, request_from_row, tdmm_kind


class NeedsDeep3d(Generator):
    name = "needs_deep3d"
    needs = frozenset({"coeffs_3dmm", "phonemes"})
    needs_3dmm_kind = "deep3d"

    @classmethod
    def from_checkpoint(cls, path, device="cpu"):
        return cls()

    def generate(self, request):
        self.check_request(request)
        return np.zeros((request.num_frames, 8, 8, 3), np.uint8)


def _row(count=4):
    return {"clip_id": "c1", "text": ["first sentence", "second"], "emotion": "happy", "level": 2,
            "landmarks": np.zeros((count, 68, 2)), "coeffs_3dmm": np.ones((count, 257)),
            "coeffs_3dmm_align": np.ones((count, 5)), "phonemes": ["SIL", "AA", "+NSN+", "ZH"], "speaker": "W001"}


def test_row_request_keeps_only_what_the_model_needs():
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    called = []
    bare = request_from_row(_row(), frozenset({"reference_image"}), frames=frames,
                            audio=lambda: called.append("audio"))
    assert bare.reference_image.shape == (8, 8, 3) and bare.audio is None and bare.source_frames is None
    assert bare.text is None and bare.coeffs_3dmm is None and not called  # audio never computed
    full = request_from_row(_row(), frozenset({"text", "emotion", "phonemes", "coeffs_3dmm", "landmarks"}),
                            frames=frames, audio=None, meta={"backends": {"tdmm": {"name": "deep3d"}}},
                            options={"prompt": "x"})
    assert (full.text, full.emotion, full.emotion_level) == ("first sentence", "happy", 2)
    assert full.phonemes.tolist() == [PHONE_SET.index("SIL"), 0, 40, PHONE_SET.index("ZH")]
    assert full.coeffs_3dmm_kind == "deep3d" and full.coeffs_3dmm_align.shape == (4, 5)
    assert full.options == {"prompt": "x"} and full.extra == {"speaker": "W001"}
    with pytest.raises(InputError, match="landmarks cover 3 frames but the clip has 4"):
        request_from_row({**_row(), "landmarks": np.zeros((3, 68, 2))}, frozenset({"landmarks"}), frames=frames, audio=None)


def test_offline_coefficients_are_refused_by_a_bfm_model():
    assert tdmm_kind({"backends": {"tdmm": {"name": "offline"}}}) == "offline_pca" and tdmm_kind({}) is None
    model = NeedsDeep3d()
    request = build_request("c", model.needs, num_frames=4, coeffs_3dmm=np.zeros((4, 257)), coeffs_3dmm_kind="offline_pca",
                            phonemes=np.zeros(4, np.int64))
    with pytest.raises(InputError, match="--tdmm deep3d"):
        model.generate(request)
    request.coeffs_3dmm_kind = "deep3d"
    assert model.generate(request).shape == (4, 8, 8, 3)
    request.phonemes = request.phonemes[:2]
    with pytest.raises(InputError, match="phonemes cover 2 frames, 4 needed"):
        model.generate(request)


def test_phoneme_ids_cover_the_set():
    assert len(PHONE_SET) == 41 and phoneme_ids(PHONE_SET).tolist() == list(range(41))
    assert phoneme_ids(["+SPN+", "xyz"]).tolist() == [40, 40]
    assert isinstance(GenerationRequest("c", 1).options, dict)
