"""Render a scene: plan it (spatial.plan), then run the streaming loop (spatial.loop).

- `render(scene)`: in memory, for short scenes (the loop writing into an array);
- `render_to_file(scene, path)`: block by block into an output file
  (spatial.writer), memory independent of the scene's length;
- `render_stream(scene)`: the blocks themselves, for a caller's own sink.
All three run the same loop on the same plan, so they give the same samples.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from spatial.errors import SceneError
from spatial.filters.base import Channel
from spatial.filters.layouts import file_mask
from spatial.plan import RenderPlan, plan, relocate, source_filter, tail_filter
from spatial.progress import ProgressTicks
from spatial.scene.model import Scene


@dataclass(frozen=True)
class Rendered:
    """A rendered scene: audio (n, C) float32 at sample_rate, with its channels."""

    audio: np.ndarray
    sample_rate: int
    channels: tuple[Channel, ...]
    format: str
    stats: dict = field(default_factory=dict, compare=False)

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels)

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.sample_rate

    def write(self, path, subtype: str | None = None):
        """Write atomically to .wav (float32 default) or .flac; returns the path."""
        from spatial.writer import write_audio

        return write_audio(path, self.audio, self.sample_rate, subtype=subtype,
                           channel_mask=file_mask(self.format))


def _spatialiser(scene: Scene):
    """The output format's spatialiser; its problems point at the scene's output keys."""
    from spatial.filters.speakers import make_spatialiser

    try:
        return make_spatialiser(scene.output, scene.sample_rate)
    except SceneError as err:
        default_key = "output.hrtf" if scene.output.format == "binaural" else "output.format"
        raise relocate(err, scene, default_key) from None


def _check(scene: Scene) -> None:
    from spatial.scene.loader import check_geometry

    check_geometry(scene)


def run_plan(p: RenderPlan, block_size: int | None = None, progress=False,
             scene: Scene | None = None) -> np.ndarray:
    """Run a plan through the streaming loop into memory; returns (length, C) float32.
    scene: mix by its `mix` section (spatial.mix.buses; before loudness and limiter)."""
    from spatial.loop import RenderLoop

    out = np.empty((p.length, p.n_channels), np.float32)
    done = 0
    if scene is not None:
        from spatial.mix.buses import mix_loop

        blocks = (mix for mix, _ in mix_loop(p, scene, block_size).blocks())
    else:
        blocks = RenderLoop(p, block_size).blocks()
    with ProgressTicks(progress, p.length) as tick:
        for block in blocks:
            out[done:done + block.shape[0]] = block
            done += block.shape[0]
            tick(done)
    return out


def _plan(scene: Scene):
    from spatial.mix.plan import apply as apply_mix  # transitions, dialogue to centre

    from threadpoolctl import threadpool_limits

    _check(scene)
    # one BLAS thread while planning: the same filters, bit for bit, whatever the
    # machine's BLAS threading (and OpenBLAS's threads only slowed planning down)
    with threadpool_limits(limits=1, user_api="blas"):
        spatialiser = _spatialiser(scene)
        return apply_mix(scene, spatialiser, plan(scene, spatialiser))


def _mixed(scene: Scene) -> bool:
    """Whether the scene needs the mix (buses, ducking, loudness: spatial.mix)."""
    from spatial.mix.buses import needs_buses

    return needs_buses(scene) or scene.output.loudness is not None \
        or scene.output.true_peak is not None


def render(scene: Scene, *, progress=False, block_size: int | None = None) -> Rendered:
    """Render a scene to audio in memory (for short scenes; `render_to_file` streams).
    Same samples as `render_to_file`. progress: True for a bar on stderr, or a callable
    progress(done_frames, total_frames). Raises SceneError for bad input."""
    t_start = time.perf_counter()
    p = _plan(scene)
    t_planned = time.perf_counter()
    mix = None
    if _mixed(scene):  # buses, ducking, then loudness and limiter (spatial.mix)
        from spatial.mix.deliver import master_array

        audio = run_plan(p, block_size=block_size, progress=progress, scene=scene)
        audio, mix = master_array(audio, p.sample_rate, p.channels, scene.output.loudness,
                                  scene.output.true_peak)
    else:
        audio = run_plan(p, block_size=block_size, progress=progress)
    t_done = time.perf_counter()
    stats = {"plan_s": t_planned - t_start, "convolve_s": t_done - t_planned,
             "wall_s": t_done - t_start, "inputs": len(p.inputs), **_motion_stats(p)}
    if mix is not None:
        stats["mix"] = mix
    return Rendered(audio, scene.sample_rate, p.channels,
                    scene.output.format, stats)


@dataclass
class RenderStream:
    """A render in progress: iterate it for (n, C) float32 blocks (each valid until the
    next is asked for). `length` frames at `sample_rate` in all, channels as in Rendered."""

    sample_rate: int
    channels: tuple[Channel, ...]
    format: str
    length: int
    _loop: object = field(repr=False, default=None)

    def __iter__(self):
        return self._loop.blocks()

    @property
    def channel_mask(self) -> int | None:
        return file_mask(self.format)


def render_stream(scene: Scene, *, block_size: int | None = None) -> RenderStream:
    """Plan a scene and return its output as a stream of blocks; memory does not grow
    with the scene's length. Raises SceneError for bad input (before any block).
    The blocks are the mix before the master: output.loudness and output.true_peak
    need the whole programme (render_to_file, render)."""
    p = _plan(scene)
    if _mixed(scene):
        from spatial.mix.buses import MixOnly, mix_loop

        return RenderStream(p.sample_rate, p.channels, scene.output.format, p.length,
                            MixOnly(mix_loop(p, scene, block_size)))
    return _stream(p, scene.output.format, block_size)


def render_to_file(scene: Scene, path, *, subtype: str | None = None, progress=None,
                   block_size: int | None = None, stems: bool = False) -> dict:
    """Render a scene straight to an audio file, block by block (bounded memory).

    The file is committed only when the whole render succeeded (spatial.writer).
    progress: None, True (a bar on stderr) or progress(done_frames, total_frames).
    Returns stats: plan_s, convolve_s (the loop, writing included), wall_s,
    inputs, frames, path, and mix: the summary of spatial.mix.deliver (loudness,
    loudness range, true peak, clipped samples, stems). stems: also write one
    file per bus (as output.stems). Raises SceneError for bad input or a bad
    output path.
    """
    from spatial.mix.deliver import deliver
    from spatial.writer import check_output

    t_start = time.perf_counter()
    p = _plan(scene)
    fmt = scene.output.format
    check_output(path, scene.sample_rate, p.n_channels, subtype, p.length)
    t_planned = time.perf_counter()
    # the mix (buses, ducking), loudness and limiter, stems, metered (spatial.mix.deliver)
    mix = deliver(scene, p, path, subtype, progress, block_size, stems)
    t_done = time.perf_counter()
    return {"plan_s": t_planned - t_start, "convolve_s": t_done - t_planned,
            "wall_s": t_done - t_start, "inputs": len(p.inputs), "frames": p.length,
            "path": str(path), "mix": mix, **_motion_stats(p)}


def _motion_stats(p: RenderPlan) -> dict:
    """moving_sources and control_rate_hz (spatial.motion)."""
    from spatial.motion import stats

    return stats(p)


def _stream(p: RenderPlan, fmt: str, block_size: int | None = None) -> RenderStream:
    from spatial.loop import RenderLoop

    return RenderStream(p.sample_rate, p.channels, fmt, p.length, RenderLoop(p, block_size))


def impulse_response(scene: Scene, source: str) -> Rendered:
    """The spatial impulse response from one source to the listener, in the output format.

    Early filter (direct path and reflections) plus the shared tail driven by
    that source's send: exactly what the source goes through in `render`.
    """
    _check(scene)
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
    return Rendered(ir.T.astype(np.float32), fs, tuple(spatialiser.channels), scene.output.format)
