"""Phase of HRTFs: minimum-phase responses and the delays that go with them.

Every estimate here works on spectra on a fine frequency grid at the set's own
(measured) sample rate or at the render rate, and resolves lags to a fraction
of a microsecond, so the delays do not depend on the render rate.

- :func:`minimum_phase` / :func:`minimum_phase_spectrum`: real-cepstrum
  (homomorphic) minimum phase with the FULL magnitude.
- :func:`lf_lag`: the low-frequency interaural delay of a pair, the lag of the
  peak of its phase-transform cross-correlation below 1.5 kHz
  (:data:`LF_BAND`). The renderer's interaural delay is chosen with it so that
  the rendered pair's low-frequency cross-correlation peaks where the measured
  pair's does (see :mod:`spatial.filters.hrtf`).
- :func:`excess_delay`: each ear's broadband delay, the lag at which the
  measured response best matches its own minimum-phase version.
"""
from __future__ import annotations

import numpy as np

LF_BAND = (40.0, 80.0, 1400.0, 1600.0)  # Hz: weight rises 40-80, flat to 1400, falls to 1600
LAG_STEP_S = 2e-6  # grid of the lag search before parabolic refinement
MAX_ITD_S = 1.2e-3  # interaural lags searched: a head's worth plus margin
LOG_FLOOR = 1e-6  # -120 dB relative to each response's peak: keeps log|H| finite


def lf_weight(freqs: np.ndarray) -> np.ndarray:
    """Weight (K,) of each frequency in :func:`lf_lag`: raised-cosine band edges."""
    a, b, c, d = LF_BAND
    f = np.asarray(freqs, float)
    w = np.zeros_like(f)
    w[(f >= b) & (f <= c)] = 1.0
    rise = (f > a) & (f < b)
    w[rise] = np.sin(0.5 * np.pi * (f[rise] - a) / (b - a)) ** 2
    fall = (f > c) & (f < d)
    w[fall] = np.cos(0.5 * np.pi * (f[fall] - c) / (d - c)) ** 2
    return w


def minimum_phase_spectrum(mag: np.ndarray, n: int) -> np.ndarray:
    """(..., n//2+1) magnitudes on an rfft grid of n points -> complex min-phase spectrum."""
    from scipy import fft

    mag = np.asarray(mag, float)
    floor = LOG_FLOOR * mag.max(axis=-1, keepdims=True)
    floor[floor == 0] = 1e-300
    cep = fft.irfft(np.log(np.maximum(mag, floor)), n, axis=-1)
    cep[..., 1:n // 2] *= 2.0  # fold: keep c[0] and c[n/2], double 1..n/2-1, zero the rest
    cep[..., n // 2 + 1:] = 0.0
    return np.exp(fft.rfft(cep, n, axis=-1))


def minimum_phase(ir: np.ndarray, n_fft: int | None = None) -> np.ndarray:
    """(..., N) responses -> (..., n_fft) minimum-phase responses with the same magnitude.

    Real-cepstrum (homomorphic) method: fold the cepstrum of log|H| onto positive
    quefrencies. Unlike scipy.signal.minimum_phase this keeps the full magnitude
    (scipy's homomorphic result has the square root of it). n_fft defaults to
    8x the next power of two of N, which makes cepstral aliasing negligible.
    """
    from scipy import fft

    ir = np.asarray(ir, float)
    n = int(n_fft or 8 * 2 ** int(np.ceil(np.log2(ir.shape[-1]))))
    return fft.irfft(minimum_phase_spectrum(np.abs(fft.rfft(ir, n, axis=-1)), n), n, axis=-1)


def _refine(xc: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Parabolic interpolation of the peaks at integer positions k of rows of xc."""
    rows = np.arange(xc.shape[0])
    k = np.clip(k, 1, xc.shape[1] - 2)
    a, b, c = xc[rows, k - 1], xc[rows, k], xc[rows, k + 1]
    den = a - 2 * b + c
    shift = np.divide(0.5 * (a - c), den, out=np.zeros_like(den), where=den < 0)
    return k + np.clip(shift, -1.0, 1.0)


def lf_lag(cross: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Cross-spectra (..., K) of pairs (R conj(L)) on `freqs` (K,) -> (...) lags (s).

    The lag of the peak of the phase-transform cross-correlation weighted by
    :func:`lf_weight` (below 1.5 kHz), searched within +-MAX_ITD_S: > 0 when
    the right signal lags, i.e. the left ear leads.
    """
    cross = np.asarray(cross)
    w = lf_weight(freqs)
    sel = w > 0
    x = cross[..., sel].reshape(-1, int(sel.sum()))
    mag = np.abs(x)
    x = np.divide(x, mag, out=np.zeros_like(x), where=mag > 0) * w[sel]
    taus = np.arange(-MAX_ITD_S, MAX_ITD_S + LAG_STEP_S / 2, LAG_STEP_S)
    arg = 2 * np.pi * np.outer(freqs[sel], taus)
    xc = x.real @ np.cos(arg) - x.imag @ np.sin(arg)  # sum_k Re(X_k e^{j 2 pi f_k tau})
    k = _refine(xc, np.argmax(xc, axis=1))
    return (taus[0] + k * LAG_STEP_S).reshape(cross.shape[:-1])


def excess_delay(spectra: np.ndarray, fs: float, n: int, max_lag_s: float) -> np.ndarray:
    """(..., n//2+1) measured spectra on an rfft grid of n at fs -> (...) delays (s).

    The lag of the peak of the broadband cross-correlation between each
    measured response and its own minimum-phase version, within 0..max_lag_s:
    the delay that the minimum-phase response needs to stand in for it.
    """
    from scipy import fft

    spectra = np.asarray(spectra)
    flat = spectra.reshape(-1, spectra.shape[-1])
    out = np.empty(flat.shape[0])
    up = 4  # zero-padding: lag grid of 1 / (4 fs)
    last = int(np.ceil(max_lag_s * fs * up))
    for lo in range(0, flat.shape[0], 128):
        h = flat[lo:lo + 128]
        mp = minimum_phase_spectrum(np.abs(h), n)
        xc = fft.irfft(h * np.conj(mp), n * up, axis=-1)[:, :last + 2] * up
        k = _refine(xc, np.argmax(xc[:, :last + 1], axis=1))
        out[lo:lo + 128] = k / (fs * up)
    return out.reshape(spectra.shape[:-1])
