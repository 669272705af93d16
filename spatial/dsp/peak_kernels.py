"""Numba kernel of the true-peak search: an upper bound of every frame's 4x peak.

:func:`spatial.dsp.loudness.peak_above` interpolates only the frames whose bound
is above the largest value found so far; this kernel gives those bounds in one
pass over the block (the numpy version took 60 % of a stereo meter's time in
fancy indexing). Its plain numpy twin is ``peak_bounds`` in the tests'
``tests/naive.py``.
"""
from __future__ import annotations

import numba
import numpy as np

from spatial.engine.kernels import JIT


@numba.njit(**JIT)
def peak_bounds(x, h, near_lo, near_hi, out):
    """out[j] >= the largest 4x-interpolated magnitude of output frame j of x.

    x (N, C) float32, the frames (frame j's window is x[j:j + taps]);
    h (P, taps) float64, the phases' magnitudes |h|; out (N - taps + 1,) float64.
    With m[i] the largest |x[i, c]| over the channels and w[j] the largest m of
    frame j's window: out[j] = max over p of
    sum_{k in near} h[p, k] m[j + taps - 1 - k] + (sum_{k not in near} h[p, k]) w[j],
    near = near_lo .. near_hi - 1 (the taps around the phase's centre, weighed
    sample by sample; the others by the window's largest sample)."""
    n_frames, n_ch = x.shape
    n_ph, taps = h.shape
    n = n_frames - taps + 1
    m = np.empty(n_frames)
    for i in range(n_frames):
        v = 0.0
        for c in range(n_ch):
            a = abs(np.float64(x[i, c]))
            if a > v:
                v = a
        m[i] = v
    # running maxima of segments of `taps` frames, forward (g) and backward (b):
    # a window of taps frames starting at j is max(b[j], g[j + taps - 1]) (van Herk)
    g = np.empty(n_frames)
    b = np.empty(n_frames)
    for start in range(0, n_frames, taps):
        end = min(start + taps, n_frames)
        g[start] = m[start]
        for i in range(start + 1, end):
            g[i] = max(g[i - 1], m[i])
        b[end - 1] = m[end - 1]
        for i in range(end - 2, start - 1, -1):
            b[i] = max(b[i + 1], m[i])
    far = np.zeros(n_ph)
    for p in range(n_ph):
        for k in range(taps):
            if k < near_lo or k >= near_hi:
                far[p] += h[p, k]
    w = np.empty(n)
    gw = g[taps - 1:]
    for j in range(n):
        w[j] = max(b[j], gw[j])
    for j in range(n):
        out[j] = 0.0
    for p in range(n_ph):  # loops over the frames innermost: contiguous, vectorised
        for j in range(n):
            g[j] = far[p] * w[j]
        for k in range(near_lo, near_hi):
            hk = h[p, k]
            mk = m[taps - 1 - k:taps - 1 - k + n]  # (a view: no index arithmetic below)
            for j in range(n):
                g[j] += hk * mk[j]
        for j in range(n):
            out[j] = max(out[j], g[j])


@numba.njit(**JIT)
def peak_candidates(x, kernel, bound, floor, rel, value, tol):
    """Frames whose single-precision 4x peak can be the block's largest (or pass floor).

    x (N, C) float32 frames, kernel (taps, P) float32 (the phases reversed: output
    frame j, phase p is sum_k x[j + k, c] kernel[k, p]), bound (n,) from
    :func:`peak_bounds` (with its margin). Every frame whose bound passes the
    running lower bound gets its peak in double precision, value[j], and an
    error bound of the single-precision products, tol[j] = rel * bound[j]
    (0 and -1 for frames not evaluated). Returns the lower bound: the largest of
    floor and value - tol. A frame's single-precision peak can exceed it only if
    value + tol >= it, and no frame left out can."""
    n_ch = x.shape[1]
    taps, n_ph = kernel.shape
    h = kernel.astype(np.float64)
    acc = np.empty((n_ch, n_ph))
    lower = floor
    for j in range(bound.shape[0]):
        value[j] = -1.0
        tol[j] = 0.0
        if bound[j] <= lower:
            continue
        acc[:] = 0.0
        for k in range(taps):  # every (channel, phase) sum in tap order: independent chains
            for c in range(n_ch):
                xv = np.float64(x[j + k, c])
                for p in range(n_ph):
                    acc[c, p] += xv * h[k, p]
        best = 0.0
        for c in range(n_ch):
            for p in range(n_ph):
                s = abs(acc[c, p])
                if s > best:
                    best = s
        value[j] = best
        tol[j] = rel * bound[j]
        if best - tol[j] > lower:
            lower = best - tol[j]
    return lower
