"""Plain numpy twins of the numba kernels in :mod:`spatial.engine.kernels` (and
of other kernels' arithmetic), as stumpy's ``tests/naive.py``: slow and obvious
on purpose; the tests compare every kernel against these. Only the tests import
this module; the constants it shares with the kernels are in
:mod:`spatial.engine.constants`.
"""
from __future__ import annotations

import numpy as np

from spatial.engine.constants import FRACTIONAL_TAPS, KAISER_BETA


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


def scatter_images_many(outs: np.ndarray, irs: np.ndarray, delays: np.ndarray,
                        gains: np.ndarray) -> None:
    """outs (R, C, L): outs[r] += scatter_images(irs, delays, gains[:, r]) for every r. In place."""
    for r in range(outs.shape[0]):
        scatter_images(outs[r], irs, delays, np.ascontiguousarray(gains[:, r]))


def accumulate_partitions(fdl: np.ndarray, head: int, H: np.ndarray, acc: np.ndarray) -> None:
    """acc[c, k] += sum_p fdl[(head - p) % R, k] * H[p, c, k]. In place.

    fdl: (R, K) complex ring buffer of input spectra, the newest at row `head`;
    H: (P, C, K) complex filter partition spectra, P <= R; acc: (C, K) complex.
    """
    n_ring = fdl.shape[0]
    rows = (head - np.arange(H.shape[0])) % n_ring
    acc += np.einsum("pk,pck->ck", fdl[rows], H)


def accumulate_routes(fdl, heads, rows_at, rows, route_input, H, h_at, parts, offset, width,
                      use, acc, c0, c1):
    """acc[c0:c1] = sum over used routes of their partitions, each into its own channels
    (see kernels.accumulate_routes); the other channels of acc are left alone."""
    part = np.zeros(acc.shape, acc.dtype)
    for r in np.flatnonzero(use):
        s = route_input[r]
        ring = fdl[rows_at[s]:rows_at[s] + rows[s]]
        Hr = H[h_at[r]:h_at[r] + parts[r] * width[r]].reshape(parts[r], width[r], -1)
        accumulate_partitions(ring, heads[s], Hr, part[offset[r]:offset[r] + width[r]])
    acc[c0:c1] = part[c0:c1]


