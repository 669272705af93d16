"""Loudspeaker decoding of AmbiX signals: all-round ambisonic decoding (AllRAD).

Zotter & Frank (2012), "All-round ambisonic panning and decoding", JAES 60(10).
The sound field is first decoded to a dense, even set of virtual speakers, each
then panned onto the real layout with VBAP (:mod:`spatial.filters.vbap`, with
its imaginary speakers where the layout has gaps: below every built-in layout,
behind stereo, above 5.1 / 7.1; their gains folded onto the real speakers as the
EBU ADM Renderer does). So a (C_out, C_in) matrix

    D = sum_p w_p g(u_p) y~(u_p)^T,   y~ = diag((2n+1) a_n) y  (SN3D -> sampling),

with g(u) the VBAP gains (energy 1) of direction u, y(u) the SN3D spherical
harmonics (:mod:`spatial.filters.ambisonics`) and a_n the max-rE order weights
a_n = P_n(cos(137.9 deg / (N + 1.51))) (Zotter & Frank's 3-D approximation),
which concentrate the energy of a plane wave on the speakers nearest its
direction.

The virtual speakers: the paper takes a spherical t-design of degree >= 2N+1
(equal weights); here a Gauss-Legendre x uniform-azimuth product grid of
GRID_ELEVATIONS x 2 GRID_ELEVATIONS directions with its exact quadrature weights
(degree 2 GRID_ELEVATIONS - 1 = 31 >> 7), which serves the same purpose
(sum_p w_p y_i y_j is exact) and needs no table of designs.

Energy: D is scaled so that the mean over all directions of the decoded energy
of a unit plane wave, sum_i (D y(u))_i^2, is 1, as VBAP gives every direction
(a diffuse field keeps its power). The LFE channel gets nothing.
"""
from __future__ import annotations

import numpy as np

from spatial.filters.ambisonics import acn_order, sh_matrix

GRID_ELEVATIONS = 16
MAX_RE_DEG = 137.9


def max_re_weights(order: int) -> np.ndarray:
    """(order+1,) max-rE weights a_n, n = 0..order (a_0 = 1)."""
    from numpy.polynomial import legendre

    x = np.cos(np.deg2rad(MAX_RE_DEG / (order + 1.51)))
    return np.array([legendre.legval(x, np.eye(order + 1)[n]) for n in range(order + 1)])


def design_grid(n_el: int = GRID_ELEVATIONS) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre product grid -> (directions (P, 3), weights (P,) summing to 1)."""
    z, wz = np.polynomial.legendre.leggauss(n_el)
    n_az = 2 * n_el
    az = (np.arange(n_az) + 0.5) * 2 * np.pi / n_az
    zz, aa = np.meshgrid(z, az, indexing="ij")
    r = np.sqrt(1 - zz ** 2)
    u = np.stack([r * np.cos(aa), r * np.sin(aa), zz], axis=-1).reshape(-1, 3)
    w = np.repeat(wz / 2.0, n_az) / n_az
    return u, w


def allrad_matrix(layout, order: int, max_re: bool = True) -> np.ndarray:
    """(len(layout.channels), (order+1)^2) AllRAD decoding matrix for a speaker Layout."""
    from spatial.filters.vbap import vbap_gains

    u, w = design_grid()
    g = vbap_gains(layout, u)  # (P, C_out), LFE columns 0
    n = acn_order(np.arange((order + 1) ** 2))
    a = max_re_weights(order)[n] if max_re else np.ones(len(n))
    y = sh_matrix(order, u) * ((2 * n + 1) * a)[None, :]
    d = (g * w[:, None]).T @ y
    sigma = 1.0 / (2 * n + 1)  # SN3D: mean over the sphere of y_i y_j = delta_ij / (2n+1)
    energy = float(np.sum(d * d * sigma[None, :]))
    return d / np.sqrt(energy)
