"""Rooms a physicist would accept (``room.unphysical: true`` allows others): every side
long enough for a listener's head, and an rt60 that Sabine's formula, which turns
``room.rt60`` into the surfaces' absorption (:mod:`spatial.room.decay`), reaches with
an absorption below 1. Called by :mod:`spatial.scene.validate` for each room."""
from __future__ import annotations

from spatial.scene.yamlnodes import Checker

MIN_ROOM_SIDE_M = 0.5  # a head (~0.2 m) and room around it


def physical(ck: Checker, m: dict, dims, rt60) -> bool:
    """A room a listener fits in (every side at least MIN_ROOM_SIDE_M), and an rt60 that
    Sabine's formula (which turns rt60 into the surfaces' absorption, spatial.room.decay)
    gives with a mean absorption below 1. Reported, False, if not."""
    from spatial.room.decay import rt60_absorption

    shape = " x ".join(f"{d:g}" for d in dims)
    if min(dims) < MIN_ROOM_SIDE_M:
        ck.add(m["dimensions"], "room.dimensions",
               f"a {shape} m room cannot hold a listener's head: every side must be at least "
               f"{MIN_ROOM_SIDE_M:g} m (room.unphysical: true allows it)")
        return False
    if rt60 is not None:
        alpha, shortest = rt60_absorption(rt60, dims)
        if alpha >= 1.0:
            ck.add(m["rt60"], "room.rt60",
                   f"{rt60:g} s is impossible in a {shape} m room: Sabine's formula would "
                   f"need a mean absorption of {alpha:.3g}, and absorption is below 1; this "
                   f"room's shortest rt60 is {shortest:.3g} s (room.unphysical: true "
                   "allows it)")
            return False
    return True
