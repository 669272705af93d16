"""Where things are: the listener and every diegetic source strictly inside the room
(keyframes of a path included), none on the listener. Run on the built parts by the
scene checks (:mod:`spatial.scene.validate`) and again by the loader and the
renderer for scenes changed in code (:func:`spatial.scene.loader.check_geometry`).
"""
from __future__ import annotations

import math

from spatial.errors import Problem
from spatial.scene.parts import Listener, Room

AXES = "xyz"
# closer than this to the listener a source has no direction: rejected. (Between this and
# spatial.geometry.MIN_DISTANCE_M, 0.1 m, the level stops rising: 1/r is floored there.)
MIN_SOURCE_DISTANCE_M = 0.01


def geometry_problems(room: Room | None, listener: Listener | None, sources, where) -> list:
    """Listener and diegetic sources strictly inside the room, no source on the listener.

    sources: (index, Source) pairs; where(key) -> file/line/key keyword arguments.
    """
    problems = []
    dims = room.dimensions if room is not None else None
    size = "" if dims is None else " x ".join(f"{d:g}" for d in dims) + " m"

    def inside(point, who, key):
        if dims is None or point is None:
            return
        bad = [f"{AXES[i]} = {p:g} m is not between 0 and {d:g} m"
               for i, (p, d) in enumerate(zip(point, dims)) if not 0.0 < p < d]
        if bad:
            problems.append(Problem(f"{who} is outside the room: {'; '.join(bad)} "
                                    f"(room {size}; positions must be strictly inside)",
                                    **where(key)))

    from spatial.scene.paths import keyframe_problems

    lpos = listener.position if listener is not None else None
    if listener is not None and listener.path:
        keyframe_problems(listener.path, "the listener", "listener.path", inside)
        lpos = None if len(listener.path) > 1 else listener.path[0].position
    if lpos is not None and not all(math.isfinite(v) for v in lpos):
        problems.append(Problem(f"listener position must be finite, got {lpos}",
                                **where("listener.position")))
        lpos = None
    inside(lpos, "the listener", "listener.position")
    for i, s in sources:
        key = f"sources[{i}].position"
        if not s.diegetic:
            continue
        if s.position is None and s.path:
            keyframe_problems(s.path, f"source '{s.name}'", f"sources[{i}].path", inside)
            continue
        if s.position is None:
            problems.append(Problem(f"source '{s.name}' has no position (only beds with "
                                    "diegetic: false may omit it)", **where(key)))
            continue
        if not all(math.isfinite(v) for v in s.position):
            problems.append(Problem(f"source '{s.name}' position must be finite, got "
                                    f"{s.position}", **where(key)))
            continue
        inside(s.position, f"source '{s.name}'", key)
        if lpos is not None:
            d = math.dist(s.position, lpos)
            if d < MIN_SOURCE_DISTANCE_M:
                problems.append(Problem(
                    f"source '{s.name}' is at the listener position ({d * 100:.2g} cm away; "
                    f"keep it at least {MIN_SOURCE_DISTANCE_M * 100:g} cm from the listener)",
                    **where(key)))
    return problems
