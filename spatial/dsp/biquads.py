"""Cascaded biquads: the K-weighting of the meter and the LFE feed's low-pass.

Second-order sections in scipy's ``sos`` layout, (S, 6) rows
``[b0, b1, b2, 1, a1, a2]``, run in transposed direct form II with the state
(S, 2, C) kept between blocks: :func:`sosfilt` is scipy.signal.sosfilt (axis
0, zi given) without importing scipy.signal (~0.6 s of the command's start-up).
The kernel is :func:`_sosfilt_kernel` (numba, GIL-free); :func:`sosfilt_reference`
is its plain-Python twin, which the tests compare it with (and both with scipy).

:func:`butter_lowpass` designs an even-order Butterworth low-pass in closed form
(bilinear transform of the analog prototype's conjugate pole pairs, prewarped),
as scipy.signal.butter(order, fc, fs=fs, output="sos") arranges it: the sections
from the most to the least damped, the overall gain in the first.
"""
from __future__ import annotations

import numba
import numpy as np

from spatial.engine.kernels import JIT

# states below this magnitude are zero in a meter's filters: their output would be
# below 1e-150, whose square (1e-300) no loudness sum can hold next to a real signal
FLUSH_BELOW = 1e-150


@numba.njit(**JIT)
def _sosfilt_kernel(sos, x, zi, y, flush):
    """y[n, c] = the cascade of sections sos (S, 6) applied to x (n, C), float64.

    zi (S, 2, C): the state, updated in place (transposed direct form II, as scipy).
    flush: a state smaller in magnitude is set to zero (0.0: never). A state decaying
    through silence otherwise reaches subnormal numbers, whose arithmetic is ~30x
    slower on x86 (a meter on a scene with pauses spent 0.75 s a minute there)."""
    n_sec = sos.shape[0]
    for c in range(x.shape[1]):
        for n in range(x.shape[0]):
            cur = x[n, c]
            for s in range(n_sec):
                new = sos[s, 0] * cur + zi[s, 0, c]
                z0 = sos[s, 1] * cur - sos[s, 4] * new + zi[s, 1, c]
                z1 = sos[s, 2] * cur - sos[s, 5] * new
                zi[s, 0, c] = z0 if abs(z0) >= flush else 0.0
                zi[s, 1, c] = z1 if abs(z1) >= flush else 0.0
                cur = new
            y[n, c] = cur


def sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray,
            flush: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Filter x (n, C) (or (n,)) along axis 0: (y, new zi); zi (S, 2, C) (or (S, 2)).
    flush: states below it in magnitude become zero (0.0, the default: scipy's
    arithmetic exactly; the meters and the ADM master's LFE pass FLUSH_BELOW, far below
    anything they can show or write)."""
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    xx = np.asarray(x, dtype=np.float64)
    x2 = np.ascontiguousarray(xx.reshape(xx.shape[0], -1))
    state = np.array(zi, dtype=np.float64).reshape(sos.shape[0], 2, x2.shape[1])
    y = np.empty_like(x2)
    _sosfilt_kernel(sos, x2, state, y, float(flush))
    return y.reshape(xx.shape), state.reshape(np.shape(zi))


def sosfilt_reference(sos, x, zi, flush: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Plain-Python twin of :func:`sosfilt` (slow: for the tests)."""
    sos = np.asarray(sos, float)
    xx = np.asarray(x, float)
    x2 = xx.reshape(xx.shape[0], -1)
    state = np.array(zi, float).reshape(sos.shape[0], 2, x2.shape[1])
    y = np.empty_like(x2)
    for c in range(x2.shape[1]):
        for n in range(x2.shape[0]):
            cur = float(x2[n, c])
            for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
                new = b0 * cur + state[s, 0, c]
                z0 = b1 * cur - a1 * new + state[s, 1, c]
                z1 = b2 * cur - a2 * new
                state[s, 0, c] = z0 if abs(z0) >= flush else 0.0
                state[s, 1, c] = z1 if abs(z1) >= flush else 0.0
                cur = new
            y[n, c] = cur
    return y.reshape(xx.shape), state.reshape(np.shape(zi))


def butter_lowpass(order: int, cutoff_hz: float, fs: float) -> np.ndarray:
    """Digital Butterworth low-pass of even `order` (-3 dB at cutoff_hz), (order / 2, 6) sos.

    Analog prototype sections s^2 + s / Q_k + 1 with 1 / Q_k = 2 sin((2k + 1) pi / 2N),
    each mapped by the bilinear transform with K = tan(pi fc / fs) (prewarped):
    b = K^2 (1, 2, 1) / D, a = (1, 2 (K^2 - 1) / D, (1 - K / Q + K^2) / D),
    D = 1 + K / Q + K^2. Section order and gain placement as scipy's zpk2sos.
    """
    if order < 2 or order % 2:
        raise ValueError(f"butter_lowpass needs an even order >= 2, got {order}")
    k = np.tan(np.pi * float(cutoff_hz) / float(fs))
    kk = k * k
    sections, gain = [], 1.0
    # most damped pair first (poles furthest from the unit circle), as scipy orders them
    for j in reversed(range(order // 2)):
        inv_q = 2.0 * np.sin((2 * j + 1) * np.pi / (2 * order))
        d = 1.0 + k * inv_q + kk
        gain *= kk / d
        sections.append([1.0, 2.0, 1.0, 1.0, 2.0 * (kk - 1.0) / d, (1.0 - k * inv_q + kk) / d])
    sos = np.array(sections)
    sos[0, :3] *= gain
    return sos
