"""syncnet_python's full pipeline on decoded frames: detect -> track -> smooth -> crop.

Reproduces ``run_pipeline.py`` of joonson/syncnet_python (lines quoted in
docs/metrics/lse.md) without its temporary files:

1. ``inference_video``: S3FD on every frame, conf > 0.9, image scaled by 0.25;
2. ``scene_detect``: tfbench clips are single shots, so the whole clip is one scene (the
   reference still requires the scene to span at least ``min_track`` frames);
3. ``track_shot``: greedy IoU tracking (IoU > 0.5 with the track's last box, at most 25
   frames since it), a track needs more than ``min_track`` detections and a mean box width or
   height above ``min_face_size`` px; boxes are linearly interpolated over missed frames;
4. ``crop_video``: box half-size and centre median-filtered (kernel 13), frame padded by
   ``int(s * 1.8)`` px of grey 110, crop ``[cy - s, cy + 1.8 s] x [cx - 1.4 s, cx + 1.4 s]``,
   resized to 224x224 (``cv2.resize`` bilinear).

The reference writes the crops to an XVID AVI and re-extracts JPEGs before scoring; tfbench
scores the crops directly (see the docs for what that changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfbench.errors import FaceError

DETECTION_SCALE = 0.25
DETECTION_THRESHOLD = 0.9
IOU_THRESHOLD = 0.5
MAX_MISSED_FRAMES = 25
SMOOTHING_KERNEL = 13
CROP_SCALE = 0.4
PAD_VALUE = 110
CROP_SIZE = 224

#: Fixed protocol values, recorded with every pipeline-mode result.
PROTOCOL = {
    "detector": "s3fd",
    "detection_scale": DETECTION_SCALE,
    "detection_threshold": DETECTION_THRESHOLD,
    "track_iou": IOU_THRESHOLD,
    "max_missed_frames": MAX_MISSED_FRAMES,
    "smoothing_kernel": SMOOTHING_KERNEL,
    "crop_scale": CROP_SCALE,
    "pad_value": PAD_VALUE,
    "scenes": "whole clip is one scene",
}


@dataclass(frozen=True)
class FaceTrack:
    """A face track: ``frames`` int [L] consecutive frame indices, ``boxes`` float64 [L,4]
    (x1, y1, x2, y2) px, linearly interpolated where the detector missed the face."""

    frames: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class TrackCrops:
    """The crops of the track SyncNet scores: ``crops`` uint8 [L,224,224,3] RGB of frames
    ``frames`` int [L]; ``num_tracks``: tracks that passed the filters (the longest is used)."""

    frames: np.ndarray
    crops: np.ndarray
    num_tracks: int


def box_iou(a, b) -> float:
    """IoU of two (x1, y1, x2, y2) boxes, the reference's ``bb_intersection_over_union``."""
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def track_faces(
    detections: list[np.ndarray],
    min_track_frames: int,
    min_face_size: float = 100.0,
    iou_threshold: float = IOU_THRESHOLD,
    max_missed: int = MAX_MISSED_FRAMES,
) -> list[FaceTrack]:
    """Tracks in one scene, in the order the reference finds them.

    ``detections[t]``: float [K,5] (x1, y1, x2, y2, score) of frame ``t``. Repeatedly: walk
    the frames; the first unused face starts a track; in later frames the first unused face
    within ``max_missed`` frames of the track's last face and with IoU > ``iou_threshold``
    extends it (at most one per frame). A track is kept when it has more than
    ``min_track_frames`` faces and its mean box width or height exceeds ``min_face_size``.

    The reference iterates a list while removing from it; with S3FD's detections (NMS at
    IoU 0.1, so two faces of one frame never overlap by more than 0.5) that is exactly the
    rule above.
    """
    from scipy.interpolate import interp1d

    unused = [[(t, box[:4]) for box in frame_boxes] for t, frame_boxes in enumerate(detections)]
    tracks: list[FaceTrack] = []
    while True:
        track: list[tuple[int, np.ndarray]] = []
        for frame_faces in unused:
            for index, face in enumerate(frame_faces):
                if track and face[0] - track[-1][0] > max_missed:
                    break
                if not track or box_iou(face[1], track[-1][1]) > iou_threshold:
                    track.append(frame_faces.pop(index))
                    break
        if not track:
            return tracks
        if len(track) <= min_track_frames:
            continue
        frames = np.array([t for t, _ in track])
        boxes = np.array([box for _, box in track], dtype=np.float64)
        all_frames = np.arange(frames[0], frames[-1] + 1)
        all_boxes = np.stack([interp1d(frames, boxes[:, k])(all_frames) for k in range(4)], axis=1)
        mean_size = max(np.mean(all_boxes[:, 2] - all_boxes[:, 0]), np.mean(all_boxes[:, 3] - all_boxes[:, 1]))
        if mean_size > min_face_size:
            tracks.append(FaceTrack(all_frames, all_boxes))


