"""The mix's changes to a render plan: room-to-score transitions and dialogue to centre.

Transitions: a source with ``transitions`` is planned as two renderings of the
same file, each its own stream with a time-varying gain applied as it is read
(:class:`FadedStream`): the diegetic one (its early filter and its send to the
room's tail, as a placed source) and the non-diegetic one (a head-locked bed,
as with ``diegetic: false``). Over each transition the gains cross with equal
power, cos and sin of (pi/2 u), u going 0..1 over ``over`` seconds: the two
renderings are incoherent (different filters, delays and reverberation), so
their powers add and the level moves smoothly from one rendering's to the
other's. The room keeps ringing after the source has left it (the tail is fed
by the diegetic rendering), as a real room would. Outside transitions a
rendering with zero gain is still read (its inputs are silent).

Dialogue to centre (loudspeaker formats with a C channel): the direct path of
every placed dialogue source is panned with gains g' = (sqrt(1-s) g + sqrt(s) c)
scaled to |g| (energy-preserving), g its VBAP gains, c the centre alone and s
``mix.dialogue_center``; reflections and the tail stay where the room puts them.
Moving dialogue sources (spatial.motion) are panned as they move, without it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spatial.plan import PlannedInput, RenderPlan, Stream, bed_filters, source_filter
from spatial.scene.model import Scene
from spatial.scene.parts import Source


def bed_share(source: Source, t: np.ndarray) -> np.ndarray:
    """Progress from the room (0) to the bed (1) of a source at times t (s)."""
    phi = np.full(t.shape, 0.0 if source.diegetic else 1.0)
    for tr in source.transitions:
        u = np.clip((t - tr.at) / tr.over, 0.0, 1.0)
        started = t >= tr.at
        phi = np.where(started, u if tr.to == "non-diegetic" else 1.0 - u, phi)
    return phi


def weights(source: Source, t: np.ndarray, part: str) -> np.ndarray:
    """Gain of the `part` ("diegetic" or "non-diegetic") rendering at times t (s)."""
    phi = bed_share(source, t)
    return np.sin(0.5 * np.pi * phi) if part == "non-diegetic" else np.cos(0.5 * np.pi * phi)


@dataclass(frozen=True)
class FadedStream(Stream):
    """A stream read with a time-varying gain: one rendering of a transitioning source."""

    source: Source | None = None
    part: str = "diegetic"

    def open(self, fs: int):
        return _FadedReader(Stream.open(self, fs), self, fs)


class _FadedReader:
    """A BlockReader whose blocks are multiplied by the rendering's gain at their time."""

    def __init__(self, reader, stream: FadedStream, fs: int):
        self._reader, self._stream, self._fs = reader, stream, fs

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def read_into(self, out: np.ndarray) -> None:
        p0 = self._reader.position
        self._reader.read_into(out)
        n = out.shape[0]
        t = (self._stream.start + p0 + np.arange(n)) / self._fs
        w = weights(self._stream.source, t, self._stream.part)
        out *= w.reshape((n,) + (1,) * (out.ndim - 1))


class CentreBlend:
    """A loudspeaker spatialiser whose first direction (the direct path, in
    spatial.room.rir's image order) is blended towards the centre channel."""

    def __init__(self, spatialiser, share: float, centre: int):
        self._sp, self.share, self.centre = spatialiser, float(share), int(centre)

    def __getattr__(self, name):
        return getattr(self._sp, name)

    def responses(self, directions: np.ndarray):
        irs, delays = self._sp.responses(directions)
        irs = np.array(irs, dtype=np.float64)
        g = irs[0, :, 0]
        c = np.zeros_like(g)
        c[self.centre] = 1.0
        blend = np.sqrt(1.0 - self.share) * g + np.sqrt(self.share) * c
        norm = np.linalg.norm(blend)
        if norm > 0:
            irs[0, :, 0] = blend * (np.linalg.norm(g) / norm)
        return irs, delays


def centre_index(channels) -> int | None:
    """The C channel of a loudspeaker layout, else None."""
    names = [c.name for c in channels]
    speakers = any(c.azimuth_deg is not None for c in channels)
    return names.index("C") if speakers and "C" in names else None


def apply(scene: Scene, spatialiser, p: RenderPlan) -> RenderPlan:
    """The plan with the mix's transitions and dialogue-to-centre applied (in place)."""
    fs = scene.sample_rate
    keys = {s.key: k for k, s in enumerate(p.streams)}
    centre = centre_index(spatialiser.channels)
    share = scene.mix.dialogue_center
    changed = False
    for i, src in enumerate(scene.sources):
        k = keys.get(f"sources[{i}].file")
        if k is None:
            continue
        if share > 0 and centre is not None and src.role == "dialogue":
            blended = CentreBlend(spatialiser, share, centre)
            for inp in p.inputs:  # moving sources (spatial.motion) keep their own path
                if inp.stream == k and src.diegetic and not getattr(inp, "moving", False):
                    inp.filt = source_filter(scene, src, blended, fs)[0]
        if src.transitions:
            _split(scene, spatialiser, p, i, src, k, blended if (
                share > 0 and centre is not None and src.role == "dialogue") else spatialiser)
            changed = True
    if changed and scene.duration is None:
        ring = max((q.filt.shape[1] for q in p.inputs), default=1) - 1
        if p.tail is not None:
            ring = max([ring] + [q.send_delay + p.tail.shape[1] - 1 for q in p.inputs
                                 if q.send_gain])
        p.length = max(p.length, max((s.start + s.length for s in p.streams), default=0) + ring)
    return p


def _split(scene, spatialiser, p: RenderPlan, index: int, src: Source, k: int,
           placed_spatialiser) -> None:
    """Plan the other rendering of a transitioning source and fade both."""
    fs = scene.sample_rate
    old = p.streams[k]
    fields = {f.name: getattr(old, f.name) for f in dataclasses.fields(Stream)}
    here = "diegetic" if src.diegetic else "non-diegetic"
    # the rendering the source leaves for good is not read after its last passage (its
    # inputs are then silent, and the engine skips them)
    last = src.transitions[-1]
    gone = int(np.ceil((last.at + last.over) * fs)) - old.start
    short = {"length": max(0, min(old.length, gone))}
    p.streams[k] = FadedStream(**(fields | short if last.to != here else fields),
                               source=src, part=here)
    fields["mono"] = not src.diegetic  # the other rendering: a bed keeps every channel
    there = "non-diegetic" if src.diegetic else "diegetic"
    p.streams.append(FadedStream(**(fields | short if last.to != there else fields),
                                 source=src, part=there))
    other = len(p.streams) - 1
    if src.diegetic:
        filts = [(f"{src.name}[{c}]", f, 0.0, 0) for c, f in enumerate(
            bed_filters(index, old.info.channels, spatialiser, scene))]
    else:
        filt, send_gain, send_delay = source_filter(scene, src, placed_spatialiser, fs)
        filts = [(src.name, filt, send_gain, send_delay)]
    for c, (name, filt, send_gain, send_delay) in enumerate(filts):
        p.inputs.append(PlannedInput(name, other, c, old.start, [filt], send_gain, send_delay,
                                     src.role))
