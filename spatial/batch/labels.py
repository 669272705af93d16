"""SELD ground truth of a scene, in the DCASE format of STARSS23 (DCASE 2023/2024).

One CSV row per 100 ms frame and active source, no header::

    frame, class, source, azimuth, elevation, distance

- frame: the frame index, frame k being the 100 ms from k * 0.1 s on the scene's
  timeline; frames without events are left out, overlapping events repeat the frame;
- class: the index of the source's class in the batch's class list (the manifest's
  "classes"); a source's class is its ``label`` key, its role by default;
- source: the instance of that class in the scene (0 for the first source of the
  class in scene order, 1 for the second ...), so (class, source) names one source;
- azimuth, elevation: integer degrees relative to the listener's head, azimuth
  counter-clockwise with 0 in front and 90 to the left (the listener's yaw
  included), elevation -90..90; distance: integer centimetres from the head.

Geometry is sampled per frame at the frame's start (spatial.trajectory: moving
sources and a moving or turning listener follow their paths). Activity comes from
the signal, not the file's length: a source is active in a frame when its signal
(its file, mixed to mono, with its gain_db, placed at its start) has an RMS over the
frame at or above ``threshold_db`` dBFS (DEFAULT_THRESHOLD_DB). Non-diegetic beds
have no direction and get no rows; the propagation delay is not added (the label is
the source where and when it emits).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FRAME_S = 0.1  # label resolution of STARSS23
DEFAULT_THRESHOLD_DB = -60.0  # dBFS RMS over a frame


def label_of(src) -> str:
    return src.label or src.role


def classes_of(scenes) -> list[str]:
    """The sorted labels of the diegetic sources of `scenes` (a batch's class list)."""
    return sorted({label_of(s) for scene in scenes for s in scene.sources if s.diegetic})


def activity(src, n_frames: int, threshold_db: float = DEFAULT_THRESHOLD_DB) -> np.ndarray:
    """(n_frames,) bool: frames where the source's signal is at or above the threshold."""
    import soundfile as sf

    x, fs = sf.read(str(src.file), dtype="float64", always_2d=True)
    x = x.mean(axis=1) * 10.0 ** (src.gain_db / 20.0)
    edges = np.round((np.arange(n_frames + 1) * FRAME_S - src.start) * fs).astype(np.int64)
    edges = np.clip(edges, 0, x.size)
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    n = np.round(FRAME_S * fs)  # RMS over the whole frame (silence where it does not play)
    ms = (energy[edges[1:]] - energy[edges[:-1]]) / n
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(np.maximum(ms, 1e-300)) >= threshold_db


def directions(scene, src, times: np.ndarray) -> np.ndarray:
    """(len(times), 3) azimuth, elevation (degrees), distance (m) of src from the head."""
    from spatial.trajectory import Trajectory

    listener = Trajectory.of(scene.listener)
    d = Trajectory.of(src).position(times) - listener.position(times)
    yaw = np.radians(listener.yaw(times))
    x = np.cos(yaw) * d[:, 0] + np.sin(yaw) * d[:, 1]  # into the head's frame
    y = -np.sin(yaw) * d[:, 0] + np.cos(yaw) * d[:, 1]
    z = d[:, 2]
    return np.stack([np.degrees(np.arctan2(y, x)), np.degrees(np.arctan2(z, np.hypot(x, y))),
                     np.sqrt(x * x + y * y + z * z)], axis=1)


def rows(scene, classes: dict, length_s: float,
         threshold_db: float | None = None) -> list[tuple[int, ...]]:
    """The label rows of a scene rendered to length_s seconds, by frame then class and
    source. classes: label -> class index (a label missing from it is a KeyError)."""
    threshold = DEFAULT_THRESHOLD_DB if threshold_db is None else float(threshold_db)
    n_frames = int(np.ceil(round(length_s / FRAME_S, 6)))
    times = np.arange(n_frames) * FRAME_S
    out, instances = [], {}
    for src in scene.sources:
        if not src.diegetic:
            continue
        label = label_of(src)
        cls = classes[label]
        instance = instances[label] = instances.get(label, -1) + 1
        active = np.flatnonzero(activity(src, n_frames, threshold))
        if active.size == 0:
            continue
        geo = directions(scene, src, times[active])
        for k, (az, el, dist) in zip(active, geo):
            out.append((int(k), cls, instance, _deg(az), _deg(el), int(round(dist * 100.0))))
    return sorted(out)


def _deg(x: float) -> int:
    """Integer degrees; azimuth in -180..180 (a round 180.0 stays 180)."""
    return int(np.round(x))


def write_labels(scene, path, classes: dict, length_s: float,
                 threshold_db: float | None = None) -> int:
    """Write the rows as CSV to `path` atomically (a temporary file renamed); returns
    how many rows."""
    found = rows(scene, classes, length_s, threshold_db)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text("".join(",".join(map(str, r)) + "\n" for r in found), encoding="ascii")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(found)
