"""Render a scene: plan it (spatial.plan), then run the streaming loop (spatial.loop).

- `render(scene)`: in memory, for short scenes (the loop writing into an array);
- `render_to_file(scene, path)`: block by block into an output file
  (spatial.writer), memory independent of the scene's length;
- `render_stream(scene)`: the blocks themselves, for a caller's own sink.
All three run the same loop on the same plan, so they give the same samples.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field

import numpy as np

from spatial.engine.warmup import prepare
from spatial.filters.hrtf_warmup import prepare_hrtf
from spatial.progress import ProgressTicks
from spatial.errors import SceneError
from spatial.filters.base import Channel
from spatial.filters.layouts import Layout, get_layout
from spatial.plan import (RenderPlan, merge_formats, plan, relocate, source_filter,
                          tail_filter)
from spatial.scene.model import Scene


@dataclass(frozen=True)
class Rendered:
    """A rendered scene: audio (n, C) float32 at sample_rate, with its channels;
    stems: bus -> (n, C) float32 (when asked for), with the mix's master gain and
    without its limiter, so before the limiter they sum to the mix."""

    audio: np.ndarray
    sample_rate: int
    channels: tuple[Channel, ...]
    format: str
    stats: dict = field(default_factory=dict, compare=False)
    stems: dict = field(default_factory=dict, compare=False)
    layout: Layout | None = field(default=None, compare=False, repr=False)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def write(self, path, subtype: str | None = None):
        """Write the mix atomically to .wav (float32 default) or .flac, with the
        layout's channel mask (spatial.sinks.FileSink); returns the path."""
        from pathlib import Path

        from spatial.sinks import BusView, FileSink, deliver

        layout = self.layout or Layout(self.format, "unknown", tuple(self.channels))
        audio = np.asarray(self.audio, np.float32).reshape(self.audio.shape[0], -1)
        deliver([{self.format: BusView(audio)}], {self.format: [FileSink(path, subtype)]},
                {self.format: layout}, self.sample_rate, audio.shape[0], threads=1)
        return Path(path)


def _scene(scene) -> Scene:
    """A Scene, or the scene file at a path (str or os.PathLike) loaded as the command
    loads it (spatial.load_scene: SceneError naming the file, line and key)."""
    if isinstance(scene, Scene):
        return scene
    if isinstance(scene, (str, os.PathLike)):
        from spatial.scene.loader import load_scene

        return load_scene(scene)
    raise TypeError(f"expected a spatial.Scene or the path of a scene file, got "
                    f"{type(scene).__name__}")


def _spatialiser(scene: Scene):
    """The output format's spatialiser; its problems point at the scene's output keys."""
    from spatial.filters.speakers import make_spatialiser

    try:
        return make_spatialiser(scene.output, scene.sample_rate)
    except SceneError as err:
        default_key = "output.hrtf" if scene.output.format == "binaural" else "output.format"
        raise relocate(err, scene, default_key) from None


@contextlib.contextmanager
def _located(scene: Scene):
    """Problems found while rendering (a source's bad samples) at the scene key naming
    the file: ``scene.yaml:5: sources[0].file: a.wav: audio file holds ...``."""
    try:
        yield
    except SceneError as err:
        if all(p.key is None for p in err.problems):
            raise
        raise relocate(err, scene, "") from None


def _check(scene: Scene) -> None:
    from spatial.scene.loader import check_geometry

    check_geometry(scene)


def run_plan(p: RenderPlan, block_size: int | None = None, progress=False,
             scene: Scene | None = None) -> np.ndarray:
    """Run a plan through the streaming loop into memory; returns (length, C) float32 of
    its first format. scene: mix by its `mix` section (spatial.routing; before loudness
    and limiter)."""
    from spatial.loop import RenderLoop

    if scene is not None:
        from spatial.mix.deliver import render_loop

        loop = render_loop(p, scene, block_size)
    else:
        loop = RenderLoop(p, block_size)
    out = np.empty((loop.length, p.n_channels), np.float32)
    done = 0
    with ProgressTicks(progress, loop.length) as tick:
        for block in loop.blocks():
            out[done:done + block.shape[0]] = block
            done += block.shape[0]
            tick(done)
    return out[:done]


