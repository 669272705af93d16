"""Moving sources and a moving, turning listener: planning and geometry.

A diegetic source is rendered by the moving path when its own ``path`` moves, or when
the listener has a ``path`` (then every source moves relative to the head). A path
with one keyframe is a static position (the cheap static path). Static sources in a
scene with a static listener keep their fixed early filter in the engine.

What a moving source goes through (:mod:`spatial.motion_render` runs it):

- **Doppler**: its dry signal sits in a fractional delay line
  (:func:`spatial.engine.delay.tap_delay_sum`, 4-point Lagrange). Each path (the direct
  one, and each first- and second-order image source) reads it at its propagation
  delay tau solved at the *emission* time, tau(t) = |x_src(t - tau) - x_lis(t)| / c
  (fixed-point iteration, :func:`emission_delay`), on a grid every :data:`GRID`
  samples and linear in between. ``doppler: false`` freezes every delay at its value
  when the source starts; level and direction still follow.
- **Direct path**: gain 1 / r (r = c tau, floored at 0.1 m), spatialised from its
  direction in the listener frame (listener position and yaw at the arrival time,
  source at the emission time). The spatial filter (HRIR, panning, ambisonic
  gains) is recomputed every control block (:func:`control_block`: the power of two
  of samples nearest 10 ms, 512 at 48 kHz) and successive filters' outputs are
  crossfaded linearly over each control block, so direction changes never click.
- **Early reflections** (image orders 1 and 2, the discrete early echoes): each image
  is a tap of the same delay line with its own emission-time delay (Doppler included),
  gain (walls' band gains, energy-averaged over the bands, air absorption, 1 / r, the
  crossover fade) and direction, panned with smooth power-normalised weights onto
  :data:`VIRTUAL_DIRECTIONS` (26 head-locked directions) whose spatial filters are
  static inputs of the engine. Their delays, gains and weights move on a grid every
  :data:`IMAGE_GRID` samples (their directions change slowly), linear in between;
  a turning listener turns the reflections too.
- **Later early reflections** (image order >= 3, before the crossover): a static
  filter of their delays relative to the direct path (directions, levels and LFE feed
  at the source's start), fed by the direct path's Doppler-delayed signal: they follow
  its arrival time and pitch, not its direction (they are dense and nearly diffuse).
- The shared late tail stays static (its send is the dry signal at emission, as for
  every source).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spatial.geometry import MIN_DISTANCE_M, SPEED_OF_SOUND
from spatial.trajectory import Trajectory

CONTROL_S = 0.01  # direct-path filter updates about every 10 ms: the power of two of
# samples nearest to it (512 at 44.1 and 48 kHz: 11.6 and 10.7 ms; 1024 at 96 kHz)
GRID = 32  # samples between delay / gain points of the direct path
IMAGE_GRID = 512  # samples between delay / gain / pan-weight points of the reflections
# (was 128: 4x the emission solves and weights for the same click figures, see the tests)
MAX_DISCRETE_ORDER = 2  # image orders rendered as moving taps
PAN_CUTOFF_DEG = 55.0  # a virtual direction further than this from a tap gets nothing


def _virtual_directions() -> np.ndarray:
    """26 unit vectors: the faces, edges and corners of a cube (neighbours 35-45 deg apart)."""
    v = np.array([(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)
                  if (x, y, z) != (0, 0, 0)], float)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


VIRTUAL_DIRECTIONS = _virtual_directions()


def pan_weights(dirs: np.ndarray) -> np.ndarray:
    """(..., 3) unit vectors -> (..., 26) smooth panning weights summing to 1.

    w_d = ((u . v_d - cos 55 deg) / (1 - cos 55 deg))_+^4, divided by their sum:
    continuous in u (and so in time), the nearest direction always within 35 deg.
    Amplitude (not power) normalised: at low frequencies the virtual directions'
    filters are nearly the same and add coherently, so this keeps the level there.
    """
    c0 = np.cos(np.deg2rad(PAN_CUTOFF_DEG))
    w = np.maximum(dirs @ VIRTUAL_DIRECTIONS.T - c0, 0.0) / (1.0 - c0)
    w *= w
    w *= w
    return w / np.sum(w, axis=-1, keepdims=True)


# -- which sources move --------------------------------------------------------------

def listener_moves(scene) -> bool:
    return bool(scene.listener.path)


def is_moving(scene, src) -> bool:
    """Whether a source takes the moving path (its path moves, or the listener has one)."""
    if not src.diegetic:
        return False
    if listener_moves(scene):
        return True
    return bool(src.path) and len(src.path) > 1


def static_view(src):
    """A source with a one-keyframe path as a static source at that position."""
    if src.path and len(src.path) == 1 and src.position is None:
        return dataclasses.replace(src, position=src.path[0].position, path=None)
    return src


def frozen_scene(scene, t: float = 0.0):
    """The scene with every object held where it is at time t (no paths): for
    impulse responses of moving scenes."""
    from spatial.scene.parts import Listener, checked

    lis = Trajectory.of(scene.listener)
    listener = Listener(tuple(lis.position(t).tolist()), float(lis.yaw(t)))
    sources = []
    for s in scene.sources:
        if s.diegetic and s.path:
            pos = tuple(Trajectory.of(s).position(t).tolist())
            s = dataclasses.replace(s, position=pos, path=None)
        sources.append(s)
    with checked():
        return dataclasses.replace(scene, listener=listener, sources=tuple(sources))


# -- geometry ------------------------------------------------------------------------

def emission_delay(source: Trajectory, t: np.ndarray, lis_pos: np.ndarray,
                   lattice: np.ndarray | None = None, dims=None, tol: float = 1e-10,
                   max_iter: int = 20):
    """Propagation delays tau (s) solved at the emission time, and emission positions.

    tau = |x(t - tau) - x_lis(t)| / c, x the source (or its images, lattice (N, 3) in a
    room of `dims`), by fixed-point iteration from the arrival-time distance; the
    error shrinks by v / c per step (source speed v), to `tol`.
    t: (M,) reception times; lis_pos: (M, 3). Returns tau (N, M) and positions
    (N, M, 3) (N = 1, the source itself, without a lattice).
    """
    if lattice is not None:
        odd = (lattice % 2) != 0
        base = (lattice * dims + np.where(odd, dims, 0.0))[:, None, :]
        sign = np.where(odd, -1.0, 1.0)[:, None, :]

    def where(te):
        p = source.position(te)  # (M, 3), or (N, M, 3) for per-path emission times
        if p.ndim == 2:
            p = p[None]
        return p if lattice is None else base + sign * p

    pos = where(t)
    tau = np.linalg.norm(pos - lis_pos[None], axis=-1) / SPEED_OF_SOUND
    if not source.moving:
        return tau, pos
    for _ in range(max_iter):
        pos = where(t[None, :] - tau)
        new = np.linalg.norm(pos - lis_pos[None], axis=-1) / SPEED_OF_SOUND
        done = np.max(np.abs(new - tau)) < tol
        tau = new
        if done:
            break
    return tau, pos


@dataclass
class MovingSource:
    """The plan of one moving source (see the module doc)."""

    input: int  # index of its PlannedInput (whose stage-1 filter is a silent placeholder)
    name: str
    trajectory: Trajectory
    doppler: bool
    start: float  # s: the source's start (when a frozen delay is taken)
    lattice: np.ndarray  # (N, 3) int image indices of the moving reflections (order 1..2)
    band_gains: np.ndarray  # (N, 7) their walls' amplitude products
    remainder: np.ndarray | None  # (C, L) static filter of the later images, or None
    frozen: np.ndarray | None = None  # (1 + N,) delays (s) at the start, doppler off
    max_delay_s: float = 0.0  # the longest delay any tap reads


@dataclass
class MotionPlan:
    """Everything the moving path needs at run time (spatial.motion_render)."""

    listener: Trajectory
    sources: list[MovingSource]
    direction_filters: list[np.ndarray]  # (C, L) per virtual direction (head-locked)
    pre_delay: int  # samples of fixed delay in those filters (taken off the taps)
    room: object
    spatialiser: object
    fs: int
    control_block: int = 512
    grid: int = GRID
    direct: bool = True  # False: the direct paths are not rendered (an ADM room bed)

    @property
    def control_rate_hz(self) -> float:
        return self.fs / self.control_block


def _lattice(room) -> tuple[np.ndarray, np.ndarray]:
    """Image indices of orders 1..MAX_DISCRETE_ORDER with nonzero gain, and their
    (N, 7) amplitude products sqrt(1 - alpha) over the faces each path hits."""
    from spatial.room.decay import room_absorption

    if room is None:
        return np.zeros((0, 3), np.int64), np.zeros((0, 7))
    alpha = room_absorption(room)
    refl = {f: np.sqrt(np.clip(1.0 - np.asarray(alpha[f], float), 0.0, 1.0)) for f in alpha}
    faces = (("west", "east"), ("south", "north"), ("floor", "ceiling"))
    r = MAX_DISCRETE_ORDER
    idx = [(x, y, z) for x in range(-r, r + 1) for y in range(-r, r + 1)
           for z in range(-r, r + 1) if 0 < abs(x) + abs(y) + abs(z) <= r]
    lattice, gains = [], []
    for n in idx:
        g = np.ones(7)
        for axis, k in enumerate(n):
            low, high = faces[axis]
            # k > 0: ceil(k/2) hits on the high face, floor(k/2) on the low; k < 0 mirrored
            hi_hits = (k + 1) // 2 if k > 0 else (-k) // 2
            lo_hits = k // 2 if k > 0 else (-k + 1) // 2
            g = g * refl[high] ** hi_hits * refl[low] ** lo_hits
        if np.any(g > 0):
            lattice.append(n)
            gains.append(g)
    return np.array(lattice, np.int64).reshape(-1, 3), np.array(gains).reshape(-1, 7)


# -- planning ------------------------------------------------------------------------

def _box_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance between a point of box(a) and a point of box(b) ((N, 3) points)."""
    lo_a, hi_a, lo_b, hi_b = a.min(0), a.max(0), b.min(0), b.max(0)
    return float(np.linalg.norm(np.maximum(np.abs(hi_a - lo_b), np.abs(hi_b - lo_a))))


