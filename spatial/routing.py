"""Which signals one render pass must produce apart, and what each input feeds.

One engine pass (:mod:`spatial.loop`) renders every output format and every bus that
must exist apart. An *output group* is a range of the engine's output channels: one
format's mix, or one bus of it. Each input reaches the groups of its bus, one per
format, through that format's filter (a route of :class:`spatial.engine.convolver.
BlockConvolver`); its forward transform is shared by all of them.

What must exist apart:
- with stems, every role in use is a bus of its own (``dialogue``, ``music`` ...): its
  own inverse transforms and its own copy of the room's tail (its own send), nothing
  more; the mix is their sum;
- otherwise one bus, ``mix``.

The dialogue-to-background meter needs the dialogue apart, but not in every format and
channel: it is measured on the *meter format* (``p.meter``, the mono rendering: the
omnidirectional pressure at the listener, one channel), the same figure for every
format. When both dialogue and other roles play, the mix of the meter format is one
more group (one channel per bus; a format nobody asked for is rendered for the meter
and not handed out), and without stems the dialogue's sources also reach the *tap*, a
one-channel group of the meter format with its own send to the tail: two channels of
work in all, whatever the formats (the background is the meter's mix minus the tap).

What needs no signal of its own costs nothing: a bus gain (``mix.buses``, plus
``mix.dialogue_enhancement`` for dialogue) is a gain on its sources' input blocks, and
ducking acts *before the room*: the ducked sources' dry blocks (and so their sends to
the tail) are turned down, sample by sample, while their room keeps ringing out as a
real room would. The side-chain is the dry signal of the ``under`` role's sources, each
at its bus gain and its direct path's 1 / r (at its position, or a moving source's first
keyframe): the level it reaches the listener at, before any format's filters, so the
same gains duck every format alike. Ducking gains follow :class:`spatial.dsp.ducking.
Ducker`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spatial.geometry import MIN_DISTANCE_M
from spatial.scene.model import Scene
from spatial.scene.parts import ROLES


@dataclass(frozen=True)
class Group:
    """One range of the engine's output channels: a bus of one format."""

    format: int  # index into RenderPlan.formats
    bus: int  # index into Routing.buses
    offset: int  # first engine channel
    width: int  # the format's channels


@dataclass
class Routing:
    """The buses of a render and where each input goes (see the module doc)."""

    buses: list[tuple[str, tuple[str, ...]]]  # (name, roles) of each bus
    stems: bool  # the buses are the stems (one per role)
    groups: list[Group]  # format-major: groups[f * len(buses) + k]
    input_bus: list[int]  # per plan input: its bus
    input_gain: np.ndarray  # per plan input: linear bus gain
    ducked: np.ndarray  # per plan input: turned down by the ducker
    side: list[tuple[int, float]] = field(default_factory=list)  # (input, weight) side-chain
    ducking: object = None  # spatial.scene.parts.Ducking, or None
    meter: int | None = None  # the format the dialogue is metered in, or None (no D/B)
    tap: Group | None = None  # the dialogue's own group in that format (without stems)
    tapped: np.ndarray | None = None  # per plan input: reaches the tap
    hidden: tuple[int, ...] = ()  # formats rendered for the meter only, not handed out

    @property
    def n_channels(self) -> int:
        return sum(g.width for g in self.groups) + (self.tap.width if self.tap else 0)

    def live(self, fmt: int) -> bool:
        """Format fmt is rendered: asked for, or the meter's."""
        return fmt not in self.hidden or fmt == self.meter

    def group(self, fmt: int, bus: int) -> Group:
        return self.groups[fmt * len(self.buses) + bus]

    def bus_index(self, name: str) -> int | None:
        return next((k for k, (b, _) in enumerate(self.buses) if b == name), None)


def roles_in_use(p) -> list[str]:
    used = {inp.role for inp in p.inputs}
    return [r for r in ROLES if r in used]


def dialogue_metered(p) -> bool:
    """Dialogue plays with other roles: its dialogue-to-background is metered."""
    used = roles_in_use(p)
    return "dialogue" in used and len(used) > 1


def bus_gain_db(scene: Scene, role: str) -> float:
    m = scene.mix
    return m.buses.get(role, 0.0) + (m.dialogue_enhancement if role == "dialogue" else 0.0)


def plain(p) -> Routing:
    """One bus, no gains: the plan as it is, every format summed whole."""
    return make(p, None, stems=False, meter=False)


def make(p, scene: Scene | None, stems: bool, meter: bool) -> Routing:
    """The routing of plan p (its formats) for scene's mix; stems: a bus per role;
    meter: keep the dialogue apart in the meter format (p.meter) when it plays with other
    roles. A format only the meter needs is rendered only then."""
    used = roles_in_use(p)
    if stems and used:
        buses = [(r, (r,)) for r in used]
    else:
        buses = [("mix", tuple(used))]
    bus_of = {r: k for k, (_, roles) in enumerate(buses) for r in roles}
    fm = p.meter if meter and dialogue_metered(p) else None
    hidden = tuple(f for f, fp in enumerate(p.rendered) if fp.hidden)
    groups, offset = [], 0
    for f, fp in enumerate(p.rendered):
        for k in range(len(buses)):
            # a format rendered for the meter alone: nothing when the meter is off
            width = fp.n_channels if f not in hidden or f == fm else 0
            groups.append(Group(f, k, offset, width))
            offset += width
    n = len(p.inputs)
    input_bus = [bus_of.get(inp.role, 0) for inp in p.inputs]
    tap = tapped = None
    if fm is not None and not (stems and used):
        tap = Group(fm, -1, offset, p.rendered[fm].n_channels)
        tapped = np.array([inp.role == "dialogue" for inp in p.inputs], bool)
    gain = np.ones(n)
    ducked = np.zeros(n, bool)
    side, ducking = [], None
    if scene is not None:
        m = scene.mix
        for i, inp in enumerate(p.inputs):
            gain[i] = 10.0 ** (bus_gain_db(scene, inp.role) / 20.0)
        if m.ducking is not None and m.ducking.under in used:
            ducking = m.ducking
            weights = _direct_gains(p, scene)
            ducked = np.array([inp.role in m.ducking.duck for inp in p.inputs], bool)
            side = [(i, gain[i] * weights[i]) for i, inp in enumerate(p.inputs)
                    if inp.role == m.ducking.under]
    return Routing(buses, bool(stems and used), groups, input_bus, gain, ducked, side,
                   ducking, fm, tap, tapped, hidden)


def _direct_gains(p, scene: Scene) -> list[float]:
    """Per input, its direct path's 1 / r (1 for a bed channel)."""
    by_key = {f"sources[{i}].file": s for i, s in enumerate(scene.sources)}
    lis = np.asarray(scene.listener.position if scene.listener.position is not None
                     else scene.listener.path[0].position, float)
    out = []
    for inp in p.inputs:
        stream = p.streams[inp.stream]
        src = by_key.get(stream.key)
        if src is None or not stream.mono:  # a bed (or a source's bed rendering)
            out.append(1.0)
            continue
        pos = src.position if src.position is not None else src.path[0].position
        r = float(np.linalg.norm(np.subtract(pos, lis)))
        out.append(1.0 / max(r, MIN_DISTANCE_M))
    return out