def passage(scene: Scene, p: RenderPlan, start: float | None, end: float | None,
            flags: tuple[str, str] = ("start", "end")) -> tuple[int, int | None]:
    """A passage [start, end) s of the render as samples (start 0, end None: the whole).
    Raises SceneError naming `flags` for a passage outside the scene or an empty one."""
    import math

    fs = scene.sample_rate
    length = p.length / fs
    problems = []
    a = 0.0 if start is None else float(start)
    b = None if end is None else float(end)
    if not (math.isfinite(a) and a >= 0.0):
        problems.append((flags[0], f"must be a time >= 0 s, got {start}"))
    elif a >= length:
        problems.append((flags[0], f"{a:g} s is at or past the end of the render "
                                   f"({length:.3f} s)"))
    if b is not None and not (math.isfinite(b) and b > a):
        problems.append((flags[1], f"must be a time after the start ({a:g} s), got {end}"))
    if problems:
        from spatial.errors import Problem

        raise SceneError([Problem(msg, file=str(scene.path) if scene.path else None,
                                  key=key) for key, msg in problems])
    return int(round(a * fs)), None if b is None else int(round(b * fs))


def _plan(scene: Scene, threads: int | None = None, allow_large: bool = False,
          in_memory: bool = False, stems: bool = False):
    from spatial import resources
    from spatial.mix.plan import apply as apply_mix  # transitions, dialogue to centre
    from spatial.routing import dialogue_metered

    from threadpoolctl import threadpool_limits

    _check(scene)
    # the limits (sources, channels, image sources, tail, memory) before any allocation
    resources.check(scene, allow_large, in_memory=in_memory, stems=stems)
    # one BLAS thread while planning: the same filters, bit for bit, whatever the
    # machine's BLAS threading (and OpenBLAS's threads only slowed planning down)
    with threadpool_limits(limits=1, user_api="blas"):
        def planned(fmt):
            one = format_scene(scene, fmt)
            spatialiser = _spatialiser(one)
            return apply_mix(one, spatialiser, plan(one, spatialiser, threads))

        plans = [planned(fmt) for fmt in scene.output.formats]  # one pass renders all
        # dialogue-to-background is measured on the mono rendering (spatial.routing):
        # planned too when dialogue plays with other roles and no format is mono
        meter = None
        if dialogue_metered(plans[0]) and "mono" not in scene.output.formats:
            meter = planned("mono")
        merged = merge_formats(plans, meter)
        if "adm" in scene.output.formats:  # an ADM master: taps, its room bed (spatial.adm)
            from spatial.adm.plan import mark

            mark(merged, scene)
        return merged


def format_scene(scene: Scene, fmt: str) -> Scene:
    """The scene with one of its output formats only (itself when it has one)."""
    if scene.output.formats == (fmt,):
        return scene
    from spatial.scene.parts import checked

    with checked():
        return dataclasses.replace(scene, output=scene.output.single(fmt))


