"""Trajectories: where a source or the listener is (and where the listener faces) at
any time, from the keyframes of its ``path``.

A path is a list of keyframes ``{t: seconds on the scene timeline, position: [x, y, z]}``
(listener keyframes may carry ``yaw`` in degrees). Between keyframes the position (and
yaw) is interpolated:

- ``linear``: straight segments at constant speed;
- ``spline`` (default): a monotone piecewise-cubic (PCHIP, Fritsch-Carlson) through the
  keyframes, per coordinate. It is smooth (continuous velocity) and never overshoots
  the keyframes: each coordinate stays between its neighbouring keyframes' values, so
  a path whose keyframes are inside the (convex) room stays inside it.

Yaw is interpolated as written, not wrapped: a keyframe at -360 after one at 0 is a
full clockwise turn. Before the first keyframe and after the last, the object holds
still. One keyframe is a static position.
"""
from __future__ import annotations

import numpy as np

INTERPOLATIONS = ("linear", "spline")


class Trajectory:
    """Position (m) and yaw (degrees) as functions of time (s).

    times: (K,) strictly increasing; positions: (K, 3); yaws: (K,) or None (yaw 0,
    or the static `yaw` given); interpolation: "linear" | "spline".
    """

    def __init__(self, times, positions, yaws=None, interpolation: str = "spline",
                 yaw: float = 0.0):
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}")
        self.times = np.atleast_1d(np.asarray(times, float))
        self.positions = np.asarray(positions, float).reshape(-1, 3)
        k = self.times.size
        if k < 1 or self.positions.shape[0] != k:
            raise ValueError("need one position per keyframe time, and at least one")
        if k > 1 and np.any(np.diff(self.times) <= 0):
            raise ValueError("keyframe times must increase strictly")
        self.yaws = (np.full(k, float(yaw)) if yaws is None
                     else np.asarray(yaws, float).reshape(k))
        self.interpolation = interpolation
        self._pos = self._yaw = None
        if k > 1 and interpolation == "spline":
            from scipy.interpolate import PchipInterpolator

            self._pos = PchipInterpolator(self.times, self.positions, axis=0)
            self._yaw = PchipInterpolator(self.times, self.yaws)

    @classmethod
    def static(cls, position, yaw: float = 0.0) -> "Trajectory":
        return cls([0.0], [position], None, "linear", yaw)

    @classmethod
    def of(cls, obj) -> "Trajectory":
        """The trajectory of a scene Source or Listener (its path, else its position)."""
        path = getattr(obj, "path", None)
        yaw = float(getattr(obj, "yaw", 0.0) or 0.0)
        interp = getattr(obj, "interpolation", "spline") or "spline"
        if not path:
            return cls.static(obj.position, yaw)
        yaws = None
        if any(getattr(kf, "yaw", None) is not None for kf in path):
            yaws = [yaw if kf.yaw is None else kf.yaw for kf in path]
        return cls([kf.t for kf in path], [kf.position for kf in path], yaws, interp, yaw)

    @property
    def moving(self) -> bool:
        """Whether position or yaw changes at all."""
        return bool(np.ptp(self.positions, axis=0).max() > 0 or np.ptp(self.yaws) > 0)

    def _clip(self, t) -> np.ndarray:
        return np.clip(np.asarray(t, float), self.times[0], self.times[-1])

    def position(self, t) -> np.ndarray:
        """Positions at times t (any shape) -> t.shape + (3,)."""
        t = np.asarray(t, float)
        if self.times.size == 1:
            return np.broadcast_to(self.positions[0], t.shape + (3,)).copy()
        tc = self._clip(t)
        if self._pos is not None:
            return self._pos(tc)
        return np.stack([np.interp(tc, self.times, self.positions[:, i]) for i in range(3)],
                        axis=-1)

    def pieces(self) -> tuple[np.ndarray, np.ndarray]:
        """The position as a piecewise cubic in scipy's PPoly layout: breakpoints
        (P + 1,) and coefficients (4, P, 3) in powers of (t - breakpoint), highest first
        (for spatial.engine.emission; times outside the breakpoints are clipped)."""
        if self.times.size == 1:
            c = np.zeros((4, 1, 3))
            c[3, 0] = self.positions[0]
            return np.array([self.times[0], self.times[0] + 1.0]), c
        if self._pos is not None:
            return (np.ascontiguousarray(self._pos.x, dtype=float),
                    np.ascontiguousarray(self._pos.c, dtype=float))
        c = np.zeros((4, self.times.size - 1, 3))
        c[2] = np.diff(self.positions, axis=0) / np.diff(self.times)[:, None]
        c[3] = self.positions[:-1]
        return self.times.copy(), c

    def yaw(self, t) -> np.ndarray:
        """Yaw in degrees at times t (any shape), as written (not wrapped)."""
        t = np.asarray(t, float)
        if self.times.size == 1:
            return np.full(t.shape, self.yaws[0])
        tc = self._clip(t)
        if self._yaw is not None:
            return self._yaw(tc)
        return np.interp(tc, self.times, self.yaws)

    def span(self, step: float = 0.01) -> np.ndarray:
        """Positions sampled every `step` s over the keyframes (for bounds), (N, 3)."""
        if self.times.size == 1:
            return self.positions.copy()
        n = int(np.ceil((self.times[-1] - self.times[0]) / step)) + 1
        return self.position(np.linspace(self.times[0], self.times[-1], max(n, 2)))
