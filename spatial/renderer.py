"""Run a render plan through the block convolution engine.

Two stages share one block loop:
1. every input (source or bed channel) through its own filter, all accumulated
   per output channel in the frequency domain;
2. the send bus (each source times its send gain, delayed; summed in the time
   domain, as it is only a gain and a delay) through the shared late tail.
Output block b of both stages corresponds to input block b, so the stages add
sample-aligned. Work is done block by block: later, inputs can be streamed and
filters changed between blocks (BlockConvolver.set_filter crossfades).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from spatial.errors import SceneError
from spatial.filters.base import Channel
from spatial.plan import RenderPlan, plan, relocate, source_filter, tail_filter
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
        from spatial.audio import write_audio

        return write_audio(path, self.audio, self.sample_rate, subtype=subtype,
                           channel_mask=_channel_mask(self.format))


def _channel_mask(fmt: str) -> int | None:
    if fmt in ("binaural", "mono"):
        return None
    from spatial.filters.layouts import channel_mask, get_layout
    from spatial.scene.model import Output

    if fmt == "custom":
        return 0
    return channel_mask(get_layout(Output(format=fmt))) or 0


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


def _read_block(signal: np.ndarray, lo: int, row: np.ndarray, gain: float | None = None) -> None:
    """Samples lo .. lo + len(row) of `signal` (zero outside it) into `row`: set, or added
    times `gain`."""
    if gain is None:
        row[:] = 0.0
    a, z = max(lo, 0), min(lo + row.size, signal.size)
    if a < z:
        if gain is None:
            row[a - lo:z - lo] = signal[a:z]
        else:
            row[a - lo:z - lo] += gain * signal[a:z]


def run_plan(p: RenderPlan, block_size: int | None = None, progress: bool = False) -> np.ndarray:
    """Convolve every planned input and the shared tail; returns (length, C) float32."""
    from spatial.engine.convolver import DEFAULT_BLOCK, BlockConvolver

    B = int(block_size or DEFAULT_BLOCK)
    C = p.n_channels
    # single precision: the output is float32, and it halves the FFT and MAC cost;
    # the engine's error stays ~1e-7 of the peak (tests/test_engine.py bounds it)
    stage1 = BlockConvolver(B, C, dtype=np.float32)
    for inp in p.inputs:
        stage1.add_input(inp.filt)
    stage2 = None
    senders = [inp for inp in p.inputs if inp.send_gain != 0.0]
    if p.tail is not None and senders:
        stage2 = BlockConvolver(B, C, dtype=np.float32)
        stage2.add_input(p.tail)
    n_blocks = -(-p.length // B)
    out = np.zeros((n_blocks * B, C), np.float32)
    blocks = np.zeros((len(p.inputs), B), np.float32)
    send = np.zeros((1, B), np.float32)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_blocks, unit="block", leave=False, file=sys.stderr)
    for b in range(n_blocks):
        t0 = b * B
        for i, inp in enumerate(p.inputs):
            _read_block(inp.signal, t0 - inp.start, blocks[i])
        out[t0:t0 + B] = stage1.process(blocks).T
        if stage2 is not None:
            send[:] = 0.0
            for inp in senders:
                _read_block(inp.signal, t0 - inp.start - inp.send_delay, send[0], inp.send_gain)
            out[t0:t0 + B] += stage2.process(send).T
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out[:p.length]


def render(scene: Scene, *, progress: bool = False, block_size: int | None = None) -> Rendered:
    """Render a scene to audio in memory. Raises SceneError for bad input."""
    t_start = time.perf_counter()
    _check(scene)
    spatialiser = _spatialiser(scene)
    p = plan(scene, spatialiser)
    t_planned = time.perf_counter()
    audio = run_plan(p, block_size=block_size, progress=progress)
    t_done = time.perf_counter()
    stats = {"plan_s": t_planned - t_start, "convolve_s": t_done - t_planned,
             "wall_s": t_done - t_start, "inputs": len(p.inputs)}
    return Rendered(audio, scene.sample_rate, p.channels,
                    scene.output.format, stats)


def impulse_response(scene: Scene, source: str) -> Rendered:
    """The spatial impulse response from one source to the listener, in the output format.

    Early filter (direct path and reflections) plus the shared tail driven by
    that source's send: exactly what the source goes through in `render`.
    """
    _check(scene)
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