def smoothed_boxes(track: FaceTrack) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(half-size s, centre x, centre y), each float64 [L], median-filtered with kernel 13."""
    from scipy.signal import medfilt

    boxes = track.boxes
    size = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
    centre_y = (boxes[:, 1] + boxes[:, 3]) / 2
    return tuple(medfilt(values, kernel_size=SMOOTHING_KERNEL) for values in (size, centre_x, centre_y))


def crop_track(frames: np.ndarray, track: FaceTrack, crop_scale: float = CROP_SCALE) -> np.ndarray:
    """uint8 [L,224,224,3] crops of ``frames`` (uint8 [T,H,W,3]; channel order kept) along ``track``."""
    import cv2

    sizes, centres_x, centres_y = smoothed_boxes(track)
    crops = np.empty((len(track.frames), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for index, frame_index in enumerate(track.frames):
        size = sizes[index]
        pad = int(size * (1 + 2 * crop_scale))
        padded = cv2.copyMakeBorder(frames[frame_index], pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
        centre_y, centre_x = centres_y[index] + pad, centres_x[index] + pad
        face = padded[
            int(centre_y - size) : int(centre_y + size * (1 + 2 * crop_scale)),
            int(centre_x - size * (1 + crop_scale)) : int(centre_x + size * (1 + crop_scale)),
        ]
        crops[index] = cv2.resize(face, (CROP_SIZE, CROP_SIZE))
    return crops


def face_track_crops(
    detector,
    frames: np.ndarray,
    min_track_frames: int,
    min_face_size: float = 100.0,
    device: str = "cpu",
) -> TrackCrops:
    """Detect, track and crop the face of a single-shot clip (uint8 [T,H,W,3] RGB, 25 fps).

    The longest track is used (the first on ties). Raises :class:`FaceError` naming the reason
    when no track passes: no face found, clip or track too short, or face too small.
    """
    from tfbench.nets.s3fd import detect_faces

    if len(frames) < min_track_frames:
        raise FaceError(
            f"clip has {len(frames)} frames, fewer than min_track_frames={min_track_frames} "
            f"(the reference skips such scenes); lower min_track_frames to score it"
        )
    detections = detect_faces(detector, frames, conf_threshold=DETECTION_THRESHOLD, scale=DETECTION_SCALE, device=device)
    frames_with_face = sum(1 for found in detections if len(found))
    if frames_with_face == 0:
        raise FaceError(f"S3FD found no face (conf > {DETECTION_THRESHOLD}) in any of the {len(frames)} frames")
    tracks = track_faces(detections, min_track_frames, min_face_size)
    if not tracks:
        raise FaceError(
            f"no face track longer than {min_track_frames} frames with mean box size > {min_face_size:g} px "
            f"(faces found in {frames_with_face} of {len(frames)} frames); "
            f"lower min_track_frames / min_face_size to score it"
        )
    longest = max(tracks, key=lambda track: len(track.frames))
    return TrackCrops(longest.frames, crop_track(frames, longest), len(tracks))
