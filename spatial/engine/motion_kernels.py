"""Numba kernels of the moving direct paths (spatial.motion_render), with numpy twins.

:func:`direct_spectra` forms, for every control point k of a block, the sum over
moving sources l of (the spectrum of the source's frame) x (its spatial filter's
spectrum, blended from a few stored spectra) x (the filter's own delays as a
linear phase): one pass instead of an FFT of every interpolated filter, a
running-product phase array and an einsum over sources. The blend is linear, so
it equals the spectrum of the time-domain blend of the stored filters (an HRIR
interpolated by barycentric weights, or a loudspeaker gain vector). Single
precision, as the engine's stage 1 (the phase's angles in double).
:func:`direct_spectra_reference` is its plain numpy twin; the tests compare them.
"""
from __future__ import annotations

import numba
import numpy as np

from spatial.engine.kernels import JIT


PHASE_GROUP = 32  # bins per group of the phase: exp(i a f) = exp(i a G m) exp(i a j)


def direct_spectra(X, S, idx, w, delays, nf, out) -> None:
    """out[k, c, f] += sum_l X[l, k, f] H_lkc[f] exp(-2 pi i f delays[l, k, c] / nf). In place.

    X: (L, K, F) complex64 spectra of the sources' frames (F = nf // 2 + 1);
    S: (Q, C, F) complex64 stored filter spectra; idx: (L, K, J) int rows of S and
    w: (L, K, J) float weights, H_lkc = sum_j w[l, k, j] S[idx[l, k, j], c];
    delays: (L, K, C) in samples (fractional); out: (K, C, F) complex64 (C-contiguous).
    """
    _direct_spectra(np.ascontiguousarray(X).view(np.float32),
                    np.ascontiguousarray(S).view(np.float32), np.ascontiguousarray(idx),
                    np.ascontiguousarray(w, dtype=np.float64),
                    np.ascontiguousarray(delays, dtype=np.float64), int(nf),
                    out.view(np.float32))


@numba.njit(**JIT)
def _direct_spectra(X, S, idx, w, delays, nf, out):
    """direct_spectra on the float32 views (re, im interleaved) of its complex arrays.
    Each (source, control point, channel): the phase of every bin (sines and cosines of
    G-bin groups and of the offsets within a group, in double precision, products in
    single), the blend, then the product into out: loops over bins the compiler can
    vectorise."""
    n_src, n_k, n_f2 = X.shape
    n_f = n_f2 // 2
    n_c = S.shape[1]
    n_j = idx.shape[2]
    G = PHASE_GROUP
    n_grp = (n_f + G - 1) // G
    pr = np.empty(n_grp * G, np.float32)
    pi = np.empty(n_grp * G, np.float32)
    br = np.empty(G)
    bi = np.empty(G)
    hr = np.empty(n_f, np.float32)
    hi = np.empty(n_f, np.float32)
    for l in range(n_src):
        for k in range(n_k):
            for c in range(n_c):
                a = -2.0 * np.pi * delays[l, k, c] / nf
                for j in range(G):
                    br[j] = np.cos(a * j)
                    bi[j] = np.sin(a * j)
                for m in range(n_grp):
                    ar = np.cos(a * G * m)
                    ai = np.sin(a * G * m)
                    for j in range(G):
                        pr[m * G + j] = ar * br[j] - ai * bi[j]
                        pi[m * G + j] = ar * bi[j] + ai * br[j]
                hr[:] = 0.0
                hi[:] = 0.0
                for j in range(n_j):
                    q = idx[l, k, j]
                    wj = np.float32(w[l, k, j])
                    for f in range(n_f):
                        hr[f] += wj * S[q, c, 2 * f]
                        hi[f] += wj * S[q, c, 2 * f + 1]
                for f in range(n_f):
                    ur = hr[f] * pr[f] - hi[f] * pi[f]
                    ui = hr[f] * pi[f] + hi[f] * pr[f]
                    xr = X[l, k, 2 * f]
                    xi = X[l, k, 2 * f + 1]
                    out[k, c, 2 * f] += xr * ur - xi * ui
                    out[k, c, 2 * f + 1] += xr * ui + xi * ur


def direct_spectra_reference(X, S, idx, w, delays, nf, out) -> None:
    """Numpy twin of :func:`direct_spectra` (same arguments, in place)."""
    H = np.einsum("lkj,lkjcf->lkcf", w, S[idx])
    f = np.arange(X.shape[-1])
    phase = np.exp(-2j * np.pi * delays[..., None] * f / nf)
    out += np.einsum("lkf,lkcf->kcf", X, H * phase).astype(out.dtype)


