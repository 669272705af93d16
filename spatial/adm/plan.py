"""What a render plan holds for an ADM master (format ``adm``, spatial.adm).

The plan of format adm (spatial.plan with the scene's output format adm) is the room's
part of every source in the room bed's format: reflections and tail, no direct paths,
no beds. Here it is marked to tap the sources (its views carry their dry blocks,
spatial.loop) and, when there is no room bed (free field, or ``adm.room: none``),
left without channels: the engine then does no work for it at all.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np


def has_room_bed(scene) -> bool:
    return scene.room is not None and scene.output.adm_room != "none"


def mark(p, scene) -> None:
    """Mark the adm format of a merged plan p (in place): taps, and no channels when
    there is no room bed."""
    for f, fp in enumerate(p.formats):
        if fp.format != "adm":
            continue
        if has_room_bed(scene):
            p.formats[f] = replace(fp, taps=True)
            continue
        # (its moving path stays: spatial.motion_render routes nothing to no channels);
        # it lasts until the furthest static source's sound has arrived
        p.formats[f] = replace(fp, channels=(), tail=None, taps=True,
                               length=max(fp.length, _arrived(p, scene)))
        p.length = max(p.length, p.formats[f].length)
        for inp in p.inputs:
            inp.filters[f] = np.zeros((0, 1))
    if p.formats and p.formats[0].format == "adm":  # the plan's own fields: the first's
        first = p.formats[0]
        p.channels, p.tail = first.channels, first.tail


def _arrived(p, scene) -> int:
    """When the last static source's sound has reached the listener (samples)."""
    from spatial.geometry import SPEED_OF_SOUND

    if scene.listener.position is None or scene.duration is not None:
        return p.length if scene.duration is None else int(round(scene.duration * p.sample_rate))
    lis = np.asarray(scene.listener.position, float)
    far = max((float(np.linalg.norm(np.subtract(s.position, lis))) for s in scene.sources
               if s.diegetic and s.position is not None), default=0.0)
    end = max((st.start + st.length for st in p.streams), default=0)
    return end + int(np.ceil(far / SPEED_OF_SOUND * p.sample_rate)) + 1
