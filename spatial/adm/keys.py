"""The scene file's ``output.adm`` keys (an ADM master's own, spatial.adm)."""
from __future__ import annotations

from spatial.filters.formats import ADM_ROOMS
from spatial.scene.parts import Adm


def adm_keys(ck, node) -> Adm | None:
    """output.adm: {room: hoa3 | 7.1.4 | none}; None (and a problem added) if bad."""
    a = ck.mapping(node, "output.adm", ("room",))
    if a is None:
        return None
    room = "hoa3"
    if "room" in a:
        room = ck.choice(a["room"], "output.adm.room", ADM_ROOMS, "ADM room bed")
        if room is None:
            return None
    return Adm(room)
