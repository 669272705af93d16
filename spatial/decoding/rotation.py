"""Rotating an AmbiX (ACN, SN3D) sound field about the vertical axis.

`yaw_matrix(order, yaw_deg)` is the listener's head turned by yaw_deg, with the
scene's listener-yaw sense (counter-clockwise seen from above, +90 = facing
what was the left): a source at azimuth a (counter-clockwise from the front)
is then heard at azimuth a - yaw_deg, at the same elevation. So
``sh_matrix(order, u) @ yaw_matrix(order, yaw).T == sh_matrix(order, u')`` with
u' the direction u turned by -yaw about z.

Each order n and degree m > 0 pair (cos m az, sin m az) rotates as a 2-D vector
by m yaw (the SN3D normalisation is the same for +m and -m); m = 0 (W, Z, ...)
is unchanged.
"""
from __future__ import annotations

import numpy as np

from spatial.filters.ambisonics import n_channels


def yaw_matrix(order: int, yaw_deg: float) -> np.ndarray:
    """((order+1)^2, (order+1)^2) matrix R: rotated signals b' = R b (b a column of
    ACN channels), the field as heard by a listener turned by yaw_deg."""
    c = n_channels(order)
    r = np.zeros((c, c))
    psi = np.deg2rad(float(yaw_deg))
    for n in range(int(order) + 1):
        r[n * n + n, n * n + n] = 1.0
        for m in range(1, n + 1):
            cos_i, sin_i = n * n + n + m, n * n + n - m  # ACN of cos(m az), of sin(m az)
            cm, sm = np.cos(m * psi), np.sin(m * psi)
            # cos(m (a - psi)) = cos(m a) cos(m psi) + sin(m a) sin(m psi)
            # sin(m (a - psi)) = sin(m a) cos(m psi) - cos(m a) sin(m psi)
            r[cos_i, cos_i], r[cos_i, sin_i] = cm, sm
            r[sin_i, sin_i], r[sin_i, cos_i] = cm, -sm
    return r
