"""An ADM object's metadata and audio: where a point source is relative to the
listener's head, block by block, its gain, and its signal delayed as it arrives.

Geometry is spatial's own (:func:`spatial.motion.emission_delay`): the propagation
delay tau solved at the emission time, the source where it was then and the listener
(position and yaw) where it is on arrival; the direction in the listener's frame
(:func:`spatial.geometry.world_to_head`) becomes ADM polar azimuth (counter-clockwise
from the front, +90 the left: the same convention), elevation and distance (metres),
the gain the direct path's 1 / r (r floored at MIN_DISTANCE_M, 1 at 1 m).

The object's audio is the source's dry signal (after the bus stage) delayed by tau:
a static source by a whole number of samples, a moving one by a delay that follows
tau on a grid of GRID samples, read with spatial's 4-point Lagrange interpolation
(:func:`spatial.engine.delay.tap_delay_sum`, as its moving path; so Doppler is in the
audio, as in spatial's renders; ``doppler: false`` holds tau at its value when the
source starts). The direction and gain are in the metadata: a static object has one
audioBlockFormat for the whole programme; a moving object (or any object when the
listener moves or turns) has one every BLOCK_S, each holding where the object is at
its end (BS.2127 renderers interpolate from the previous block's over the block),
after a first 1 ms block that holds where it starts; blocks that would change
nothing (the object holding still) are merged. A moving object's blocks are made as
the file's axml chunk is written, after the samples, so metadata of a long scene is
never all in memory.
"""
from __future__ import annotations

import numpy as np

from spatial.adm.axml import Block, ObjectItem
from spatial.geometry import MIN_DISTANCE_M, SPEED_OF_SOUND, to_spherical, world_to_head
from spatial.motion import emission_delay, is_moving
from spatial.trajectory import Trajectory

BLOCK_S = 0.02  # metadata blocks of a moving object (50 per second)
FIRST_S = 0.001  # the first block: where the object starts
GRID = 32  # samples between the delay's points (linear in between)


class ObjectTrack:
    """One point source as an ADM object. start: the file's first sample on the scene's
    timeline (a passage's start), fs: the rate."""

    def __init__(self, scene, source, track: int, fs: int, start: int = 0):
        self.name, self.track, self.fs, self.start = source.name, track, int(fs), int(start)
        self.traj = Trajectory.of(source)
        self.lis = Trajectory.of(scene.listener)
        self.moving = is_moving(scene, source)
        self.frozen = None
        if not source.doppler:
            t0 = np.array([max(float(source.start), 0.0)])
            self.frozen = float(emission_delay(self.traj, t0, self.lis.position(t0))[0][0, 0])
        if self.moving:
            from spatial.motion import _box_distance

            reach = _box_distance(self.traj.span(), self.lis.span()) / SPEED_OF_SOUND
        else:
            reach = float(self.geometry(np.zeros(1))[0][0])
            self.delay = int(round(reach * fs))  # samples, whole
        self.hist = int(np.ceil(reach * fs)) + 4
        self.lfe = source.role in scene.output.lfe  # also feeds the LFE bed (spatial.adm.sink)
        # its 1 / r (reach: the travel time, s; per sample when moving, from process)
        self.gain = 1.0 / max(reach * SPEED_OF_SOUND, MIN_DISTANCE_M)
        self.buf = np.zeros(self.hist)  # the dry signal's last `hist` samples

    def geometry(self, t: np.ndarray):
        """At reception times t (s): tau (M,) s and the listener-frame vectors (M, 3)."""
        lis_pos = self.lis.position(t)
        if self.frozen is None:
            tau, pos = emission_delay(self.traj, t, lis_pos)
            tau, pos = tau[0], pos[0]
        else:
            tau = np.full(t.shape, self.frozen)
            pos = self.traj.position(t - tau)
        return tau, world_to_head(pos - lis_pos, self.lis.yaw(t))

    def _block(self, at: int, length: int, end: int) -> Block:
        _, v = self.geometry(np.array([(self.start + end) / self.fs]))
        az, el, r = to_spherical(v)
        return Block(at, length, float(az[0]), float(el[0]), float(r[0]),
                     1.0 / max(float(r[0]), MIN_DISTANCE_M))

    def item(self, frames: int) -> ObjectItem:
        """The object's metadata over a file of `frames` samples (a moving object's
        blocks are made lazily, as the document is written: spatial.adm.axml)."""
        if not self.moving:
            return ObjectItem(self.name, self.track, static=self._block(0, frames, 0))
        return ObjectItem(self.name, self.track, lazy=self.blocks(frames))

    def blocks(self, frames: int, chunk: int = 4096):
        """A moving object's blocks: the first holds where it starts, each later one
        where it is at its end; blocks that change nothing (the object holding still)
        are merged into the one before."""
        step, first = max(1, round(BLOCK_S * self.fs)), max(1, round(FIRST_S * self.fs))
        edges = np.unique(np.concatenate([[0, min(first, frames)],
                                          np.arange(step, frames, step), [frames]]))
        if edges.size < 2:
            return
        at = np.concatenate([[0], edges[2:]])  # where each block's position is taken
        pending = None
        for lo in range(0, edges.size - 1, chunk):
            hi = min(lo + chunk, edges.size - 1)
            _, v = self.geometry((self.start + at[lo:hi]) / self.fs)
            az, el, r = to_spherical(v)
            for k in range(hi - lo):
                a, b = int(edges[lo + k]), int(edges[lo + k + 1])
                blk = Block(a, b - a, float(az[k]), float(el[k]), float(r[k]),
                            1.0 / max(float(r[k]), MIN_DISTANCE_M))
                if pending is not None and _same(pending, blk):
                    pending.length += blk.length
                    continue
                if pending is not None:
                    yield pending
                pending = blk
        if pending is not None:
            yield pending

    def process(self, x: np.ndarray, done: int) -> np.ndarray:
        """The object's audio for dry block x (n,) whose first sample is the file's
        sample `done`: x delayed by tau."""
        n, H = x.shape[0], self.hist
        buf = np.concatenate([self.buf, x])
        if self.moving:  # spatial's own fractional delay line (4-point Lagrange)
            from spatial.engine.delay import tap_delay_sum

            m = -(-n // GRID)
            t = (self.start + done + np.arange(m + 1) * GRID) / self.fs
            self._last = self.geometry(t)
            d = np.clip(self._last[0] * self.fs, 1.0, H - 2.0)[None]
            padded = np.concatenate([buf, np.zeros(m * GRID - n + 4)])
            out = np.zeros((1, m * GRID), np.float32)
            tap_delay_sum(padded, H, d, np.ones((1, m + 1, 1), np.float32), GRID, out)
            y = out[0, :n]
            if self.lfe:  # the direct path's 1 / r, on the grid and linear in between
                r = np.linalg.norm(self._last[1], axis=1)
                self.gain = np.interp(np.arange(n), np.arange(m + 1) * GRID,
                                      1.0 / np.maximum(r, MIN_DISTANCE_M))
        else:
            y = buf[H - self.delay:H - self.delay + n]
        self.buf = buf[-H:]
        return y


def _same(a: Block, b: Block) -> bool:
    """Two blocks the file would tell apart (positions to 1e-6, as written)."""
    return all(f"{x:.6g}" == f"{y:.6g}" for x, y in (
        (a.azimuth, b.azimuth), (a.elevation, b.elevation), (a.distance, b.distance),
        (a.gain, b.gain)))
