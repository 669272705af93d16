"""Plan a render: every input signal with the multichannel filter it goes through.

scene -> streams (a source file to read block by block: gain, start, length
at the scene rate; :mod:`spatial.readers`) -> per-input filters:
- a diegetic source: its early filter (direct path + early reflections,
  spatialised per image; :mod:`spatial.room.rir`), plus a *send* (a gain and
  a delay) feeding the shared late-reverberation stage;
- a non-diegetic bed: one input per file channel, each mapped to the output
  by channel name, or placed as a head-locked virtual speaker at its nominal
  direction (no room, no send);
- the shared late tail: one (C, L) filter driven by the sum of the sends.

The plan is plain data (files are only probed here, not decoded);
:mod:`spatial.renderer` runs it block by block.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from spatial import readers
from spatial.engine.kernels import scatter_images
from spatial.engine.constants import FRACTIONAL_TAPS
from spatial.errors import Problem, SceneError
from spatial.filters.base import Channel
from spatial.filters.lfe import lfe_feed
from spatial.geometry import MIN_DISTANCE_M, SPEED_OF_SOUND, unit_vectors
from spatial.scene.model import Scene
from spatial.scene.parts import Output, Source

if TYPE_CHECKING:
    from spatial.motion import MotionPlan

# The channel orders a multichannel bed file is read in, by channel count
# (the output formats' own orders; see scenes/README.md).
BED_FORMATS = {1: None, 2: "stereo", 6: "5.1", 8: "7.1", 10: "5.1.4", 12: "7.1.4"}


@dataclass(frozen=True)
class Stream:
    """One source file, read block by block at the scene rate (spatial.readers)."""

    info: readers.FileInfo
    mono: bool  # a point source (downmixed) or a bed (every channel kept)
    gain: float  # linear
    start: int  # first sample on the scene timeline (may be negative: skip the head)
    length: int  # samples at the scene rate
    key: str  # the scene key that names the file, for errors while streaming

    @property
    def channels(self) -> int:
        return 1 if self.mono else self.info.channels

    def open(self, fs: int) -> readers.BlockReader:
        return readers.BlockReader(self.info, fs, mono=self.mono, gain=self.gain, key=self.key)


@dataclass
class PlannedInput:
    name: str
    stream: int  # index into RenderPlan.streams ...
    channel: int  # ... and the channel of that stream this input is
    start: int  # first sample on the scene timeline (the stream's)
    filters: list[np.ndarray]  # per output format (RenderPlan.formats), (C_f, L) each
    send_gain: float = 0.0  # feed of the shared late tail ...
    send_delay: int = 0  # ... and its delay in samples
    role: str = "effects"  # the source's role: its mix bus
    moving: bool = False  # rendered by the moving path (spatial.motion); filters are silent

    @property
    def filt(self) -> np.ndarray:
        """(C, L): the filter into the first format."""
        return self.filters[0]

    @filt.setter
    def filt(self, value: np.ndarray) -> None:
        self.filters[0] = value


@dataclass
class FormatPlan:
    """What one output format of a render has of its own (the rest is shared)."""

    format: str
    channels: tuple[Channel, ...]
    spatialiser: object
    tail: np.ndarray | None  # (C, L) its late reverberation, or None (free field)
    length: int  # its output length in samples (filters of other formats ring longer)
    motion: MotionPlan | None = None  # its moving path (the geometry is the same for all)
    hidden: bool = False  # rendered for the dialogue-to-background meter only
    taps: bool = False  # its views carry the sources' dry blocks (an ADM master)

    @property
    def n_channels(self) -> int:
        return len(self.channels)


@dataclass
class RenderPlan:
    """Every input with its filter per output format, and the streams they read.
    channels, tail, length and motion are those of the first format (formats[0])."""

    channels: tuple[Channel, ...]
    inputs: list[PlannedInput]
    tail: np.ndarray | None  # (C, L) shared late reverberation, or None (free field)
    length: int  # output length in samples (the longest format's, once merged)
    streams: list[Stream] = field(default_factory=list)
    sample_rate: int = 48000
    motion: MotionPlan | None = None  # of the moving sources, or None
    format: str = "binaural"  # the (first) format's name
    spatialiser: object = None  # the (first) format's spatialiser
    formats: list[FormatPlan] = field(default_factory=list)  # set by merge_formats
    meter: int | None = None  # the format dialogue-to-background is measured in (mono)

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def outputs(self) -> list[FormatPlan]:
        """Every format asked for: those merged (merge_formats), else this plan's own."""
        return [fp for fp in self.rendered if not fp.hidden]

    @property
    def rendered(self) -> list[FormatPlan]:
        """Every format rendered: the outputs, then the meter's if it is none of them."""
        if self.formats:
            return self.formats
        return [FormatPlan(self.format, self.channels, self.spatialiser, self.tail,
                           self.length, self.motion)]


