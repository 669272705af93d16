"""Real spherical harmonics for AmbiX: ACN channel order, SN3D normalisation.

Channel ACN = n^2 + n + m for order n and degree -n <= m <= n. With a unit
direction (x, y, z) = (cos el cos az, cos el sin az, sin el) in the listener
frame (:mod:`spatial.geometry`), the SN3D real spherical harmonic is

    Y_n^m = N_n^|m| P_n^|m|(sin el) * (cos(m az) if m >= 0 else sin(|m| az)),
    N_n^|m| = sqrt((2 - delta_m0) (n - |m|)! / (n + |m|)!),

with P_n^|m| the associated Legendre function WITHOUT the Condon-Shortley phase
(-1)^m (AmbiX has none; scipy.special.lpmv includes it). Written out as
polynomials in x, y, z (orders 0..3):

====  ==  ===  ==========================================
ACN   n   m    SN3D
====  ==  ===  ==========================================
0     0    0   1                                  (W)
1     1   -1   y                                  (Y)
2     1    0   z                                  (Z)
3     1    1   x                                  (X)
4     2   -2   sqrt(3) x y
5     2   -1   sqrt(3) y z
6     2    0   (3 z^2 - 1) / 2
7     2    1   sqrt(3) x z
8     2    2   sqrt(3)/2 (x^2 - y^2)
9     3   -3   sqrt(5/8) y (3 x^2 - y^2)
10    3   -2   sqrt(15) x y z
11    3   -1   sqrt(3/8) y (5 z^2 - 1)
12    3    0   z (5 z^2 - 3) / 2
13    3    1   sqrt(3/8) x (5 z^2 - 1)
14    3    2   sqrt(15)/2 z (x^2 - y^2)
15    3    3   sqrt(5/8) x (x^2 - 3 y^2)
====  ==  ===  ==========================================

SN3D: a plane wave of amplitude 1 gives W = 1 from every direction, and over
the sphere mean(Y_i Y_j) = delta_ij / (2 n_i + 1), so a diffuse field of unit
power gives channel power 1 / (2n + 1) in each order-n channel.
"""
from __future__ import annotations

import numpy as np

MAX_ORDER = 3


def n_channels(order: int) -> int:
    return (int(order) + 1) ** 2


def acn_order(acn) -> np.ndarray:
    """ACN index (or array of them) -> order n."""
    return np.floor(np.sqrt(np.asarray(acn, float)) + 1e-9).astype(int)


def sh_matrix(order: int, directions: np.ndarray) -> np.ndarray:
    """(N, 3) directions -> (N, (order+1)^2) real SN3D spherical harmonics, ACN order.

    Directions need not be unit length (they are normalised; a zero vector
    counts as the front). order in 0..3.
    """
    order = int(order)
    if not 0 <= order <= MAX_ORDER:
        raise ValueError(f"ambisonic order must be 0..{MAX_ORDER}, got {order}")
    d = np.atleast_2d(np.asarray(directions, float))
    r = np.linalg.norm(d, axis=1, keepdims=True)
    d = np.where(r > 0, d / np.where(r > 0, r, 1.0), np.array([1.0, 0.0, 0.0]))
    x, y, z = d[:, 0], d[:, 1], d[:, 2]
    cols = [np.ones_like(x)]
    if order >= 1:
        cols += [y, z, x]
    if order >= 2:
        s3 = np.sqrt(3.0)
        cols += [s3 * x * y, s3 * y * z, 0.5 * (3 * z * z - 1), s3 * x * z,
                 0.5 * s3 * (x * x - y * y)]
    if order >= 3:
        a, b, c = np.sqrt(5.0 / 8.0), np.sqrt(15.0), np.sqrt(3.0 / 8.0)
        cols += [a * y * (3 * x * x - y * y), b * x * y * z, c * y * (5 * z * z - 1),
                 0.5 * z * (5 * z * z - 3), c * x * (5 * z * z - 1),
                 0.5 * b * z * (x * x - y * y), a * x * (x * x - 3 * y * y)]
    return np.stack(cols, axis=1)


def diffuse_weights(order: int) -> np.ndarray:
    """((order+1)^2,) amplitude sqrt(1 / (2n + 1)) per ACN channel: the SN3D
    diffuse-field rms of each channel for a unit-power diffuse field."""
    return np.sqrt(1.0 / (2 * acn_order(np.arange(n_channels(order))) + 1))
