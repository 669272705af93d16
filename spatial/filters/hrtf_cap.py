"""The unmeasured bottom cap of an HRTF set, filled with virtual directions.

Sets measured on a turntable stop above the floor (MIT KEMAR at -40 degrees).
Without directions below, the convex hull closes the cap with one flat facet
that an arbitrary triangulation splits, which blends the lowest ring
asymmetrically. Before triangulation this module adds:

- a nadir (straight below) whose magnitude, for both ears alike, is the power
  mean of the lowest ring over its directions and both ears, whose mean delay
  is the ring's mean and whose interaural delay is 0;
- rings between the lowest measured ring and the nadir, about every
  RING_STEP_DEG, their direction counts shrinking with cos(elevation) (kept
  even), alternately offset by half a step. A virtual direction at azimuth a,
  elevation e gets, per ear, the lowest ring's log magnitude interpolated
  linearly in azimuth at a, blended in dB with the nadir's by
  t = (e0 - e) / (e0 + 90) (e0: lowest measured elevation); its mean delay and
  interaural delay are blended the same way.

A mirror-symmetric set (left ear at +a = right ear at -a) thus gets a
mirror-symmetric cap, and the offsets keep every triangle of the hull unique
(no four coplanar directions whose split could break the symmetry). The cap
joins the lowest ring continuously (t = 0 there). The virtual directions get
their solid-angle weights like measured ones, so the diffuse-field statistics
cover the whole sphere.
"""
from __future__ import annotations

import numpy as np

from spatial.geometry import unit_vectors

RING_STEP_DEG = 10.0
COVERED_BELOW_DEG = -80.0  # a set measured below this needs no cap
RING_TOLERANCE_DEG = 1.0  # directions this close to the lowest elevation form its ring


def fill_bottom_cap(directions: np.ndarray, mag_db: np.ndarray, mean_delay: np.ndarray,
                    itd: np.ndarray):
    """Measured (M, 3) directions, (M, 2, K) magnitudes (dB), (M,) mean delays (s),
    (M,) interaural delays (s) -> the same four with the virtual directions appended."""
    el = np.rad2deg(np.arcsin(np.clip(directions[:, 2], -1.0, 1.0)))
    e0 = float(el.min())
    ring = np.flatnonzero(el < e0 + RING_TOLERANCE_DEG)
    if e0 <= COVERED_BELOW_DEG or len(ring) < 3:
        return directions, mag_db, mean_delay, itd
    az = np.rad2deg(np.arctan2(directions[ring, 1], directions[ring, 0])) % 360.0
    order = np.argsort(az)
    ring, az = ring[order], az[order]
    nadir_db = 10 * np.log10(np.mean(10 ** (mag_db[ring] / 10), axis=(0, 1)))
    nadir_delay = float(np.mean(mean_delay[ring]))

    new_u, new_mag, new_delay, new_itd = [], [], [], []
    has_zero = bool(np.any(np.minimum(az, 360.0 - az) < 1e-6))
    n_rings = int(np.ceil(round((e0 + 90.0) / RING_STEP_DEG, 6)))  # round: -40 +- 1 ulp
    for k in range(1, n_rings):
        e = e0 - k * (e0 + 90.0) / n_rings
        n = max(4, 2 * int(round(len(ring) * np.cos(np.deg2rad(e)) / np.cos(np.deg2rad(e0)) / 2)))
        # alternate which of consecutive rings has a direction at azimuth 0
        offset = 0.5 if (k % 2 == 1) == has_zero else 0.0
        a = (np.arange(n) + offset) * 360.0 / n
        lo, frac = _ring_position(az, a)
        hi = (lo + 1) % len(ring)
        t = (e0 - e) / (e0 + 90.0)
        ring_db = (1 - frac)[:, None, None] * mag_db[ring[lo]] + frac[:, None, None] * mag_db[ring[hi]]
        new_mag.append((1 - t) * ring_db + t * nadir_db)
        d = (1 - frac) * mean_delay[ring[lo]] + frac * mean_delay[ring[hi]]
        new_delay.append((1 - t) * d + t * nadir_delay)
        new_itd.append((1 - t) * ((1 - frac) * itd[ring[lo]] + frac * itd[ring[hi]]))
        new_u.append(unit_vectors(a, np.full(n, e)))
    new_u.append(unit_vectors(0.0, -90.0).reshape(1, 3))
    new_mag.append(np.broadcast_to(nadir_db, (1, 2, mag_db.shape[-1])))
    new_delay.append(np.array([nadir_delay]))
    new_itd.append(np.zeros(1))
    return (np.concatenate([directions] + new_u), np.concatenate([mag_db] + new_mag),
            np.concatenate([mean_delay] + new_delay), np.concatenate([itd] + new_itd))


def _ring_position(ring_az: np.ndarray, az: np.ndarray):
    """Sorted ring azimuths (R,), query azimuths (N,) -> (index of the ring direction
    at or before each query (N,), fraction of the way to the next one (N,))."""
    az = np.asarray(az, float) % 360.0
    lo = np.searchsorted(ring_az, az, side="right") - 1  # -1: before the first -> wraps
    start = ring_az[lo % len(ring_az)]
    stop = ring_az[(lo + 1) % len(ring_az)]
    span = (stop - start) % 360.0
    span = np.where(span == 0, 360.0, span)
    frac = ((az - start) % 360.0) / span
    return lo % len(ring_az), frac
