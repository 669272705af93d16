"""Absorption of the faces and reverberation time of the late tail, per octave band.

Two questions, both answered per band over :data:`spatial.bands.BANDS_HZ`:

- :func:`room_absorption`: the energy absorption coefficient of every face.
  Given materials (``room.materials``) are used as they are. Given only a target
  ``room.rt60``, every face gets the same frequency-independent absorption
  from Sabine's inverse formula (what ``pra.inverse_sabine`` computes)::

      alpha = 24 ln(10) V / (c S T60)

  In a room too small (or too dead a target) for that, alpha > 1 is impossible:
  it is capped at 1 (anechoic faces), so the image sources are then only the
  direct path, while the tail still follows the target (see below).

- :func:`band_rt60`: the T60 (seconds) of the statistical late tail, (7,).

  * ``rt60`` given: the target in every band (even when materials are given
    too: they then only colour the image sources). The tail is *set* from the
    target, not inherited from the image sources: a shoebox's image-source
    decay with Sabine-inverse absorption is longer than the target (measured
    T30 of pra's ISM: 1.07-1.09 s for a 0.8 s target in 10 x 7 x 3.5 m, 1.56-1.93 s
    for 1.5 s in 20 x 14 x 8 m), because a shoebox's sound field is not diffuse.
  * materials, ``model == "image-source"``: Eyring (default) or Sabine from the
    surface-weighted mean absorption a_b = sum_f S_f a_fb / S::

        T_b = 24 ln(10) V / (c (-S ln(1 - a_b) + 4 m_b V))     Eyring
        T_b = 24 ln(10) V / (c (S a_b + 4 m_b V))              Sabine

    with m_b pyroomacoustics' air attenuation (energy, 1/m, 20 C, 30-50 %
    relative humidity) when ``room.air_absorption``, else 0. Both assume a
    diffuse field; Eyring is the better of the two for absorptive rooms.
  * materials, ``model == "ray-tracing"``: pyroomacoustics' stochastic ray
    tracer (specular + scattered energy, ``room.scattering``) is run once for
    a source and receiver (the scene's, via ``positions``, else fixed points
    inside the room), and the decay of each band is fitted to the Schroeder
    backward integral of its energy histogram (T30 from -5..-35 dB, T20 if the
    histogram does not reach -35 dB). Air absorption is added analytically
    (1/T = 1/T_rt + m c / (60 dB in nepers)). The tracer is seeded from the scene's
    seed (a fixed seed when none is given) under a lock, and its result cached, so a
    render is deterministic, also beside others in one process.

  Decays are clipped to [0.05, 30] s.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

from spatial.bands import BANDS_HZ, N_BANDS
from spatial.geometry import SPEED_OF_SOUND
from spatial.scene.parts import FACES

MIN_RT60_S = 0.05
MAX_RT60_S = 30.0
LN_1E6 = 6.0 * np.log(10.0)  # 60 dB of energy decay in nepers (13.8155...)
RAY_TRACING_SEED = 0x5EA7
RAY_TRACING_RAYS = 5000


def face_areas(dimensions) -> dict[str, float]:
    """Area (m^2) of each shoebox face, by pyroomacoustics' face name."""
    x, y, z = (float(v) for v in dimensions)
    return {"west": y * z, "east": y * z, "south": x * z, "north": x * z,
            "floor": x * y, "ceiling": x * y}


def rt60_absorption(rt60: float, dimensions) -> tuple[float, float]:
    """(the uniform absorption Sabine's formula needs for `rt60`, uncapped; the rt60 that
    absorption 1 gives, the shortest the room can have)."""
    x, y, z = (float(v) for v in dimensions)
    volume, surface = x * y * z, 2.0 * (x * y + x * z + y * z)
    shortest = 4.0 * LN_1E6 * volume / (SPEED_OF_SOUND * surface)
    return shortest / float(rt60), shortest


