"""Plain numpy twins of the numba kernels in :mod:`spatial.engine.kernels`.

Slow and obvious on purpose: the tests compare every kernel against these.
"""
from __future__ import annotations

import numpy as np

FRACTIONAL_TAPS = 32  # windowed-sinc length of the fractional delay
KAISER_BETA = 8.0


def fractional_delay_taps(frac: float) -> np.ndarray:
    """Windowed-sinc taps that delay by (FRACTIONAL_TAPS//2 - 1 + frac) samples, 0 <= frac < 1.

    Tap k sits at offset k - (FRACTIONAL_TAPS//2 - 1) from the integer delay;
    for frac == 0 this is an exact unit impulse at offset 0.
    """
    half = FRACTIONAL_TAPS // 2
    k = np.arange(FRACTIONAL_TAPS) - (half - 1)  # offsets -(half-1) .. half
    t = k - frac
    # window evaluated at the continuous position t (centre at 0, half-width `half`)
    w = np.i0(KAISER_BETA * np.sqrt(np.clip(1.0 - (t / half) ** 2, 0.0, 1.0))) / np.i0(KAISER_BETA)
    return np.sinc(t) * w


def scatter_images(out: np.ndarray, irs: np.ndarray, delays: np.ndarray, gains: np.ndarray) -> None:
    """Add every image's response into `out`, fractionally delayed. In place.

    out: (C, L) float64; irs: (N, C, Lh); delays: (N, C) in samples (float, >= 0);
    gains: (N,). For each n, c: out[c] += gains[n] * (irs[n, c] delayed by delays[n, c]).
    Samples that would land outside [0, L) are dropped.
    """
    n_img, n_ch, lh = irs.shape
    length = out.shape[1]
    half = FRACTIONAL_TAPS // 2
    for n in range(n_img):
        for c in range(n_ch):
            d = delays[n, c]
            di = int(np.floor(d))
            frac = d - di
            if frac == 0.0:
                taps, first = np.ones(1), di
            else:
                taps, first = fractional_delay_taps(frac), di - (half - 1)
            y = gains[n] * np.convolve(irs[n, c], taps)
            lo, hi = first, first + y.size
            a, b = max(lo, 0), min(hi, length)
            if a < b:
                out[c, a:b] += y[a - lo:b - lo]
