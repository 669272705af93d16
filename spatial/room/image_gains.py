"""The gains of image sources, one formula for every path that renders them: the
static early filter (:mod:`spatial.room.rir`), the moving sources' static
remainder (:mod:`spatial.motion`) and their moving images (the numba kernel
:func:`spatial.engine.emission.image_weights` inlines the same arithmetic and is
tested against this function, through the tests' numpy twin in ``tests/naive.py``).
"""
from __future__ import annotations

import numpy as np

from spatial.room.late import crossover_fade


def image_gains(band_gains: np.ndarray, distances_m, delays_s, air, crossover_s: float,
                fade_s: float, direct_first: bool = False) -> np.ndarray:
    """Amplitude per band of image sources, everything but 1/r: the walls' band gains,
    times air absorption exp(-air d / 2), times the early part's crossover complement
    sqrt(1 - tail_in^2) (the cosine of the tail's fade-in, so the images fade out as
    the tail fades in).

    band_gains: (..., B); distances_m (m) and delays_s (s, after emission): (...),
    broadcast against band_gains[..., 0]; air: (B,) energy absorption per metre
    (:func:`spatial.room.decay.air_absorption_coeffs`) or None for none;
    direct_first: row 0 is the direct path, never faded. Returns (..., B) float64.
    """
    gains = np.array(band_gains, dtype=float)
    if air is not None:
        gains = gains * np.exp(-0.5 * air * np.asarray(distances_m, float)[..., None])
    tail_in = crossover_fade(delays_s, crossover_s, fade_s)
    fade = np.sqrt(np.clip(1.0 - tail_in ** 2, 0.0, 1.0))
    if direct_first:
        fade[0] = 1.0
    return gains * fade[..., None]
