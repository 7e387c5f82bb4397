"""The bundled sample (tfbench/sample_raw) and its generator tfbench.samplegen."""

import json
from pathlib import Path

import numpy as np
import pytest

import tfbench
from tfbench import samplegen
from tfbench.io.audio import read_audio
from tfbench.io.video import probe_video, read_video

SAMPLE = Path(tfbench.__file__).parent / "sample_raw"
CLIPS = samplegen.sample_clips()


@pytest.fixture(scope="module")
def models():
    return samplegen.dlib_models()


def test_committed_tree_has_mead_layout_and_is_small():
    videos = sorted(p.relative_to(SAMPLE).as_posix() for p in SAMPLE.glob("*/video/front/*/level_*/*.mp4"))
    audios = sorted(p.relative_to(SAMPLE).as_posix() for p in SAMPLE.glob("*/audio/*/level_*/*.m4a"))
    assert videos == sorted(c.video_path(Path()).as_posix() for c in CLIPS)
    assert audios == sorted(c.audio_path(Path()).as_posix() for c in CLIPS)
    assert len(videos) == 12 and {c.speaker for c in CLIPS} == {"W001", "W002"}
    assert {(c.emotion, c.level) for c in CLIPS} == {("neutral", 1), ("happy", 1), ("happy", 2)}
    assert len({c.sentence for c in CLIPS}) == 12
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 3_000_000
    readme = (SAMPLE / "README.md").read_text()
    assert "not real data" in readme
    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    assert [c["video"] for c in manifest["clips"]] == [c.video_path(Path()).as_posix() for c in CLIPS]


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: c.clip_id)
def test_committed_clip_format(clip):
    info = probe_video(clip.video_path(SAMPLE))
    assert (info.width, info.height, info.fps, info.has_audio) == (256, 256, 25.0, True)
    assert 2.0 <= info.duration_s <= 4.0
    audio = read_audio(clip.audio_path(SAMPLE))
    np.testing.assert_array_equal(audio, read_audio(clip.video_path(SAMPLE)))  # same AAC track
    assert abs(len(audio) / 16000 - info.duration_s) <= 1 / 25
    assert np.abs(audio).max() > 0.3


def _corner_lift(landmarks: np.ndarray) -> float:
    """How far the mouth corners (48, 54) sit above the mean lip height, pixels."""
    return float(landmarks[48:68, 1].mean() - landmarks[[48, 54], 1].mean())


@pytest.mark.parametrize("speaker", ["W001", "W002"])
def test_dlib_sees_one_face_and_lips_follow_the_audio(speaker, models):
    lifts = {}
    for clip in (c for c in CLIPS if c.speaker == speaker and c.index == 1 and c.level in (1, 2)):
        if clip.emotion == "happy" and clip.level == 1:
            continue
        frames = read_video(clip.video_path(SAMPLE)).frames
        audio = read_audio(clip.audio_path(SAMPLE))
        gaps, corner_lifts = [], []
        for frame in frames:
            count, landmarks = samplegen.dlib_landmarks(frame, models, upsample=1)
            assert count == 1
            assert landmarks.shape == (68, 2)
            gaps.append(samplegen.lip_opening(landmarks))
            corner_lifts.append(_corner_lift(landmarks))
        energy = samplegen.frame_energy(audio, len(frames))
        assert np.corrcoef(gaps, energy)[0, 1] > 0.5
        lifts[clip.emotion] = np.median(corner_lifts)
    assert lifts["happy"] > lifts["neutral"] + 1.0  # happy level 2 smiles more than neutral


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The shortest sample clip generated twice, into two fresh folders."""
    clip = min(CLIPS, key=lambda c: len(c.sentence))
    roots = [tmp_path_factory.mktemp(name) for name in ("first", "second")]
    entries = [samplegen.generate(root, only=[clip.clip_id]) for root in roots]
    return clip, roots, entries


def test_generation_is_deterministic(regenerated):
    clip, (first, second), entries = regenerated
    assert entries[0] == entries[1]
    assert entries[0][0]["lip_audio_correlation"] > 0.5
    for path in (clip.video_path, clip.audio_path):
        np.testing.assert_array_equal(read_audio(path(first)), read_audio(path(second)))
    np.testing.assert_array_equal(read_video(clip.video_path(first), fps=None).frames,
                                  read_video(clip.video_path(second), fps=None).frames)


def test_committed_sample_is_what_the_generator_writes(regenerated):
    clip, (first, _), entries = regenerated
    stale = ("the committed sample differs from what tfbench.samplegen generates here: either the "
             "generator changed (run python -m tfbench.samplegen --out tfbench/sample_raw) or "
             "espeak-ng / dlib / scikit-image / ffmpeg differ from the versions in docs/sample.md")
    fresh = read_video(clip.video_path(first), fps=None).frames
    committed = read_video(clip.video_path(SAMPLE), fps=None).frames
    assert fresh.shape == committed.shape and np.array_equal(fresh, committed), stale
    assert np.array_equal(read_audio(clip.audio_path(first)), read_audio(clip.audio_path(SAMPLE))), stale
    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    assert entries[0][0] in manifest["clips"], stale


def test_unknown_clip_id_is_refused(tmp_path):
    with pytest.raises(ValueError, match="W001_neutral_level_1_001"):
        samplegen.generate(tmp_path, only=["W009_angry_level_3_001"])


def test_mouth_opening_follows_loudness():
    quiet, loud = np.full(640 * 5, 0.01), np.full(640 * 5, 0.5)
    opening = samplegen.mouth_opening(np.concatenate([quiet, loud, quiet]).astype(np.float32), 15)
    assert opening.max() == pytest.approx(1.0)
    assert opening[:4].max() < 0.2 and opening[6:9].min() > 0.9 and opening[11:].max() < 0.2


def test_moved_landmarks_open_the_jaw_and_lift_corners():
    landmarks = np.random.default_rng(0).uniform(100, 200, (68, 2))
    still = samplegen.moved_landmarks(landmarks, 0.0, 0.0)
    np.testing.assert_array_equal(still, landmarks)
    opened = samplegen.moved_landmarks(landmarks, 1.0, 0.0)
    assert opened[8, 1] - landmarks[8, 1] == pytest.approx(samplegen.JAW_DROP_PX)  # chin
    assert opened[66, 1] - landmarks[66, 1] == pytest.approx(samplegen.JAW_DROP_PX)  # lower inner lip
    np.testing.assert_array_equal(opened[17:48], landmarks[17:48])  # brows, nose, eyes stay
    smiling = samplegen.moved_landmarks(landmarks, 0.0, 1.0)
    assert (smiling[[48, 54], 1] < landmarks[[48, 54], 1]).all()