def render(scene: Scene | str | os.PathLike, *, progress=False,
           block_size: int | None = None, stems: bool = False, start: float | None = None,
           end: float | None = None, allow_large: bool = False):
    """Render a scene (a Scene, or a scene file's path) to audio in memory (for short
    scenes; `render_to_file` streams).
    Same samples, and the same stats["mix"] summary, as `render_to_file`: buses,
    ducking, loudness and limiter (spatial.mix.deliver into an array sink).
    stems (or output.stems): also return one array per bus in Rendered.stems.
    start, end (s): only that passage (with the room and the moving sources as they
    are then, and the reverberation of what sounded before it).
    progress: True for a bar on stderr, or a callable progress(done_frames,
    total_frames). Returns a Rendered, or with several output formats a dict
    format -> Rendered, all from one pass. Raises SceneError for bad input, and for
    a scene past the resource limits (spatial.resources: among them a result that
    would not fit comfortably in the free memory: use render_to_file) unless
    allow_large."""
    from spatial.mix.deliver import deliver_memory

    scene = _scene(scene)
    compile_s = prepare(scene)  # numba kernels, before the clock (spatial.engine.warmup)
    hrtf_s = prepare_hrtf(scene.output, scene.sample_rate)  # and the HRTF set, once
    t_start = time.perf_counter()
    p = _plan(scene, allow_large=allow_large, in_memory=True, stems=stems)
    a, b = passage(scene, p, start, end)
    t_planned = time.perf_counter()
    with _located(scene):
        done = deliver_memory(scene, p, progress, block_size, stems, a, b)
    t_done = time.perf_counter()
    out = {}
    for fp in p.outputs:
        audio, stem_audio, mix = done[fp.format]
        stats = {"plan_s": t_planned - t_start, "convolve_s": t_done - t_planned,
                 "wall_s": t_done - t_start, "compile_s": compile_s, "hrtf_s": hrtf_s,
                 "inputs": len(p.inputs), **_motion_stats(p), "mix": mix}
        out[fp.format] = Rendered(audio, scene.sample_rate, fp.channels, fp.format, stats,
                                  stem_audio, get_layout(scene.output.single(fp.format)))
    return out if len(out) > 1 else out[p.outputs[0].format]


@dataclass
class RenderStream:
    """A render in progress: iterate it for (n, C) float32 blocks (each valid until the
    next is asked for). `length` frames at `sample_rate` in all, channels as in Rendered."""

    sample_rate: int
    channels: tuple[Channel, ...]
    format: str
    length: int
    _loop: object = field(repr=False, default=None)
    layout: Layout | None = field(repr=False, default=None)

    def __iter__(self):
        return self._loop.blocks()

    @property
    def channel_mask(self) -> int | None:
        """The WAVE channel mask of the layout (None: binaural, mono, ambisonics)."""
        return self.layout.mask if self.layout is not None else None


def render_stream(scene: Scene | str | os.PathLike, *, block_size: int | None = None,
                  allow_large: bool = False) -> RenderStream:
    """Plan a scene and return its output as a stream of blocks; memory does not grow
    with the scene's length. Raises SceneError for bad input (before any block).
    The blocks are the mix of the first format before the master: output.loudness and
    output.true_peak need the whole programme (render_to_file, render)."""
    from spatial.mix.deliver import render_loop

    scene = _scene(scene)
    p = _plan(scene, allow_large=allow_large)
    fp = p.outputs[0]
    return RenderStream(p.sample_rate, fp.channels, fp.format, fp.length,
                        render_loop(p, scene, block_size),
                        get_layout(scene.output.single(fp.format)))


