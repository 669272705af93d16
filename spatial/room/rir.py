"""Filter planning of the hybrid room model: image sources early, a shared tail late.

The response of a source to the listener is split at ``room.crossover``
(seconds after emission):

- :func:`early_filter`, per source, (C, L): the direct path and every image
  source arriving before the crossover, each spatialised from its own direction
  in the listener frame (``spatialiser.responses``), delayed by distance / c
  (plus the spatialiser's own delays), with amplitude 1 / r (unity at 1 m; r is
  clamped at :data:`spatial.geometry.MIN_DISTANCE_M`), the walls' band gains and, when
  ``room.air_absorption``, air attenuation exp(-m_b r / 2) per band
  (pyroomacoustics' coefficients m_b, energy per metre). Equal band gains (a
  uniform rt60 room without air absorption) are accumulated broadband; otherwise
  each band is accumulated separately and recombined with
  :func:`spatial.bands.combine` (the (N, 7) gain matrix is split into its few
  significant rank-one components first, so only those are scattered: 3
  instead of 7 for walls x air absorption, exact to -120 dB). Images arriving in the fade window
  [crossover - fade_s, crossover] are weighted by cos(pi/2 u), the
  complement of the tail's sin(pi/2 u) fade-in, so the summed energy is
  continuous: no gap and no double counting.

  The direct path is never faded or dropped. A source so far away that its
  direct sound arrives after the crossover (only possible when the room's
  diagonal exceeds c * crossover, i.e. the open-air presets) keeps its
  direct path at full level and has no reflections of its own; its late
  energy is the shared tail, which (time-locked to emission) then starts
  before the direct sound arrives. In such rooms the tail is weak, and the
  presets choose crossovers that keep the main reflections as images.

- :func:`tail_filter`, shared by all sources, (C, L): the format's diffuse
  rendering of calibrated decaying noises (:mod:`spatial.room.late`), with the
  per-band decay of :func:`spatial.room.decay.band_rt60`. Its time 0 is the
  emission time of every source: the diffuse field's level is independent of
  source position (statistical room acoustics), so every source sends to it
  with ``send_gain = 1`` and ``send_delay_s = 0``. The fields are kept so that
  later work can weight sources by coupling.

The renderer convolves each source with its early filter and the sum of the
sends with the tail, so the full response is early.filt + tail
(:func:`impulse_response`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spatial.bands import N_BANDS, combine_lowrank
from spatial.geometry import MIN_DISTANCE_M, SPEED_OF_SOUND, world_to_listener
from spatial.room.decay import air_absorption_coeffs, band_rt60
from spatial.room.image_sources import Reflections, image_sources
from spatial.room.image_gains import image_gains
from spatial.room.late import decay, tail_length

from spatial.engine.kernels import scatter_images, scatter_images_many
from spatial.engine.constants import FRACTIONAL_TAPS

FADE_S = 0.01  # crossover fade length (capped at half the crossover time)
SVD_TOLERANCE = 1e-6  # band-gain components below this (relative, -120 dB) are dropped


@dataclass(frozen=True)
class EarlyFilter:
    """The early filter of one source.

    filt: (C, L) float64, time 0 = emission; direct path + early images.
    send_gain: gain of this source into the shared tail (1 here).
    send_delay_s: delay of that send, seconds (0 here: the tail's time 0 is emission).
    n_images: number of image sources in filt (direct path included).
    """

    filt: np.ndarray
    send_gain: float = 1.0
    send_delay_s: float = 0.0
    n_images: int = 1


def fade_length(room) -> float:
    """The crossover fade (s) of a room: FADE_S, at most half the crossover."""
    return float(min(FADE_S, 0.5 * room.crossover))


def _direct_only(source_pos, listener_pos) -> Reflections:
    src = np.asarray(source_pos, float)[None, :]
    dist = np.linalg.norm(src - np.asarray(listener_pos, float), axis=1)
    return Reflections(positions_m=src, band_gains=np.ones((1, N_BANDS)),
                       order=np.zeros(1, np.int64), distances_m=dist)


def _directions(positions_m, listener_pos, yaw) -> np.ndarray:
    """(N, 3) unit vectors in the listener frame (front for a point at the listener)."""
    v = world_to_listener(positions_m, listener_pos, yaw)
    norm = np.linalg.norm(v, axis=1)
    safe = norm > 1e-9
    out = np.tile([1.0, 0.0, 0.0], (v.shape[0], 1))
    out[safe] = v[safe] / norm[safe, None]
    return out


def render_reflections(refl: Reflections, band_gains: np.ndarray, listener_pos, yaw: float,
                       spatialiser, fs: int) -> np.ndarray:
    """Scatter image sources into a (C, L) filter.

    band_gains: (N, 7) amplitude per image and band, everything but 1/r included.
    """
    dirs = _directions(refl.positions_m, listener_pos, yaw)
    irs, delays_s = spatialiser.responses(dirs)
    irs = np.ascontiguousarray(irs, dtype=np.float64)
    r = np.maximum(refl.distances_m, MIN_DISTANCE_M)
    delays = np.ascontiguousarray((refl.distances_m / SPEED_OF_SOUND)[:, None] + delays_s) * fs
    n_ch, lh = irs.shape[1], irs.shape[2]
    length = int(np.ceil(delays.max())) + lh + FRACTIONAL_TAPS + 1
    amp = band_gains / r[:, None]
    if np.all(amp == amp[:, :1]):
        out = np.zeros((n_ch, length))
        scatter_images(out, irs, delays, np.ascontiguousarray(amp[:, 0]))
        return out
    # amp (N, 7) is numerically low-rank (walls x air absorption: rank 3 at 1e-6):
    # scatter rank-one components amp ~ sum_k u_k v_k^T, then mix them per band
    u, sv, vt = np.linalg.svd(amp, full_matrices=False)
    rank = max(1, int(np.sum(sv > SVD_TOLERANCE * sv[0])))
    comps = np.zeros((rank, n_ch, length))  # each image delayed once for every component
    scatter_images_many(comps, irs, delays, np.ascontiguousarray(u[:, :rank] * sv[:rank]))
    return combine_lowrank(comps, vt[:rank], fs)


def early_filter(room, source_pos, listener_pos, listener_yaw_deg: float, spatialiser,
                 fs: int, direct: bool = True) -> EarlyFilter:
    """Direct path + image sources before the crossover, spatialised. See the module doc.

    room: Room or None (free field: the direct path only, no air absorption).
    direct: False leaves the direct path out (the room's part alone, for an ADM
    master's room bed: spatial.adm; the images keep their delays re emission).
    source_pos, listener_pos: world coordinates (m); listener_yaw_deg: degrees.
    Returns :class:`EarlyFilter` with filt (C, L) float64, time 0 = emission.
    """
    if room is None:
        refl = _direct_only(source_pos, listener_pos)
        gains = refl.band_gains
        return EarlyFilter(render_reflections(refl, gains, listener_pos, listener_yaw_deg,
                                              spatialiser, fs), 0.0, 0.0, 1)
    refl = image_sources(room, source_pos, listener_pos, fs, max_delay_s=room.crossover)
    # air absorption, and the power-complementary crossover: images fade out as the
    # tail fades in (a faded-out image has zero gains); the direct path is never faded
    gains = image_gains(refl.band_gains, refl.distances_m, refl.delays_s,
                        air_absorption_coeffs() if room.air_absorption else None,
                        room.crossover, fade_length(room), direct_first=True)
    live = np.flatnonzero(np.any(gains > 0, axis=1))
    live = live if live.size and live[0] == 0 else np.concatenate([[0], live])
    refl = Reflections(refl.positions_m[live], refl.band_gains[live], refl.order[live],
                       refl.distances_m[live])
    if not direct:
        gains = gains.copy()
        gains[live[0]] = 0.0  # live[0] is the direct path (index 0)
    filt = render_reflections(refl, gains[live], listener_pos, listener_yaw_deg, spatialiser, fs)
    return EarlyFilter(filt, 1.0, 0.0, len(refl))


def direct_filter(source_pos, listener_pos, listener_yaw_deg: float, spatialiser,
                  fs: int) -> np.ndarray:
    """Free-field direct path, (C, L): early_filter(None, ...).filt."""
    return early_filter(None, source_pos, listener_pos, listener_yaw_deg, spatialiser, fs).filt


def tail_filter(room, spatialiser, fs: int, rng: np.random.Generator,
                positions=None, tracer_seed: int | None = None) -> np.ndarray:
    """The shared late tail in the output format, (C, L) float64, time 0 = emission.

    rng: numpy Generator (seed it from the scene seed). positions: optional
    (source_m, listener_m) for the ray-traced decay (room.model "ray-tracing"), and
    tracer_seed its tracer's seed (spatial.plan.tracer_seed; None: a fixed one).
    """
    rt60 = band_rt60(room, fs, positions, tracer_seed)
    # stationary noise through the format's diffuse shaping, then the decay per channel
    length = tail_length(rt60, fs, room.crossover)
    shaped = spatialiser.diffuse(rng.standard_normal((spatialiser.n_diffuse, length)))
    return decay(np.asarray(shaped, dtype=np.float64), rt60, room.volume_m3, fs,
                 room.crossover, fade_length(room), gain_db=room.tail_gain_db)


def impulse_response(room, source_pos, listener_pos, listener_yaw_deg: float, spatialiser,
                     fs: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """The full response source -> listener, (C, L) float64: early filter + send x tail.

    room None: the free-field direct path. rng defaults to default_rng(0).
    """
    early = early_filter(room, source_pos, listener_pos, listener_yaw_deg, spatialiser, fs)
    if room is None:
        return early.filt
    rng = np.random.default_rng(0) if rng is None else rng
    tail = tail_filter(room, spatialiser, fs, rng, positions=(source_pos, listener_pos))
    return with_tail(early.filt, early.send_gain, int(round(early.send_delay_s * fs)), tail)


def with_tail(early: np.ndarray, send_gain: float, send_delay: int,
              tail: np.ndarray) -> np.ndarray:
    """early (C, L1) plus send_gain x tail (C, L2) delayed by send_delay samples: (C, L)."""
    n = max(early.shape[1], send_delay + tail.shape[1])
    out = np.zeros((early.shape[0], n))
    out[:, :early.shape[1]] += early
    out[:, send_delay:send_delay + tail.shape[1]] += send_gain * tail
    return out