def sabine_absorption(rt60: float, dimensions) -> float:
    """Uniform energy absorption giving `rt60` by Sabine's formula, capped at 1."""
    x, y, z = (float(v) for v in dimensions)
    volume = x * y * z
    surface = 2.0 * (x * y + x * z + y * z)
    alpha = 4.0 * LN_1E6 * volume / (SPEED_OF_SOUND * surface * float(rt60))
    return float(min(alpha, 1.0))


def room_absorption(room) -> dict[str, np.ndarray]:
    """Energy absorption of every face: dict face -> (7,) float64 in [0, 1].

    room.materials when given (faces missing from it: the mean of the given
    ones), else the uniform Sabine-inverse absorption of room.rt60.
    """
    if room.materials:
        given = {f: np.clip(np.asarray(v, float).reshape(N_BANDS), 0.0, 1.0)
                 for f, v in room.materials.items()}
        mean = np.mean(list(given.values()), axis=0)
        return {f: given.get(f, mean) for f in FACES}
    if room.rt60 is None:
        raise ValueError("a room needs rt60 or absorption")
    alpha = sabine_absorption(room.rt60, room.dimensions)
    return {f: np.full(N_BANDS, alpha) for f in FACES}


def air_absorption_coeffs() -> np.ndarray:
    """pyroomacoustics' air attenuation per band, (7,), energy, 1/m (20 C, 30-50 % RH)."""
    from spatial.room.pra_data import AIR_ABSORPTION as table  # pra's, without importing it

    return np.interp(np.log2(BANDS_HZ), np.log2(table["center_freqs"]), table["coeffs"])


def mean_absorption(room) -> np.ndarray:
    """Surface-weighted mean absorption sum_f S_f a_f / S, (7,)."""
    areas = face_areas(room.dimensions)
    absorption = room_absorption(room)
    total = sum(areas.values())
    return sum(areas[f] * absorption[f] for f in FACES) / total


def statistical_rt60(room, formula: str | None = None) -> np.ndarray:
    """Eyring or Sabine T60 per band (seconds, (7,), unclipped, may be inf)."""
    formula = formula or room.decay
    x, y, z = (float(v) for v in room.dimensions)
    volume = x * y * z
    surface = 2.0 * (x * y + x * z + y * z)
    a = mean_absorption(room)
    if formula == "eyring":
        area = -surface * np.log1p(-np.minimum(a, 1.0 - 1e-12))
    elif formula == "sabine":
        area = surface * a
    else:
        raise ValueError(f"unknown decay formula {formula!r}; use 'eyring' or 'sabine'")
    if room.air_absorption:
        area = area + 4.0 * air_absorption_coeffs() * volume
    with np.errstate(divide="ignore"):
        return 4.0 * LN_1E6 * volume / (SPEED_OF_SOUND * area)


def default_positions(dimensions) -> tuple[np.ndarray, np.ndarray]:
    """A (source, receiver) pair well inside the room, for the ray tracer."""
    dims = np.asarray(dimensions, float)
    return dims * np.array([0.68, 0.62, 0.45]), dims * np.array([0.35, 0.4, 0.5])


def schroeder_decay(energy: np.ndarray, dt: float) -> float:
    """T60 (s) from an energy envelope (n,) sampled every dt seconds.

    Linear fit of the Schroeder backward integral in dB over -5..-35 dB (T30),
    or -5..-25 dB (T20) when the integral does not reach -35 dB. inf if flat.
    """
    energy = np.asarray(energy, float)
    edc = np.cumsum(energy[::-1])[::-1]
    if edc[0] <= 0:
        return 0.0
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-30))
    t = np.arange(energy.size) * dt
    lo = -35.0 if edc_db.min() <= -35.0 else -25.0
    sel = (edc_db <= -5.0) & (edc_db >= lo)
    if sel.sum() < 3:
        return 0.0
    slope = np.polyfit(t[sel], edc_db[sel], 1)[0]
    return float(-60.0 / slope) if slope < 0 else np.inf