def render_to_file(scene: Scene | str | os.PathLike, path, *, subtype: str | None = None,
                   progress=None, block_size: int | None = None, stems: bool = False,
                   start: float | None = None, end: float | None = None,
                   sinks: dict | None = None, threads: int | None = None,
                   allow_large: bool = False) -> dict:
    """Render a scene straight to an audio file, block by block (bounded memory).

    The files are committed only when the whole render succeeded (spatial.writer).
    Several output formats: one pass, one file per format, out.<format>.wav
    (spatial.mix.deliver.format_path; stems out.<format>.<bus>.wav).
    progress: None, True (a bar on stderr) or progress(done_frames, total_frames).
    start, end (s): only that passage (see `render`).
    Returns stats: plan_s, convolve_s (the loop, writing included), wall_s,
    compile_s (numba kernels compiled first, not in wall_s: spatial.engine.warmup),
    hrtf_s (the HRTF set processed first, once, not in wall_s: spatial.filters.hrtf_warmup),
    inputs, frames, path, and mix: the summary of spatial.mix.deliver (loudness,
    loudness range, true peak, clipped samples, stems), of the first format;
    outputs: format -> {path, frames, mix} for every format. stems: also write one
    file per bus (as output.stems). sinks: format -> more sinks (spatial.sinks.Sink)
    fed the render's views before mastering (spatial.mix.deliver.deliver_file); their
    commit() results are in outputs[format]["mix"]["sinks"]. threads: the planner's
    and the loop's threads (default numba's thread count; the output does not depend
    on it). Raises SceneError for bad input, a bad output path, or a scene past the
    resource limits (spatial.resources) unless allow_large.
    """
    from spatial.mix.deliver import check_deliverable, deliver_file, deliverables
    from spatial.safety import refuse_unsafe_outputs

    scene = _scene(scene)
    # never over one of the scene's inputs, never two deliverables on one file
    refuse_unsafe_outputs(scene, [(what, f) for fmt, (main, stem_files) in
                                  deliverables(scene, path, stems).items()
                                  for what, f in [(fmt, main)] + [
                                      (f"{fmt} {b} stem", sf) for b, sf in stem_files.items()]],
                          key="path")
    compile_s = prepare(scene)  # numba kernels, before the clock (spatial.engine.warmup)
    hrtf_s = prepare_hrtf(scene.output, scene.sample_rate)  # and the HRTF set, once
    t_start = time.perf_counter()
    p = _plan(scene, threads, allow_large)
    a, b = passage(scene, p, start, end)
    from spatial.mix.deliver import format_path

    for fp in p.outputs:
        n = max(0, min(fp.length, p.length if b is None else b) - a)
        check_deliverable(format_path(path, fp.format, scene.output.formats), fp.format,
                          scene, fp.n_channels, subtype, n)
    t_planned = time.perf_counter()
    # the mix (buses, ducking), loudness and limiter, stems, metered (spatial.mix.deliver)
    with _located(scene):
        mixes = deliver_file(scene, p, path, subtype, progress, block_size, stems, a, b,
                             sinks, threads)
    t_done = time.perf_counter()
    outputs = {}
    for fp in p.outputs:
        n = max(0, min(fp.length, p.length if b is None else b) - a)
        outputs[fp.format] = {"path": str(format_path(path, fp.format, scene.output.formats)),
                              "frames": n,
                              "mix": mixes[fp.format]}
    first = outputs[p.outputs[0].format]
    return {"plan_s": t_planned - t_start, "convolve_s": t_done - t_planned,
            "wall_s": t_done - t_start, "compile_s": compile_s, "hrtf_s": hrtf_s,
            "inputs": len(p.inputs),
            "frames": first["frames"], "path": first["path"], "mix": first["mix"],
            "outputs": outputs, **_motion_stats(p)}


def _motion_stats(p: RenderPlan) -> dict:
    """moving_sources and control_rate_hz (spatial.motion)."""
    from spatial.motion import stats

    return stats(p)


def impulse_response(scene: Scene | str | os.PathLike, source: str) -> Rendered:
    """The spatial impulse response from one source to the listener, in the output format.

    Early filter (direct path and reflections) plus the shared tail driven by
    that source's send: exactly what the source goes through in `render`.
    """
    scene = _scene(scene)
    _check(scene)
    if scene.output.format == "adm":
        raise SceneError.at("an impulse response has no ADM form: render it as hoa3 or "
                            "7.1.4 (the room beds an ADM master uses)", key="output.format")
    from spatial import resources

    resources.check(scene)
    src = scene.source(source)
    if src.path or scene.listener.path:  # moving: the response where the source starts
        from spatial.motion import frozen_scene

        scene = frozen_scene(scene, src.start)
        src = scene.source(source)
    if not src.diegetic:
        raise SceneError.at(f"source {source!r} is a non-diegetic bed: it has no room response",
                            file=scene.path)
    spatialiser = _spatialiser(scene)
    fs = scene.sample_rate
    early, send_gain, send_delay = source_filter(scene, src, spatialiser, fs)
    if scene.room is None or send_gain == 0.0:
        ir = early
    else:
        from spatial.room.rir import with_tail

        ir = with_tail(early, send_gain, send_delay, tail_filter(scene, spatialiser))
    return Rendered(ir.T.astype(np.float32), fs, tuple(spatialiser.channels), scene.output.format,
                    layout=get_layout(scene.output))