def _remainder(scene, src_pos, lis_pos, yaw, spatialiser, fs, role) -> np.ndarray | None:
    """Static filter of the images of order > MAX_DISCRETE_ORDER before the crossover,
    delays relative to the direct path, at the given geometry (plus the LFE feed)."""
    from spatial.filters.lfe import lfe_feed
    from spatial.room.decay import air_absorption_coeffs
    from spatial.room.image_gains import image_gains
    from spatial.room.image_sources import Reflections, image_sources
    from spatial.room.rir import fade_length, render_reflections

    room = scene.room
    d0 = float(np.linalg.norm(np.subtract(src_pos, lis_pos)))
    filt = None
    if room is not None:
        refl = image_sources(room, src_pos, lis_pos, fs, max_delay_s=room.crossover)
        gains = image_gains(refl.band_gains, refl.distances_m, refl.delays_s,
                            air_absorption_coeffs() if room.air_absorption else None,
                            room.crossover, fade_length(room))
        keep = np.flatnonzero((refl.order > MAX_DISCRETE_ORDER) & np.any(gains > 0, axis=1))
        if keep.size:
            rel = refl.distances_m[keep] - d0  # > 0: every such image is behind the direct
            scale = np.maximum(rel, MIN_DISTANCE_M) / np.maximum(refl.distances_m[keep],
                                                                 MIN_DISTANCE_M)
            part = Reflections(refl.positions_m[keep], refl.band_gains[keep], refl.order[keep],
                               rel)
            filt = render_reflections(part, gains[keep] * scale[:, None], lis_pos, yaw,
                                      spatialiser, fs)
    names = [c.name for c in spatialiser.channels]
    if "LFE" in names and role in scene.output.lfe and scene.output.format != "adm":
        feed = lfe_feed(fs, 1.0 / max(d0, MIN_DISTANCE_M), 0.0)
        grown = np.zeros((len(names), max(feed.size, 0 if filt is None else filt.shape[1])))
        if filt is not None:
            grown[:, :filt.shape[1]] = filt
        grown[names.index("LFE"), :feed.size] += feed
        filt = grown
    return filt