def merge_formats(plans: list[RenderPlan], meter: RenderPlan | None = None) -> RenderPlan:
    """One plan from the plans of one scene in several formats (each made by `plan`,
    with the mix applied): the streams and inputs are the same in all (same files, same
    order); each input gets one filter per format, and each format keeps its tail,
    length and moving path. meter: the mono plan the dialogue-to-background is measured
    in, when no format asked for is mono; it is the last format, hidden (rendered for
    the meter only). The first plan is changed and returned."""
    first = plans[0]
    every = plans + ([meter] if meter is not None else [])
    for q in every[1:]:
        if [i.name for i in q.inputs] != [i.name for i in first.inputs]:
            raise AssertionError("formats planned different inputs")
    first.formats = [q.outputs[0] for q in every]
    if meter is not None:
        first.formats[-1] = replace(first.formats[-1], hidden=True)
    names = [q.format for q in every]
    first.meter = names.index("mono") if "mono" in names else None
    for i, inp in enumerate(first.inputs):
        inp.filters = [q.inputs[i].filt for q in every]
    first.length = max(q.length for q in plans)  # what is handed out
    return first


def _source_key(index: int, key: str) -> str:
    return f"sources[{index}].{key}"


def relocate(err: SceneError, scene: Scene, default_key: str) -> SceneError:
    """Point problems found while rendering (in an audio or SOFA file) at the scene key
    that named that file: ``scene.yaml:14: sources[0].file: a.wav: cannot read ...``."""
    problems = []
    for p in err.problems:
        where = scene.where(p.key or default_key)
        if not where["file"]:
            problems.append(p)
            continue
        other_file = p.file and p.file != where["file"]
        problems.append(Problem(f"{p.file}: {p.message}" if other_file else p.message, **where))
    return SceneError(problems)


def source_filter(scene: Scene, source: Source, spatialiser, fs: int
                  ) -> tuple[np.ndarray, float, int]:
    """A diegetic source's (C, L) early filter, and its send to the tail: (gain, delay in samples).
    For format adm (an ADM master's room bed) the filter leaves the direct path (and
    its LFE feed) out: the source is an object of its own there (spatial.adm)."""
    from spatial.room import rir

    room_only = scene.output.format == "adm"  # an ADM master's room bed: no direct path
    if room_only and scene.room is None:
        return np.zeros((len(spatialiser.channels), 1)), 0.0, 0
    early = rir.early_filter(scene.room, source.position, scene.listener.position,
                             scene.listener.yaw, spatialiser, fs, direct=not room_only)
    filt = early.filt
    channels = spatialiser.channels
    names = [c.name for c in channels]
    if "LFE" in names and source.role in scene.output.lfe and not room_only:
        dist = float(np.linalg.norm(np.subtract(source.position, scene.listener.position)))
        feed = lfe_feed(fs, 1.0 / max(dist, MIN_DISTANCE_M), dist / SPEED_OF_SOUND)
        grown = np.zeros((filt.shape[0], max(filt.shape[1], feed.size)))
        grown[:, :filt.shape[1]] = filt
        grown[names.index("LFE"), :feed.size] += feed
        filt = grown
    if scene.room is None:
        return filt, 0.0, 0
    return filt, float(early.send_gain), int(round(early.send_delay_s * fs))


