"""Equalisation of an HRTF set, computed from the set itself.

All of it works on log magnitudes (dB) on a fine frequency grid at the set's
measured sample rate, so the result does not depend on the render rate.

``diffuse-field`` (the default, :func:`diffuse_field_eq`):

1. the diffuse-field power response P(f) = sum_m w_m (|H_mL|^2 + |H_mR|^2) / 2,
   with the solid-angle weights w_m of the grid (bottom cap included);
2. smoothed in 1/3 octave (:func:`third_octave_smooth`), so the equaliser
   follows the timbre, not the notches of single directions;
3. inverted with Tikhonov regularisation, G = sqrt(P) / (P + beta), beta
   REGULARISATION_DB below the peak of P: full inversion wherever the set has
   signal, bounded gain where it has none; then once more on what is left in
   the measured band (the smoothing of a steep slope biases the first pass);
4. low end extended: below CROSSOVER_HZ[0] every HRTF is flat (0 dB, what an
   omnidirectional receiver at the head's centre gets: the head is
   acoustically small there), blended in log magnitude to the equalised
   response by CROSSOVER_HZ[1]. Only magnitudes change: each direction keeps
   its interaural delay (see :mod:`spatial.filters.hrtf_phase`).

After it a diffuse field gives each ear the power spectrum of an
omnidirectional receiver, 0 dB in every band of the measured bandwidth.

``none``: the raw set, scaled once so that the solid-angle-weighted mean
energy over directions and ears, within the measured bandwidth, is 1.

Both modes end with :func:`band_limit`: above the measured bandwidth
(0.9 x the set's Nyquist frequency, 20 kHz at most) responses fall smoothly to
-60 dB, so a higher render rate adds nothing there.
"""
from __future__ import annotations

import numpy as np

EQ_MODES = ("diffuse-field", "none")
SMOOTHING_OCTAVES = 1.0 / 3.0
REGULARISATION_DB = 40.0  # beta below the peak of the smoothed diffuse-field power
CROSSOVER_HZ = (150.0, 250.0)  # flat below the first, equalised above the second
BANDWIDTH_FRACTION = 0.9  # of the measured Nyquist frequency ...
MAX_BANDWIDTH_HZ = 20000.0  # ... and never above the audible range
TAPER_FRACTION = 0.9  # the band-limit taper starts at this fraction of the bandwidth
FLOOR_DB = -60.0  # level above the measured bandwidth
MAX_REFINEMENT_DB = 6.0  # bound of the second pass of the inversion


def third_octave_smooth(power: np.ndarray, freqs: np.ndarray,
                        width_octaves: float = SMOOTHING_OCTAVES) -> np.ndarray:
    """(..., K) power spectrum on the linear grid `freqs` (K,) -> smoothed (..., K).

    Each bin becomes the mean power over bins within +-width/2 octaves of it
    (at least the bin itself; DC is kept). Each row is then rescaled to keep
    its mean power, so smoothing moves no energy in or out.
    """
    power = np.asarray(power, float)
    k = freqs.size
    csum = np.concatenate([np.zeros(power.shape[:-1] + (1,)), np.cumsum(power, axis=-1)], axis=-1)
    half = 2.0 ** (width_octaves / 2)
    lo = np.searchsorted(freqs, freqs / half, side="left")
    hi = np.searchsorted(freqs, freqs * half, side="right")
    idx = np.arange(k)
    lo = np.minimum(lo, idx)
    hi = np.maximum(hi, idx + 1)
    lo[0], hi[0] = 0, 1
    out = (csum[..., hi] - csum[..., lo]) / (hi - lo)
    before, after = power.mean(axis=-1, keepdims=True), out.mean(axis=-1, keepdims=True)
    return out * np.divide(before, after, out=np.ones_like(before), where=after > 0)


def bandwidth(fs_measured: float) -> float:
    """The measured bandwidth (Hz) of a set sampled at fs_measured."""
    return min(BANDWIDTH_FRACTION * fs_measured / 2, MAX_BANDWIDTH_HZ)


def _cosine_step(x: np.ndarray) -> np.ndarray:
    """0 for x <= 0, 1 for x >= 1, raised cosine between."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def band_limit_db(freqs: np.ndarray, fs_measured: float) -> np.ndarray:
    """(K,) gain (dB): 0 up to TAPER_FRACTION x bandwidth, falling to FLOOR_DB at it."""
    top = bandwidth(fs_measured)
    start = TAPER_FRACTION * top
    return FLOOR_DB * _cosine_step((np.asarray(freqs, float) - start) / (top - start))


def diffuse_power(mag_db: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(M, 2, K) magnitudes (dB), (M,) weights -> (K,) diffuse-field power, ears averaged."""
    p = np.zeros(mag_db.shape[-1])
    for lo in range(0, len(weights), 256):
        p += np.einsum("m,mek->k", weights[lo:lo + 256], 10 ** (mag_db[lo:lo + 256] / 10)) / 2
    return p


def diffuse_field_eq(mag_db: np.ndarray, weights: np.ndarray, freqs: np.ndarray,
                     fs_measured: float) -> np.ndarray:
    """(K,) equaliser gain (dB) of steps 1-3 for magnitudes (M, 2, K) on `freqs`."""
    inband = freqs <= bandwidth(fs_measured)
    p = third_octave_smooth(diffuse_power(mag_db, weights), freqs)
    beta = 10 ** (-REGULARISATION_DB / 10) * p[inband].max()
    gain = 20 * np.log10(np.sqrt(p) / (p + beta))
    # one refinement: smoothing a steep response (the top octave) biases the first
    # inverse; measure what is left in band and take it out too (bounded)
    rest = 10 * np.log10(third_octave_smooth(diffuse_power(mag_db + gain, weights), freqs))
    return gain - np.where(inband, np.clip(rest, -MAX_REFINEMENT_DB, MAX_REFINEMENT_DB), 0.0)


def low_end_blend(freqs: np.ndarray) -> np.ndarray:
    """(K,) weight of the flat 0 dB response: 1 below CROSSOVER_HZ[0], 0 above [1],
    a raised cosine in log frequency between."""
    lo, hi = CROSSOVER_HZ
    f = np.maximum(np.asarray(freqs, float), 1e-9)
    return 1.0 - _cosine_step(np.log(f / lo) / np.log(hi / lo))


def energy(mag_db: np.ndarray, weights: np.ndarray, n: int) -> float:
    """Weighted mean over directions and ears of the energy (Parseval on an rfft grid of n)."""
    c = np.full(mag_db.shape[-1], 2.0)
    c[0] = 1.0
    if n % 2 == 0:
        c[-1] = 1.0
    return float(diffuse_power(mag_db, weights) @ c / n)


def equalise(mag_db: np.ndarray, weights: np.ndarray, freqs: np.ndarray, fs_measured: float,
             n: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes (M, 2, K) in dB on the rfft grid `freqs` of n points at fs_measured ->
    (equalised magnitudes (M, 2, K) dB, the gain (K,) dB applied to all of them
    before the low-end extension)."""
    limit = band_limit_db(freqs, fs_measured)
    if mode == "none":
        gain = np.full(freqs.shape, -10 * np.log10(energy(mag_db + limit, weights, n)))
        return mag_db + gain + limit, gain
    if mode != "diffuse-field":
        raise ValueError(f"unknown HRTF equalisation {mode!r}; known: {', '.join(EQ_MODES)}")
    gain = diffuse_field_eq(mag_db, weights, freqs, fs_measured)
    flat = low_end_blend(freqs)
    return (1.0 - flat) * (mag_db + gain) + limit, gain
