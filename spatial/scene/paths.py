"""The scene keys of motion: ``path``, ``interpolation`` and ``doppler`` on a source,
``path`` (keyframes may carry ``yaw``) and ``interpolation`` on the listener.

Checked like every other key (:mod:`spatial.scene.validate` calls these), with
one-line problems naming the keyframe, e.g. ``sources[2].path[3].t: keyframe times
must increase strictly ...``. Whether the keyframes are inside the room is checked
with the rest of the geometry (:func:`keyframe_problems`).
"""
from __future__ import annotations

from spatial.errors import Problem
from spatial.scene.limits import MAX_EXTENT_M, MAX_TIME_S
from spatial.scene.parts import Keyframe
from spatial.scene.yamlnodes import Checker, Node, show
from spatial.trajectory import INTERPOLATIONS

KEYFRAME_KEYS = ("t", "position")
LISTENER_KEYFRAME_KEYS = ("t", "position", "yaw")


def keyframes(ck: Checker, node: Node, key: str, listener: bool = False
              ) -> tuple[Keyframe, ...] | None:
    """A path: a list of {t, position} keyframes (listener: also yaw); None if bad."""
    if not node.is_list or not node.value:
        ck.add(node, key, "expected a list of keyframes {t: seconds, position: [x, y, z]}, "
                          f"got {show(node.value)}")
        return None
    known = LISTENER_KEYFRAME_KEYS if listener else KEYFRAME_KEYS
    out, ok, prev = [], True, None
    for i, item in enumerate(node.value):
        at = f"{key}[{i}]"
        m = ck.mapping(item, at, known, required=("t", "position"))
        if m is None:
            ok = False
            continue
        t = (ck.number(m["t"], f"{at}.t", nonnegative=True, low=0.0, high=MAX_TIME_S, unit="s")
             if "t" in m else None)
        pos = (ck.vector3(m["position"], f"{at}.position", "[x, y, z] in metres",
                          low=-MAX_EXTENT_M, high=MAX_EXTENT_M, unit="m")
               if "position" in m else None)
        yaw = ck.number(m["yaw"], f"{at}.yaw", unit="degrees") if "yaw" in m else None
        if t is not None and prev is not None and t <= prev[1]:
            ck.add(m["t"], f"{at}.t", f"keyframe times must increase strictly: {t:g} s is not "
                                      f"after {key}[{prev[0]}] at {prev[1]:g} s")
            t = None
        if t is not None:
            prev = (i, t)
        if t is None or pos is None or ("yaw" in m and yaw is None):
            ok = False
            continue
        out.append(Keyframe(t, pos, yaw))
    return tuple(out) if ok else None


def interpolation(ck: Checker, node: Node, key: str) -> str | None:
    return ck.choice(node, key, INTERPOLATIONS, "interpolation")


def keyframe_problems(keyframes_, who: str, key: str, inside) -> None:
    """Every keyframe strictly inside the room: inside(point, who, key) reports."""
    for k, kf in enumerate(keyframes_ or ()):
        inside(kf.position, f"{who} at {key}[{k}] (t = {kf.t:g} s)", f"{key}[{k}].position")


def both_given(ck: Checker, m: dict, path: str) -> bool:
    """`path` and `position` both given: reported, True."""
    if "path" in m and "position" in m:
        ck.add(m["path"], f"{path}.path", "give either position or path, not both "
                                          "(a path with one keyframe is a static position)")
        return True
    return False


__all__ = ["keyframes", "interpolation", "keyframe_problems", "both_given", "Problem"]