def plan_motion(scene, spatialiser, moving: list) -> MotionPlan:
    """The MotionPlan of a scene; moving: (input index, Source) of each moving source."""
    from spatial.engine.kernels import scatter_images
    from spatial.engine.constants import FRACTIONAL_TAPS

    fs = scene.sample_rate
    room = scene.room
    listener = Trajectory.of(scene.listener)
    lattice, band_gains = _lattice(room)
    dims = np.asarray(room.dimensions, float) if room is not None else None
    lis_span = listener.span()
    out = []
    for index, src in moving:
        traj = Trajectory.of(src)
        t0 = np.array([max(float(src.start), 0.0)])
        lis0 = listener.position(t0)
        tau_d, pos_d = emission_delay(traj, t0, lis0)
        remainder = _remainder(scene, pos_d[0, 0], lis0[0], float(listener.yaw(t0)[0]),
                               spatialiser, fs, src.role)
        frozen = None
        if not src.doppler:
            tau_i = (emission_delay(traj, t0, lis0, lattice, dims)[0][:, 0] if lattice.size
                     else np.zeros(0))
            frozen = np.concatenate([tau_d[:, 0], tau_i])
        reach = _box_distance(traj.span(), lis_span) / SPEED_OF_SOUND
        if room is not None and lattice.size:
            reach = max(reach, room.crossover)
        out.append(MovingSource(index, src.name, traj, bool(src.doppler), float(src.start),
                                lattice, band_gains, remainder, frozen, reach + 0.01))
    # the head-locked virtual directions the reflections are panned to
    pre = FRACTIONAL_TAPS // 2
    irs, delays = spatialiser.responses(VIRTUAL_DIRECTIONS)
    irs = np.ascontiguousarray(irs, dtype=np.float64)
    filters = []
    for d in range(VIRTUAL_DIRECTIONS.shape[0]):
        length = pre + int(np.ceil(delays[d].max() * fs)) + irs.shape[2] + FRACTIONAL_TAPS
        f = np.zeros((irs.shape[1], length))
        scatter_images(f, irs[d:d + 1], np.ascontiguousarray(pre + delays[d:d + 1] * fs),
                       np.ones(1))
        filters.append(f)
    return MotionPlan(listener, out, filters if room is not None else [], pre, room,
                      spatialiser, fs, control_block(fs),
                      direct=scene.output.format != "adm")  # ADM: objects of their own


def control_block(fs: int) -> int:
    """Samples between the direct path's filter updates: the power of two nearest to
    CONTROL_S (10 ms), at least 2 x GRID."""
    return max(2 * GRID, 1 << int(round(np.log2(CONTROL_S * fs))))


def stats(p) -> dict:
    """moving_sources (how many sources took the moving path) and control_rate_hz
    (their filter updates per second; None without moving sources), for a RenderPlan."""
    mp = getattr(p, "motion", None)
    if mp is None:
        return {"moving_sources": 0, "control_rate_hz": None}
    return {"moving_sources": len(mp.sources), "control_rate_hz": mp.control_rate_hz}