def load_blocks(frames: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """frames (S, N) <- [frames[:, B:] | blocks (S, B)]. In place; returns (S,) bool 'any nonzero'."""
    b = blocks.shape[1]
    frames[:] = np.concatenate([frames[:, b:], blocks], axis=1)
    return np.any(frames != 0.0, axis=1)


def send_bus(rows, active, inputs, gains, delays, bufs, idle, out) -> None:
    """out = sum_i gains[i] * rows[inputs[i]] delayed by delays[i] (see kernels.send_bus)."""
    b = out.shape[0]
    out[:] = 0.0
    for i, r in enumerate(inputs):
        if not active[r] and idle[i]:
            continue
        d = delays[i]
        line = np.concatenate([bufs[i, :d], rows[r] if active[r] else np.zeros(b)])
        out += gains[i] * line[:b]
        bufs[i, :d] = line[b:]
        idle[i] = not active[r] and not np.any(line[b:])


def crossfade_add(out: np.ndarray, old: np.ndarray, new: np.ndarray, fade: np.ndarray) -> None:
    """out (C, B) += (1 - fade) * old + fade * new, fade (B,) rising 0 -> 1. In place."""
    out += (1.0 - fade) * old + fade * new


def convolve_reference(signals, filters, length: int | None = None) -> np.ndarray:
    """Sum over inputs of fftconvolve(signal_i, filter_i[c]) per output channel.

    signals: list of 1-D arrays; filters: list of (C, L_i) arrays (same C).
    Returns (C, n) float64 with n = max_i(len(signal_i) + L_i - 1), or `length`
    (zero-padded or truncated) when given.
    """
    from scipy.signal import fftconvolve

    if len(signals) != len(filters) or not filters:
        raise ValueError("need one (C, L) filter per signal, and at least one")
    n_ch = np.atleast_2d(filters[0]).shape[0]
    full = max(len(s) + np.atleast_2d(f).shape[1] - 1 for s, f in zip(signals, filters))
    n = full if length is None else int(length)
    out = np.zeros((n_ch, max(full, n, 0)))
    for sig, filt in zip(signals, filters):
        sig = np.asarray(sig, dtype=np.float64)
        filt = np.atleast_2d(np.asarray(filt, dtype=np.float64))
        if sig.size == 0:
            continue
        y = fftconvolve(sig[None, :], filt, axes=1)
        out[:, :y.shape[1]] += y
    return out[:, :max(n, 0)]


def image_weights(tau, pos, lis_pos, yaw, band_gains, air, room, fade):
    """Numpy twin of spatial.engine.emission.image_weights: (N, M, 26) gains x pan
    weights of image taps (tau (N, M), emission positions (N, M, 3), listener (M, 3),
    yaw (M,) degrees, band_gains (N, 7), air (7,) or None), from the package's own
    image-source gains (:func:`spatial.room.image_gains.image_gains`), rotation
    (:func:`spatial.geometry.world_to_head`) and pan weights."""
    from spatial.geometry import MIN_DISTANCE_M, SPEED_OF_SOUND, world_to_head
    from spatial.motion import pan_weights
    from spatial.room.image_gains import image_gains

    dist = tau * SPEED_OF_SOUND
    g = image_gains(band_gains[:, None, :], dist, tau, air, room.crossover, fade)
    amp = np.sqrt(np.mean(g * g, axis=-1)) / np.maximum(dist, MIN_DISTANCE_M)
    dirs = _unit(world_to_head(pos - lis_pos[None], yaw[None, :]))
    w = pan_weights(dirs) * amp[..., None]  # (N, M, 26)
    w[w < 1e-7 * max(float(w.max()), 1e-30)] = 0.0
    return w


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    out = np.where(n > 1e-9, v / np.where(n > 1e-9, n, 1.0), 0.0)
    out[..., 0] = np.where(n[..., 0] > 1e-9, out[..., 0], 1.0)  # at the head: the front
    return out


def peak_bounds(x, h, near_lo, near_hi, out) -> None:
    """spatial.dsp.peak_kernels.peak_bounds: out[j] = max over phases p of
    sum_{k near} h[p, k] m[j + taps - 1 - k] + (sum_{k not near} h[p, k]) max(m[j:j + taps]),
    m the largest magnitude over the channels of each frame."""
    taps = h.shape[1]
    m = np.abs(np.asarray(x, np.float64)).max(axis=1)
    n = m.size - taps + 1
    near = np.zeros(taps, bool)
    near[near_lo:near_hi] = True
    for j in range(n):
        window = m[j:j + taps][::-1]  # window[k]: the sample tap k weighs
        out[j] = max(h[p, near] @ window[near] + h[p, ~near].sum() * window.max()
                     for p in range(h.shape[0]))


def peak_candidates(x, kernel, bound, floor, rel, value, tol) -> float:
    """spatial.dsp.peak_kernels.peak_candidates: in frame order, a frame whose bound passes
    the running lower bound gets value = its largest |interpolated point| in double
    precision and tol = rel * bound; the lower bound is the largest of floor and
    value - tol so far (others: value -1, tol 0)."""
    taps = kernel.shape[0]
    x64, h64 = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    lower = floor
    for j in range(bound.shape[0]):
        value[j], tol[j] = -1.0, 0.0
        if bound[j] <= lower:
            continue
        value[j] = np.abs(x64[j:j + taps].T @ h64).max()  # (C, P) points of frame j
        tol[j] = rel * bound[j]
        lower = max(lower, value[j] - tol[j])
    return lower