def bed_filters(index: int, n_channels: int, spatialiser, scene: Scene) -> list[np.ndarray]:
    """(C, L) filters, one per channel of a non-diegetic bed file (no send: no room)."""
    from spatial.filters.layouts import get_layout

    out_names = [c.name for c in spatialiser.channels]
    fmt = BED_FORMATS.get(n_channels, "?")
    if fmt == "?":
        known = ", ".join(f"{n} ({f or 'mono'})" for n, f in BED_FORMATS.items())
        raise SceneError.at(f"a bed with {n_channels} channels cannot be mapped to the output; "
                            f"beds may have {known} channels",
                            **scene.where(_source_key(index, "file")))
    if scene.output.format == "adm":  # an ADM master's beds are its own tracks
        return [np.zeros((len(out_names), 1)) for _ in range(n_channels)]
    if fmt is None:
        bed_channels = (Channel("C", 0.0, 0.0),)
    else:
        bed_channels = get_layout(Output(format=fmt)).channels
    speaker_output = any(c.azimuth_deg is not None for c in spatialiser.channels)
    filters = []
    for ch in bed_channels:
        filt = np.zeros((len(out_names), 1))
        if speaker_output and ch.name in out_names:
            filt[out_names.index(ch.name), 0] = 1.0  # exact mapping by channel name
        elif ch.name == "LFE":
            if "LFE" in out_names:
                filt[out_names.index("LFE"), 0] = 1.0
            elif out_names[0] == "ACN0":  # ambisonics: omnidirectional, W only
                filt[0, 0] = 1.0
            else:  # no LFE speaker: power shared equally over the channels
                filt[:, 0] = 1.0 / np.sqrt(len(out_names))
        else:  # a head-locked virtual speaker at the channel's nominal direction
            irs, delays = spatialiser.responses(unit_vectors(ch.azimuth_deg, ch.elevation_deg))
            fs = scene.sample_rate
            # a fixed pre-delay keeps the fractional-delay taps inside the filter
            pre = FRACTIONAL_TAPS // 2
            length = pre + int(np.ceil(delays.max() * fs)) + irs.shape[2] + FRACTIONAL_TAPS
            filt = np.zeros((len(out_names), length))
            scatter_images(filt, irs, pre + delays * fs, np.ones(1))
        filters.append(filt)
    return filters


_TAILS: dict[tuple, np.ndarray] = {}  # in-process cache: same room and output, same tail
# Least recently used go first, past this many bytes: a run of four formats plans five
# tails (with the mono meter's), 0.3-4 MB each; a cap of four entries evicted each one
# just before it was needed again, so repeated multi-format renders never hit.
_TAILS_BYTES = 64 << 20
_TAILS_LOCK = threading.Lock()  # renders side by side (spatial.batch) share the cache


def tail_filter(scene: Scene, spatialiser) -> np.ndarray:
    """The scene's shared late tail, (C, L); its noise is seeded from the scene's seed.

    It depends only on the room, the output format, the rate and the seed (not on the
    sources), so it is kept in-process for the next render of the same room (read-only).
    """
    from spatial.room import rir

    key = (repr(scene.room), repr(scene.output), int(scene.sample_rate), int(scene.seed),
           type(spatialiser).__name__, len(spatialiser.channels))
    with _TAILS_LOCK:
        tail = _TAILS.pop(key, None)
    if tail is None:  # made outside the lock (the same for every thread that makes it)
        rng = np.random.default_rng([int(scene.seed), 0x7A11])  # the tail's own stream
        tail = rir.tail_filter(scene.room, spatialiser, scene.sample_rate, rng,
                               tracer_seed=tracer_seed(scene.seed))
        tail.setflags(write=False)
    with _TAILS_LOCK:
        tail = _TAILS.setdefault(key, tail)  # another thread's, if it was first
        _TAILS[key] = _TAILS.pop(key)  # the newest last
        while len(_TAILS) > 1 and sum(t.nbytes for t in _TAILS.values()) > _TAILS_BYTES:
            _TAILS.pop(next(iter(_TAILS)))
    return tail


