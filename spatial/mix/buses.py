"""Buses by role: the render loop split per role, bus gains, ducking, the sum.

Each role in use gets its own :class:`~spatial.loop.RenderLoop` over the inputs
of that role (a sub-plan with just their streams: every source has one role,
so no file is read twice); without stems, roles the mix treats alike share one
(:func:`bus_groups`: same gain, ducked or not, not the side-chain, not dialogue).
Each bus therefore has its own stage-1 convolver
and, when it feeds the room, its own copy of the shared tail convolver: the
tail is linear, so the buses' tails add up to the single shared tail of the
unsplit loop (to float32 rounding), and every bus, reverberation included, is
a stem. The price is one tail convolution per bus with room sends instead of
one; scenes without a ``mix`` section and without stems keep the single loop.

Per block: bus gain (``mix.buses``, plus ``mix.dialogue_enhancement`` on the
dialogue bus) -> ducking (:class:`spatial.dsp.ducking.Ducker`, driven by the
side-chain bus after its gain) -> sum. The blocks of the stems are the buses
after gain and ducking: they sum to the mix exactly as it is summed here.
The dialogue and the rest are metered (:class:`spatial.dsp.loudness.Meter`)
for the dialogue-to-background report.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from spatial.plan import RenderPlan
from spatial.scene.model import Scene
from spatial.scene.parts import ROLES


def needs_buses(scene: Scene, stems: bool = False) -> bool:
    """Whether the render must be split by role (else the single loop is used)."""
    m = scene.mix
    return bool(stems or scene.output.stems or m.buses or m.ducking is not None
                or m.dialogue_enhancement)


def roles_in_use(p: RenderPlan) -> list[str]:
    used = {inp.role for inp in p.inputs}
    return [r for r in ROLES if r in used]


def sub_plan(p: RenderPlan, roles) -> RenderPlan:
    """The plan restricted to the inputs of some roles (and the streams they read)."""
    inputs = [inp for inp in p.inputs if inp.role in roles]
    keep = sorted({inp.stream for inp in inputs})
    index = {k: j for j, k in enumerate(keep)}
    inputs = [dataclasses.replace(inp, stream=index[inp.stream]) for inp in inputs]
    return dataclasses.replace(p, inputs=inputs, streams=[p.streams[k] for k in keep])


def bus_groups(roles: list[str], scene: Scene, stems: bool) -> list[tuple[str, ...]]:
    """The render loops needed: one per role with stems; otherwise roles that are
    treated alike (same gain, both ducked or not, neither the side-chain nor the
    dialogue that is metered) share one loop."""
    if stems:
        return [(r,) for r in roles]
    m = scene.mix
    duck = m.ducking if m.ducking is not None and m.ducking.under in roles else None

    def key(r):
        db = m.buses.get(r, 0.0) + (m.dialogue_enhancement if r == "dialogue" else 0.0)
        return (db, duck is not None and r in duck.duck, duck is not None and r == duck.under,
                r == "dialogue")

    groups: dict = {}
    for r in roles:
        groups.setdefault(key(r), []).append(r)
    return [tuple(g) for g in groups.values()]


class MixLoop:
    """Iterate blocks() for (mix, buses) pairs: mix (n, C) float32, buses {name: (n, C)}
    (with stems=True one bus per role, named by it). Both are buffers reused for the
    next block."""

    def __init__(self, p: RenderPlan, scene: Scene, block_size: int | None = None,
                 prefetch: bool = True, stems: bool = False):
        from spatial.loop import RenderLoop
        from spatial.dsp.ducking import Ducker
        from spatial.dsp.loudness import Meter, channel_weights

        self.plan, self.scene = p, scene
        used = roles_in_use(p)
        groups = bus_groups(used, scene, stems)
        self.roles = ["+".join(g) for g in groups]  # bus names (the roles with stems)
        self.loops = {"+".join(g): RenderLoop(sub_plan(p, g), block_size, prefetch)
                      for g in groups}
        m = scene.mix
        self.gains = {}
        for g in groups:
            r = g[0]  # every role of a group has the same gain
            db = m.buses.get(r, 0.0) + (m.dialogue_enhancement if r == "dialogue" else 0.0)
            self.gains["+".join(g)] = np.float32(10.0 ** (db / 20.0))
        self.ducker, self.ducked = None, []
        if m.ducking is not None and m.ducking.under in used:
            self.ducker = Ducker(p.sample_rate, m.ducking)
            self.side = m.ducking.under
            self.ducked = ["+".join(g) for g in groups if g[0] in m.ducking.duck]
        self.meters = None
        if "dialogue" in self.roles and len(self.roles) > 1:
            w = channel_weights(p.channels)
            self.meters = (Meter(p.sample_rate, w), Meter(p.sample_rate, w))

    @property
    def length(self) -> int:
        return self.plan.length

    def dialogue_to_background(self) -> float | None:
        """Dialogue minus background loudness (LU) where dialogue is present, so far."""
        from spatial.dsp.loudness import dialogue_to_background

        if self.meters is None:
            return None
        return dialogue_to_background(self.meters[0].steps, self.meters[1].steps)

    def blocks(self) -> Iterator[tuple[np.ndarray, dict]]:
        iters = {r: iter(loop.blocks()) for r, loop in self.loops.items()}
        C = self.plan.n_channels
        B = next(iter(self.loops.values())).block_size if self.loops else 4096
        mix = np.zeros((B, C), np.float32)
        background = np.zeros((B, C), np.float32)
        stems = {r: np.zeros((B, C), np.float32) for r in self.roles}
        try:
            for _ in range(-(-self.plan.length // B) if self.loops else 0):
                n = None
                for r, it in iters.items():
                    block = next(it)
                    n = block.shape[0]
                    np.multiply(block, self.gains[r], out=stems[r][:n])
                if self.ducker is not None:
                    g = self.ducker.process(stems[self.side][:n])
                    for r in self.ducked:
                        stems[r][:n] *= g[:, None]
                out = mix[:n]
                out[:] = 0.0
                for r in self.roles:
                    out += stems[r][:n]
                if self.meters is not None:
                    bg = background[:n]
                    np.subtract(out, stems["dialogue"][:n], out=bg)
                    self.meters[0].add(stems["dialogue"][:n])
                    self.meters[1].add(bg)
                yield out, {r: s[:n] for r, s in stems.items()}
        finally:
            for it in iters.values():
                it.close()


class PlainLoop:
    """The single render loop with MixLoop's interface (no buses, no stems)."""

    def __init__(self, p: RenderPlan, block_size: int | None = None, prefetch: bool = True):
        from spatial.loop import RenderLoop

        self.plan = p
        self.loop = RenderLoop(p, block_size, prefetch)
        self.roles = []

    @property
    def length(self) -> int:
        return self.plan.length

    def dialogue_to_background(self):
        return None

    def blocks(self):
        for block in self.loop.blocks():
            yield block, {}


def mix_loop(p: RenderPlan, scene: Scene, block_size: int | None = None, stems: bool = False):
    """MixLoop when the scene needs buses (or stems are asked for), else PlainLoop."""
    if needs_buses(scene, stems):
        return MixLoop(p, scene, block_size, stems=bool(stems or scene.output.stems))
    return PlainLoop(p, block_size)


class MixOnly:
    """A mix loop's blocks without the stems (for spatial.renderer.render_stream)."""

    def __init__(self, loop):
        self.loop = loop

    def blocks(self):
        for mix, _ in self.loop.blocks():
            yield mix