# pyroomacoustics' tracer draws from one process-wide C++ generator (libroom): seeding
# it and tracing are one step under this lock, so renders side by side (spatial.batch)
# each trace from their own seed
_TRACER_LOCK = threading.Lock()


@lru_cache(maxsize=32)
def _ray_traced_rt60(dims: tuple, absorption: tuple, scattering: float,
                     source: tuple, receiver: tuple, seed: int = RAY_TRACING_SEED) -> tuple:
    import pyroomacoustics as pra

    materials = {f: pra.Material({"coeffs": list(a), "center_freqs": list(BANDS_HZ)},
                                 float(scattering))
                 for f, a in zip(FACES, absorption)}
    room = pra.ShoeBox(list(dims), fs=16000, max_order=-1, materials=materials,
                       air_absorption=False, ray_tracing=True)
    volume = float(np.prod(dims))
    # long enough for a 60 dB decay of the Eyring estimate of the slowest band
    surface = 2.0 * (dims[0] * dims[1] + dims[0] * dims[2] + dims[1] * dims[2])
    a_min = max(min(min(a) for a in absorption), 1e-3)
    t_guess = 4.0 * LN_1E6 * volume / (SPEED_OF_SOUND * surface * a_min)
    room.set_ray_tracing(n_rays=RAY_TRACING_RAYS, receiver_radius=0.5,
                         energy_thres=1e-9, time_thres=float(min(1.5 * t_guess, 20.0)) + 0.1)
    room.add_source(list(source))
    room.add_microphone(list(receiver))
    with _TRACER_LOCK:
        if hasattr(pra.libroom, "set_rng_seed"):  # pra >= 0.8: a reproducible tracer
            pra.libroom.set_rng_seed(int(seed))
        room.ray_tracing()
    hist = np.asarray(room.rt_histograms[0][0][0], float)  # (bands, bins)
    dt = room.rt_args["hist_bin_size"]
    out = [schroeder_decay(hist[min(b, hist.shape[0] - 1)], dt) for b in range(N_BANDS)]
    return tuple(out)


def ray_traced_rt60(room, positions=None, seed: int | None = None) -> np.ndarray:
    """T60 per band (s, (7,), unclipped) fitted to pra's ray-tracer histograms.

    positions: (source_m, receiver_m) or None for :func:`default_positions`; seed: the
    tracer's (None: RAY_TRACING_SEED).
    """
    src, rcv = default_positions(room.dimensions) if positions is None else positions
    absorption = room_absorption(room)
    t = np.array(_ray_traced_rt60(
        tuple(float(v) for v in room.dimensions),
        tuple(tuple(float(v) for v in absorption[f]) for f in FACES),
        float(room.scattering),
        tuple(float(v) for v in src), tuple(float(v) for v in rcv),
        RAY_TRACING_SEED if seed is None else int(seed)))
    if room.air_absorption:
        rate = np.where(t > 0, LN_1E6 / np.where(t > 0, t, 1.0), np.inf)
        t = LN_1E6 / (rate + air_absorption_coeffs() * SPEED_OF_SOUND)
    return t


def band_rt60(room, fs: int | None = None, positions=None,
              seed: int | None = None) -> np.ndarray:
    """T60 of the late tail per band, seconds, (7,), clipped to [0.05, 30] s.

    fs is accepted for symmetry with the other planners (unused). positions:
    (source_m, listener_m) for the ray tracer (model "ray-tracing" only), seed its seed.
    """
    if room.rt60 is not None:  # the target wins, even over given materials
        t = np.full(N_BANDS, float(room.rt60))
    elif room.model == "ray-tracing":
        t = ray_traced_rt60(room, positions, seed)
    else:
        t = statistical_rt60(room)
    return np.clip(np.nan_to_num(t, nan=MIN_RT60_S, posinf=MAX_RT60_S), MIN_RT60_S, MAX_RT60_S)
