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
            _position(x, c, t[m], p)
            d2 = 0.0
            for k in range(3):
                q = base[i, k] + sign[i, k] * p[k]
                pos[i, m, k] = q
                d2 += (q - lis[m, k]) ** 2
            cur = np.sqrt(d2) / speed
            if moving:
                for _ in range(max_iter):
                    _position(x, c, t[m] - cur, p)
                    d2 = 0.0
                    for k in range(3):
                        q = base[i, k] + sign[i, k] * p[k]
                        pos[i, m, k] = q
                        d2 += (q - lis[m, k]) ** 2
                    new = np.sqrt(d2) / speed
                    done = abs(new - cur) < tol
                    cur = new
                    if done:
                        break
            tau[i, m] = cur