def tracer_seed(seed: int) -> int:
    """The ray tracer's seed (room.model "ray-tracing"), from the scene's own generator."""
    return int(np.random.default_rng([int(seed), 0x5EA7]).integers(2 ** 63))


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def plan(scene: Scene, spatialiser, threads: int | None = None) -> RenderPlan:
    """Probe every source file and build every filter (the files are decoded later,
    block by block, by the render loop), over `threads` threads (default numba's
    thread count). Raises SceneError for bad input."""
    from spatial import motion

    fs = scene.sample_rate
    inputs: list[PlannedInput] = []
    streams: list[Stream] = []
    problems = []
    moving = []  # (input index, source) of the moving sources
    def filters(i: int, src: Source):
        """One source's (source, file info, is moving, [(name, filt, send gain, send delay)])."""
        key = _source_key(i, "file")
        src = motion.static_view(src)  # a one-keyframe path is a position
        info = readers.probe(src.file, key=key)
        if motion.is_moving(scene, src):  # its delay and filters follow it
            send = (1.0, 0) if scene.room is not None else (0.0, 0)
            return src, info, True, [(src.name, np.zeros((len(spatialiser.channels), 1)), *send)]
        if src.diegetic:
            return src, info, False, [(src.name, *source_filter(scene, src, spatialiser, fs))]
        return src, info, False, [(f"{src.name}[{c}]", f, 0.0, 0) for c, f in
                                  enumerate(bed_filters(i, info.channels, spatialiser, scene))]

    def job(i: int, src: Source):
        try:
            return filters(i, src)
        except SceneError as err:
            return relocate(err, scene, _source_key(i, "file"))

    # sources are planned independently, over the cores (numba's kernels and numpy's
    # larger operations release the GIL), then put together in scene order
    n_threads = min(len(scene.sources), int(threads or _threads()))
    if n_threads > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(n_threads, thread_name_prefix="spatial-plan") as pool:
            results = list(pool.map(job, range(len(scene.sources)), scene.sources))
    else:
        results = [job(i, src) for i, src in enumerate(scene.sources)]
    for i, result in enumerate(results):
        if isinstance(result, SceneError):
            problems.extend(result.problems)
            continue
        src, info, is_moving, filts = result
        key = _source_key(i, "file")
        if is_moving:
            moving.append((len(inputs), src))
        start = int(round(src.start * fs))
        stream = Stream(info, src.diegetic, 10.0 ** (src.gain_db / 20.0), start,
                        info.length_at(fs), key)
        streams.append(stream)
        for c, (name, filt, send_gain, send_delay) in enumerate(filts):
            inputs.append(PlannedInput(name, len(streams) - 1, c, start, [filt], send_gain,
                                       send_delay, src.role,
                                       bool(moving) and moving[-1][1] is src))
    if problems:
        raise SceneError(problems)

    tail = tail_filter(scene, spatialiser) if scene.room is not None else None
    motion_plan = motion.plan_motion(scene, spatialiser, moving) if moving else None

    if scene.duration is not None:
        length = int(round(scene.duration * fs))
    else:  # end of the last source, plus the time its filters (and the room) ring out
        ring = max((p.filt.shape[1] for p in inputs), default=1) - 1
        if tail is not None:
            ring = max([ring] + [p.send_delay + tail.shape[1] - 1 for p in inputs
                                 if p.send_gain])
        length = max((s.start + s.length for s in streams), default=0) + ring
        if motion_plan is not None:  # a moving source rings out after its longest delay
            length += max(int(np.ceil(m.max_delay_s * fs)) for m in motion_plan.sources)
    return RenderPlan(tuple(spatialiser.channels), inputs, tail, max(length, 0), streams, fs,
                      motion_plan, scene.output.format, spatialiser)