@numba.njit(**JIT)
def _bary(inverses, f, u, n, out):
    for a in range(3):
        out[a] = (inverses[f, a, 0] * u[n, 0] + inverses[f, a, 1] * u[n, 1]
                  + inverses[f, a, 2] * u[n, 2])
    return min(out[0], min(out[1], out[2]))


@numba.njit(**JIT)
def hull_weights(u, simplices, normals, offsets, inverses, idx, w):
    """The numba twin of HrtfSet.weights_for (its reference in the tests) for a path of
    directions: idx (N, 3) and w (N, 3) of unit vectors u (N, 3), from the hull of the
    measured directions (HrtfSet._hull: simplices, normals, offsets, inverses). In place.

    Consecutive directions of a path mostly cross the same facet: the previous one's
    facet is tried first (kept when u lies in its cone, barycentric >= -1e-9); else the
    facet with the largest (n_f . u) / -offset_f, and among facets tied with it (the
    flat bottom cap) the one whose smallest barycentric coordinate is largest, as
    weights_for does. Weights are clipped at 0 and sum to 1.
    """
    n_dir = u.shape[0]
    n_facet = normals.shape[0]
    bc = np.empty(3)
    best_bc = np.empty(3)
    prev = -1
    for n in range(n_dir):
        f = -1
        if prev >= 0:
            ratio = (normals[prev, 0] * u[n, 0] + normals[prev, 1] * u[n, 1]
                     + normals[prev, 2] * u[n, 2]) / -offsets[prev]
            if ratio > 0.0 and _bary(inverses, prev, u, n, best_bc) >= -1e-9:
                f = prev
        if f < 0:
            top = -np.inf
            for g in range(n_facet):
                r = (normals[g, 0] * u[n, 0] + normals[g, 1] * u[n, 1]
                     + normals[g, 2] * u[n, 2]) / -offsets[g]
                if r > top:
                    top, f = r, g
            low = _bary(inverses, f, u, n, best_bc)
            if low < -1e-9:
                tie = top * (1 - 1e-9) - 1e-12
                low = -np.inf
                for g in range(n_facet):
                    r = (normals[g, 0] * u[n, 0] + normals[g, 1] * u[n, 1]
                         + normals[g, 2] * u[n, 2]) / -offsets[g]
                    if r >= tie:
                        m = _bary(inverses, g, u, n, bc)
                        if m > low:
                            low, f = m, g
                            best_bc[:] = bc
        total = 0.0
        for a in range(3):
            best_bc[a] = max(best_bc[a], 0.0)
            total += best_bc[a]
        for a in range(3):
            idx[n, a] = simplices[f, a]
            w[n, a] = best_bc[a] / total
        prev = f


@numba.njit(**JIT)
def direct_geometry(tau, pos, lis, yaw_deg, frozen, fs, limit, min_dist, speed, delays,
                    gains, dirs):
    """The direct path on its grid (M points), in place: delays (1, M) in samples (tau,
    or `frozen` (s) when >= 0: Doppler off), at most `limit`; gains (1, M, 2): 1 / r
    (r = c tau, at least min_dist) and 1; dirs (M, 3): unit vectors from the listener
    to the emission positions pos (M, 3), rotated by -yaw into the listener frame (the
    front where they coincide). The numba twin of the numpy steps in
    spatial.motion_render (tested against them)."""
    for m in range(tau.size):
        r = max(tau[m] * speed, min_dist)
        d = (frozen if frozen >= 0.0 else tau[m]) * fs
        delays[0, m] = min(d, limit)
        gains[0, m, 0] = 1.0 / r
        gains[0, m, 1] = 1.0
        a = np.deg2rad(yaw_deg[m])
        ca, sa = np.cos(a), np.sin(a)
        rx, ry, rz = pos[m, 0] - lis[m, 0], pos[m, 1] - lis[m, 1], pos[m, 2] - lis[m, 2]
        hx = ca * rx + sa * ry
        hy = -sa * rx + ca * ry
        n = np.sqrt(hx * hx + hy * hy + rz * rz)
        if n > 1e-9:
            dirs[m, 0], dirs[m, 1], dirs[m, 2] = hx / n, hy / n, rz / n
        else:
            dirs[m, 0], dirs[m, 1], dirs[m, 2] = 1.0, 0.0, 0.0
