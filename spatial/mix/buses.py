"""Buses by role, as the delivery reads them: the one render pass of spatial.loop
with the routing of spatial.routing (bus gains and ducking before the room, a
group per stem, dialogue apart for its meter), seen as (mix, buses) blocks of the
first format. The dialogue and the rest are metered
(:class:`spatial.mix.loudness.Meter`) for the dialogue-to-background report.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from spatial import routing
from spatial.plan import RenderPlan
from spatial.scene.model import Scene


def needs_buses(scene: Scene, stems: bool = False) -> bool:
    """Whether the scene's mix has anything beyond the plain sum."""
    m = scene.mix
    return bool(stems or scene.output.stems or m.buses or m.ducking is not None
                or m.dialogue_enhancement)


class MixLoop:
    """Iterate blocks() for (mix, buses) pairs: mix (n, C) float32, buses {name: (n, C)}
    (with stems=True one bus per role, named by it). Both are buffers reused for the
    next block."""

    def __init__(self, p: RenderPlan, scene: Scene, block_size: int | None = None,
                 prefetch: bool = True, stems: bool = False):
        from spatial.loop import RenderLoop
        from spatial.mix.loudness import Meter, channel_weights

        self.plan, self.scene = p, scene
        self.routing = routing.make(p, scene, stems, meter=True)
        self.loop = RenderLoop(p, block_size, prefetch, routing=self.routing)
        self.roles = [name for name, _ in self.routing.buses] if self.routing.stems else []
        self.meters = None
        if len(self.routing.buses) > 1 and self.routing.bus_index("dialogue") is not None:
            w = channel_weights(p.channels)
            self.meters = (Meter(p.sample_rate, w), Meter(p.sample_rate, w))

    @property
    def length(self) -> int:
        return self.plan.length

    def dialogue_to_background(self) -> float | None:
        """Dialogue minus background loudness (LU) where dialogue is present, so far."""
        from spatial.mix.loudness import dialogue_to_background

        if self.meters is None:
            return None
        return dialogue_to_background(self.meters[0].steps, self.meters[1].steps)

    def blocks(self) -> Iterator[tuple[np.ndarray, dict]]:
        name = self.plan.outputs[0].format
        for views in self.loop.frames():
            v = views[name]
            if self.meters is not None:
                self.meters[0].add(v.dialogue)
                self.meters[1].add(v.background)
            yield v.mix, v.buses


def mix_loop(p: RenderPlan, scene: Scene, block_size: int | None = None, stems: bool = False):
    """The scene's render pass with its buses (stems when asked for, or output.stems)."""
    return MixLoop(p, scene, block_size, stems=bool(stems or scene.output.stems))


class MixOnly:
    """A mix loop's blocks without the stems (for spatial.renderer.render_stream)."""

    def __init__(self, loop):
        self.loop = loop

    def blocks(self):
        for mix, _ in self.loop.blocks():
            yield mix
