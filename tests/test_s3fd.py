"""tfbench's S3FD and face tracking/cropping vs the reference (``syncnet_python``'s detector
and pipeline functions) on the same images, weights and boxes: identical outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tfbench.errors import CheckpointError, MissingWeightsError
from tfbench.nets import s3fd
from tfbench.testing import install_random_weights


def random_s3fd_state(seed: int = 0) -> dict:
    """Random S3FD weights with sharpened classification heads, so that many anchors pass
    the 0.9 threshold and both NMS stages have real work to do."""
    torch.manual_seed(seed)
    net = s3fd.S3FDNet()
    with torch.no_grad():
        for head in net.conf:
            head.weight.mul_(40.0)
        for head in net.loc:
            head.weight.mul_(5.0)
    return net.state_dict()


def pattern_image(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([128 + 100 * np.sin(xx / 9.0), 128 + 100 * np.cos(yy / 13.0), 60 + 0 * xx], -1)
    image += rng.normal(0, 20, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def weights_state():
    return random_s3fd_state()


@pytest.fixture(scope="module")
def reference_detector(weights_state):
    from syncnet_python.detectors.s3fd import S3FD
    from syncnet_python.detectors.s3fd.nets import S3FDNet

    net = S3FDNet(device="cpu")
    net.load_state_dict(weights_state)
    return S3FD(net=net, device="cpu")


@pytest.fixture
def our_detector(weights_state):
    install_random_weights("s3fd", weights_state)
    return s3fd.load_s3fd("cpu")


@pytest.mark.parametrize(("height", "width", "scale", "threshold"), [
    (256, 256, 0.25, 0.9),    # tfbench clips, the pipeline's settings
    (360, 480, 0.25, 0.9),    # non-square frame
    (160, 240, 1.0, 0.5),     # full resolution, more candidates
])
def test_detections_match_reference(reference_detector, our_detector, height, width, scale, threshold):
    images = np.stack([pattern_image(height, width, seed) for seed in range(3)])
    ours = s3fd.detect_faces(our_detector, images, conf_threshold=threshold, scale=scale, batch_size=2)
    total = 0
    for image, mine in zip(images, ours):
        theirs = reference_detector.detect_faces(image, conf_th=threshold, scales=[scale])
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-3)
        total += len(mine)
    assert total > 0, "the test weights must produce detections, or the comparison is empty"


def test_anchor_layout_matches_reference():
    from syncnet_python.detectors.s3fd.box_utils import PriorBox

    sizes = [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2), (1, 1)]
    reference = PriorBox((64, 80), [list(size) for size in sizes]).forward()
    assert torch.equal(s3fd.anchors(64, 80, sizes), reference)


def test_missing_weights_name_the_fix():
    with pytest.raises(MissingWeightsError, match="tfbench weights download s3fd"):
        s3fd.load_s3fd("cpu")


def test_wrong_file_is_a_checkpoint_error():
    install_random_weights("s3fd", {"something.else": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="not an S3FD state dict"):
        s3fd.load_s3fd("cpu")


# ---------------------------------------------------------------- tracking and cropping


def synthetic_detections(num_frames: int = 60, seed: int = 0) -> list[np.ndarray]:
    """A drifting face (missed in some frames), a far false positive now and then, and a
    second short-lived face: float64 [K,5] per frame, best score first."""
    rng = np.random.default_rng(seed)
    detections = []
    for t in range(num_frames):
        faces = []
        if t % 9 not in (4, 5):  # missed detections
            x, y, size = 60 + 0.8 * t + rng.normal(0, 1.5), 50 + rng.normal(0, 1.5), 120 + rng.normal(0, 3)
            faces.append([x, y, x + size, y + size * 1.1, 0.99])
        if t % 7 == 3:
            faces.append([5, 200, 25, 222, 0.95])  # tiny false positive
        if 20 <= t < 34:
            faces.append([150, 10, 250, 120, 0.93])
        detections.append(np.array(faces, dtype=np.float64).reshape(-1, 5))
    return detections


def reference_pipeline(min_track: int, min_face_size: float = 100):
    from syncnet_python.syncnet_pipeline import PipelineConfig, SyncNetPipeline

    pipeline = object.__new__(SyncNetPipeline)  # no weights needed for _track / _crop
    pipeline.cfg = PipelineConfig(min_track=min_track, min_face_size=min_face_size)
    return pipeline


def as_reference_dets(detections: list[np.ndarray]) -> list[list[dict]]:
    return [[{"frame": t, "bbox": box[:4].tolist(), "conf": float(box[4])} for box in faces]
            for t, faces in enumerate(detections)]


@pytest.mark.parametrize(("min_track", "min_face_size"), [(10, 100), (10, 20), (25, 100), (100, 100)])
def test_tracks_match_reference(min_track, min_face_size):
    from tfbench.evaluate.syncnet.pipeline import track_faces

    detections = synthetic_detections()
    theirs = reference_pipeline(min_track, min_face_size)._track(as_reference_dets(detections))
    ours = track_faces(detections, min_track, min_face_size)
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine.frames, reference["frame"])
        np.testing.assert_allclose(mine.boxes, reference["bbox"], rtol=0, atol=1e-9)


def test_tracking_finds_the_drifting_face_and_skips_short_ones():
    from tfbench.evaluate.syncnet.pipeline import track_faces

    tracks = track_faces(synthetic_detections(), min_track_frames=10, min_face_size=100)
    assert len(tracks) == 2  # the drifting face (interpolated over misses) and the 14-frame face
    assert list(tracks[0].frames) == list(range(58))  # frames 58, 59 are misses after the last detection
    assert list(tracks[1].frames) == list(range(20, 34))
    assert track_faces(synthetic_detections(), min_track_frames=100) == []


def test_crops_and_audio_slice_match_reference(tmp_path, monkeypatch):
    """Same frames + track -> the frames the reference hands its video writer, and the audio
    span its ffmpeg cut keeps."""
    import cv2
    from scipy.io import wavfile

    from test_syncnet_parity import int16_like_ffmpeg

    from tfbench.evaluate.syncnet.pipeline import crop_track, track_faces

    rng = np.random.default_rng(3)
    frames_bgr = rng.integers(0, 256, size=(60, 180, 220, 3), dtype=np.uint8)  # smaller than the boxes reach
    paths = []
    for index, frame in enumerate(frames_bgr):
        paths.append(str(tmp_path / f"{index:06d}.png"))
        cv2.imwrite(paths[-1], frame)
    audio = (0.2 * rng.normal(size=60 * 640 + 300)).clip(-1, 1).astype(np.float32)
    wav = tmp_path / "speech.wav"
    wavfile.write(wav, 16000, int16_like_ffmpeg(audio))

    track = track_faces(synthetic_detections(), min_track_frames=10, min_face_size=100)[1]  # starts at frame 20

    written = []
    real_writer = cv2.VideoWriter

    class RecordingWriter:
        def __init__(self, *args):
            self.inner = real_writer(*args)

        def write(self, frame):
            written.append(frame.copy())
            self.inner.write(frame)

        def release(self):
            self.inner.release()

    monkeypatch.setattr(cv2, "VideoWriter", RecordingWriter)
    reference_track = {"frame": track.frames, "bbox": track.boxes}
    reference_pipeline(10)._crop(reference_track, paths, str(wav), tmp_path / "cropped" / "00000")
    monkeypatch.undo()

    ours = crop_track(frames_bgr, track)
    assert ours.shape == (len(track.frames), 224, 224, 3)
    np.testing.assert_array_equal(ours, np.stack(written))
    assert (ours == 110).all(axis=-1).any(), "the test track should reach the grey padding"

    _, cut = wavfile.read(tmp_path / "cropped" / "00000.wav")
    first, last = int(track.frames[0]), int(track.frames[-1])
    np.testing.assert_array_equal(cut, int16_like_ffmpeg(audio)[first * 640 : (last + 1) * 640])


def test_tracking_follows_original_reference_with_several_faces():
    """joonson's ``track_shot`` tries every face of a frame (a non-matching first face does
    not end the frame); the packaged MoChaBench-derived ``_track`` stops at the first one.
    tfbench follows the original."""
    from tfbench.evaluate.syncnet.pipeline import track_faces

    face = [100.0, 100.0, 220.0, 230.0, 0.99]
    other = [0.0, 0.0, 110.0, 110.0, 0.999]  # listed first (higher score), far from the face
    detections = [np.array([face])] + [np.array([other, face]) for _ in range(12)]
    tracks = track_faces(detections, min_track_frames=10, min_face_size=100)
    assert [len(track.frames) for track in tracks] == [13, 12]
    np.testing.assert_array_equal(tracks[0].boxes, np.tile(face[:4], (13, 1)))
