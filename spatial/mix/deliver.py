"""Deliver a render: the mix (and its stems) to files or to memory, mastered, measured.

Both :func:`deliver_file` (``spatial.render_to_file``) and :func:`deliver_memory`
(``spatial.render``) run the same steps into different sinks (:mod:`spatial.sinks`),
so they give the same samples and the same summary:

Without ``output.loudness`` or ``output.true_peak``: one pass, the mix (and each
stem) written block by block as the loop makes it, metered on the way
(:class:`spatial.sinks.MeterSink`).

With either: two passes, for files without holding the programme in memory:
1. the mix and each stem go to a temporary float32 file beside the output (in
   memory: an array), the mix metered;
2. :func:`spatial.master.master` reads them back: gain to the target, the
   true-peak limiter, loudness passes, into the output; stems get the same
   gain, not the limiter. Temporary files are removed whatever happens.

The summary reports target, ceiling, gain_db, the achieved integrated loudness,
loudness range and true peak, the sample peak, how many samples are above full
scale (clipped), dialogue_to_background, stems (bus -> path; None in memory)
and a warning (:func:`spatial.master.warning`: clipping is never silent); with
two passes also rendered (the figures of pass 1) and limited_frames.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from spatial.master import array_reader, file_reader, master, warning
from spatial.sinks import ArraySink, FileSink, MeterSink, deliver


def stem_path(path, role: str) -> Path:
    """out.wav -> out.dialogue.wav"""
    path = Path(path)
    return path.with_name(f"{path.stem}.{role}{path.suffix}")


class _Files:
    """The deliverables as files: path and a file per bus beside it."""

    def __init__(self, path: Path, subtype, stem_paths: dict):
        from spatial.writer import WRITE_FORMATS

        self.path, self.subtype, self.stem_paths = path, subtype, stem_paths
        self.format = subtype or WRITE_FORMATS.get(path.suffix.lower(), (None, "FLOAT"))[1]
        self.temps = {None: _temp(path)} | {b: _temp(sp) for b, sp in stem_paths.items()}

    def direct(self) -> list:
        return [FileSink(self.path, self.subtype)] + [
            FileSink(sp, self.subtype, bus=b) for b, sp in self.stem_paths.items()]

    def temporary(self) -> list:
        return [FileSink(self.temps[None], "FLOAT")] + [
            FileSink(self.temps[b], "FLOAT", bus=b) for b in self.stem_paths]

    def read(self, bus=None):
        return file_reader(self.temps[bus])

    def final(self, bus=None):
        return FileSink(self.path if bus is None else self.stem_paths[bus], self.subtype)

    def delivered(self, mix, stems) -> None:
        pass  # the files are in place

    def close(self) -> None:
        for t in self.temps.values():
            try:
                os.unlink(t)
            except OSError:
                pass


class _Memory:
    """The deliverables as arrays (spatial.render)."""

    format = "FLOAT"

    def __init__(self, buses):
        self.buses, self.first, self.audio, self.stems = list(buses), None, None, {}

    def direct(self) -> list:
        self.first = ArraySink(self.buses)
        return [self.first]

    temporary = direct

    def read(self, bus=None):
        src = self.first.audio if bus is None else self.first.stems[bus]
        return contextlib.nullcontext(array_reader(src))

    def final(self, bus=None):
        return ArraySink()

    def delivered(self, mix, stems) -> None:
        """mix: the committed sink of the mix; stems: bus -> sink (None: in mix's)."""
        self.audio = mix.audio
        self.stems = mix.stems if stems is None else {b: s.audio for b, s in stems.items()}

    def close(self) -> None:
        self.first = None


def _temp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.pass1.wav")


def wants_stems(scene, stems: bool = False) -> bool:
    return bool(stems or scene.output.stems)


def deliver_file(scene, p, path, subtype=None, progress=None, block_size=None,
                 stems: bool = False) -> dict:
    """Render plan p of scene to `path` (and stems); returns the summary (module doc)."""
    from spatial.mix.buses import mix_loop
    from spatial.writer import check_output

    path = Path(path)
    loop = mix_loop(p, scene, block_size, stems)
    stem_paths = {b: stem_path(path, b) for b in loop.roles} if wants_stems(scene, stems) \
        else {}
    for sp in stem_paths.values():
        check_output(sp, p.sample_rate, p.n_channels, subtype, p.length)
    summary = _deliver(scene, p, loop, _Files(path, subtype, stem_paths), progress,
                       list(stem_paths))
    summary["stems"] = {b: str(sp) for b, sp in stem_paths.items()}
    return summary


def deliver_memory(scene, p, progress=None, block_size=None, stems: bool = False):
    """Render plan p of scene in memory; returns (audio, stems, summary): the mix
    (n, C) float32, bus -> (n, C) float32 (empty unless stems are asked for, by
    `stems` or output.stems) and the summary (module doc; stems: bus -> None)."""
    from spatial.mix.buses import mix_loop

    loop = mix_loop(p, scene, block_size, stems)
    buses = list(loop.roles) if wants_stems(scene, stems) else []
    place = _Memory(buses)
    summary = _deliver(scene, p, loop, place, progress, buses)
    summary["stems"] = {b: None for b in buses}
    return place.audio, place.stems, summary


def _deliver(scene, p, loop, place, progress, buses) -> dict:
    from spatial.filters.layouts import get_layout
    from spatial.mix.buses import frames
    from spatial.renderer import _progress

    fmt, fs, n = scene.output.format, p.sample_rate, p.length
    layout = get_layout(scene.output)
    target, ceiling = scene.output.loudness, scene.output.true_peak
    two_pass = target is not None or ceiling is not None
    summary = {"target": target, "ceiling": ceiling, "gain_db": 0.0}
    meter = MeterSink()
    blocks = frames(loop, fmt, bool(buses))
    with _progress(progress, 2 * n if two_pass else n) as tick:
        if not two_pass:
            sinks = place.direct()
            deliver(blocks, {fmt: sinks + [meter]}, {fmt: layout}, fs, n, tick)
            summary.update(meter.summary())
            place.delivered(sinks[0], None)
        else:
            try:
                deliver(blocks, {fmt: place.temporary() + [meter]}, {fmt: layout}, fs, n,
                        tick)
                summary["rendered"] = meter.summary()
                with contextlib.ExitStack() as stack:
                    read = stack.enter_context(place.read())
                    stem_io = {b: (stack.enter_context(place.read(b)), place.final(b))
                               for b in buses}
                    mastered, sink = master(
                        read, n, layout, fs, place.final, target=target, ceiling=ceiling,
                        measured=meter.meter.integrated(), stems=stem_io,
                        progress=lambda done: tick(n + done))
                summary.update(mastered)
                place.delivered(sink, {b: s for b, (_, s) in stem_io.items()})
            finally:
                place.close()
    summary["dialogue_to_background"] = meter.dialogue_to_background()
    summary["warning"] = warning(summary, place.format)
    return summary
