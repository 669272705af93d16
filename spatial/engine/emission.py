"""Emission-time propagation delays of a moving source and its image sources, fused.

:func:`emission_solve` is the numba twin of :func:`spatial.motion.emission_delay`
(the plain numpy reference the tests compare it with): for every path i (the source
itself, or an image x_i = base_i + sign_i * x) and reception time t_m it solves
tau = |x_i(t_m - tau) - x_lis(t_m)| / c by fixed-point iteration from the
arrival-time distance (the error shrinks by v / c per step), to `tol` seconds.

The source's trajectory comes as a piecewise cubic (:meth:`Trajectory.pieces`):
breakpoints x (P + 1,) and coefficients c (4, P, 3), position on piece p at time
s = c[0, p] d^3 + c[1, p] d^2 + c[2, p] d + c[3, p] with d = s - x[p] (scipy's
PPoly layout), times clipped to [x[0], x[P]] (the object holds still outside).
One call per block and source replaces a dozen numpy / scipy calls per iteration.
"""
from __future__ import annotations

import numba
import numpy as np

from spatial.engine.kernels import JIT


@numba.njit(**JIT)
def _position(x, c, s, out):
    n = x.size - 1
    if s <= x[0]:
        s = x[0]
    elif s >= x[n]:
        s = x[n]
    p = np.searchsorted(x, s, side="right") - 1
    if p > n - 1:
        p = n - 1
    if p < 0:
        p = 0
    d = s - x[p]
    for k in range(3):
        out[k] = ((c[0, p, k] * d + c[1, p, k]) * d + c[2, p, k]) * d + c[3, p, k]


@numba.njit(**JIT)
def emission_solve(x, c, t, lis, base, sign, speed, moving, tol, max_iter, tau, pos):
    """tau[i, m] (s) and pos[i, m] (emission positions) for N paths and M times. In place.

    x, c: the trajectory's pieces; t: (M,) reception times; lis: (M, 3) listener
    positions; base, sign: (N, 3) the paths' images (0 and 1 for the source itself);
    speed: of sound; moving: False solves at the arrival time only (a static source);
    tau: (N, M) and pos: (N, M, 3) outputs.
    """
    n_path, n_t = tau.shape
    p = np.empty(3)
    for m in range(n_t):
        for i in range(n_path):
            cur = _path_delay(x, c, t[m], base[i], sign[i], lis[m], speed, p, pos[i, m])
            if moving:
                for _ in range(max_iter):
                    new = _path_delay(x, c, t[m] - cur, base[i], sign[i], lis[m], speed, p,
                                      pos[i, m])
                    done = abs(new - cur) < tol
                    cur = new
                    if done:
                        break
            tau[i, m] = cur


@numba.njit(**JIT)
def _path_delay(x, c, s, base, sign, lis, speed, p, pos):
    """Delay (s) from path x_i = base + sign * x(s) to the listener at `lis`; the path's
    position goes to pos (3,), p is scratch (3,)."""
    _position(x, c, s, p)
    d2 = 0.0
    for k in range(3):
        q = base[k] + sign[k] * p[k]
        pos[k] = q
        d2 += (q - lis[k]) ** 2
    return np.sqrt(d2) / speed


@numba.njit(**JIT)
def image_weights(tau, pos, lis, yaw_deg, band_gains, air, crossover, fade, dirs, c0,
                  min_dist, speed, w):
    """Pan weights times gain of N image taps on M grid points: w (N, M, D). In place.

    The numba twin of tests/naive.py's image_weights (tested against it), which uses
    the package's one formula of image gains (spatial.room.image_gains) and rotation
    (spatial.geometry.world_to_head):
    gain = rms over bands of band_gains x exp(-air d / 2), / max(d, min_dist), times the
    early part's crossover complement cos(pi/2 u); direction: pos - lis rotated by
    -yaw into the listener frame; weights of :func:`spatial.motion.pan_weights` over
    `dirs` (D, 3) with cutoff cosine c0. Weights below 1e-7 of the largest are zeroed.
    """
    n_path, n_t = tau.shape
    n_band = band_gains.shape[1]
    n_dir = dirs.shape[0]
    top = 0.0
    for m in range(n_t):
        a = yaw_deg[m] * np.pi / 180.0
        ca, sa = np.cos(a), np.sin(a)
        for i in range(n_path):
            d = tau[i, m] * speed
            acc = 0.0
            for b in range(n_band):
                g = band_gains[i, b] * np.exp(-0.5 * air[b] * d)
                acc += g * g
            amp = np.sqrt(acc / n_band) / max(d, min_dist)
            if fade <= 0.0:
                tail = 1.0 if tau[i, m] >= crossover else 0.0
            else:
                u = (tau[i, m] - (crossover - fade)) / fade
                u = min(max(u, 0.0), 1.0)
                tail = np.sin(0.5 * np.pi * u)
            amp *= np.sqrt(min(max(1.0 - tail * tail, 0.0), 1.0))
            rx = pos[i, m, 0] - lis[m, 0]
            ry = pos[i, m, 1] - lis[m, 1]
            rz = pos[i, m, 2] - lis[m, 2]
            hx = ca * rx + sa * ry
            hy = -sa * rx + ca * ry
            n = np.sqrt(hx * hx + hy * hy + rz * rz)
            if n > 1e-9:
                ux, uy, uz = hx / n, hy / n, rz / n
            else:
                ux, uy, uz = 1.0, 0.0, 0.0
            total = 0.0
            for k in range(n_dir):
                v = max(ux * dirs[k, 0] + uy * dirs[k, 1] + uz * dirs[k, 2] - c0, 0.0) / (1.0 - c0)
                v *= v
                v *= v
                w[i, m, k] = v
                total += v
            for k in range(n_dir):
                v = w[i, m, k] / total * amp
                w[i, m, k] = v
                if v > top:
                    top = v
    floor = 1e-7 * max(top, 1e-30)
    for i in range(n_path):
        for m in range(n_t):
            for k in range(n_dir):
                if w[i, m, k] < floor:
                    w[i, m, k] = 0.0
