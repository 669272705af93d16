"""Listener frame: world coordinates to directions as the listener hears them.

Listener frame: x to the front, y to the left, z up. Azimuth is counter-clockwise
from the front (+90 = left), elevation up from the horizontal plane, as in SOFA.
"""
from __future__ import annotations

import numpy as np

SPEED_OF_SOUND = 343.0  # m/s, at about 20 degrees C
# Nearer than this, 1/r stops growing (+20 dB at most re 1 m): the one floor of the
# direct path, the image sources and the LFE feed, so a near source keeps its balance.
# (Validation separately rejects sources closer than 1 cm to the listener, where the
# direction is undefined: spatial.scene.placement.MIN_SOURCE_DISTANCE_M.)
MIN_DISTANCE_M = 0.1


def world_to_head(rel: np.ndarray, yaw_deg) -> np.ndarray:
    """(..., 3) world-frame vectors from the listener -> the listener frame: rotated by
    -yaw (degrees) about z; yaw a scalar or one per vector (broadcast over ...).
    The one home of this rotation (numba kernels inline it and are tested against it)."""
    a = np.deg2rad(np.asarray(yaw_deg, float))
    c, s = np.cos(a), np.sin(a)
    x = c * rel[..., 0] + s * rel[..., 1]
    y = -s * rel[..., 0] + c * rel[..., 1]
    return np.stack([x, y, rel[..., 2]], axis=-1)


def world_to_listener(points_m: np.ndarray, listener_position_m, yaw: float) -> np.ndarray:
    """Points (N, 3) in world coordinates -> (N, 3) in the listener frame."""
    rel = np.atleast_2d(np.asarray(points_m, float)) - np.asarray(listener_position_m, float)
    return world_to_head(rel, yaw)


def to_spherical(v: np.ndarray):
    """(N, 3) vectors -> (azimuth_deg, elevation_deg, distance_m), each (N,)."""
    v = np.atleast_2d(np.asarray(v, float))
    r = np.linalg.norm(v, axis=1)
    az = np.rad2deg(np.arctan2(v[:, 1], v[:, 0]))
    el = np.rad2deg(np.arcsin(np.clip(v[:, 2] / np.where(r > 0, r, 1.0), -1.0, 1.0)))
    return az, el, r


def unit_vectors(azimuth_deg, elevation_deg) -> np.ndarray:
    """Directions in degrees -> (N, 3) unit vectors in the listener frame."""
    az = np.deg2rad(np.atleast_1d(np.asarray(azimuth_deg, float)))
    el = np.deg2rad(np.atleast_1d(np.asarray(elevation_deg, float)))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)
