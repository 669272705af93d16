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


def format_path(path, fmt: str, formats) -> Path:
    """The file of one format: `path` itself when the render has one format, else
    out.wav -> out.<format>.wav (out.5.1.wav, out.hoa3.wav ...)."""
    path = Path(path)
    if len(formats) == 1:
        return path
    return path.with_name(f"{path.stem}.{fmt}{path.suffix}")


def render_loop(p, scene, block_size=None, stems: bool = False, start: int = 0,
                end: int | None = None, threads: int | None = None):
    """The scene's one render pass (spatial.loop) with its buses (spatial.routing):
    stems when asked for (or output.stems), dialogue kept apart for its meter."""
    from spatial import routing
    from spatial.loop import RenderLoop

    rt = routing.make(p, scene, wants_stems(scene, stems), meter=True)
    return RenderLoop(p, block_size, routing=rt, start=start, end=end, threads=threads)


def stem_names(loop) -> list[str]:
    """The buses a loop renders as stems (none without)."""
    rt = loop.routing
    return [name for name, _ in rt.buses] if rt.stems else []


def deliverables(scene, path, stems: bool = False) -> dict:
    """format -> (its file, {bus: its stem file}) of a render to `path`, before any work
    (the buses with stems are the roles the scene's sources have)."""
    from spatial.scene.parts import ROLES

    formats = scene.output.formats
    used = {s.role for s in scene.sources}
    buses = [r for r in ROLES if r in used] if wants_stems(scene, stems) else []
    out = {}
    for fmt in formats:
        f = format_path(path, fmt, formats)
        out[fmt] = (f, {} if fmt == "adm" else {b: stem_path(f, b) for b in buses})
    return out


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


class _Adm:
    """An ADM master (spatial.adm): its own sink, neither metered nor mastered (its
    tracks are the sources' own signals; a renderer downstream masters the programme)."""

    format = "PCM_24"

    def __init__(self, sink):
        self.sink, self.stem_paths = sink, {}

    def direct(self) -> list:
        return [self.sink]

    temporary = direct

    def close(self) -> None:
        pass


def check_deliverable(path, fmt: str, scene, n_channels: int, subtype=None,
                      frames: int | None = None) -> None:
    """spatial.writer.check_output for one format's file; an ADM master must be a .wav
    (BW64) file of integer samples (spatial.adm)."""
    from spatial.writer import check_output

    if fmt != "adm":
        check_output(path, scene.sample_rate, n_channels, subtype, frames)
        return
    from spatial.errors import SceneError

    if Path(path).suffix.lower() != ".wav":
        raise SceneError.at("an ADM master is a BW64 file: give it the extension .wav",
                            file=path)
    tracks = len(scene.sources) * 2 + n_channels  # about: objects, beds, the room bed
    check_output(path, scene.sample_rate, max(1, tracks), "PCM_24", frames)


def _adm_place(scene, p, path, subtype, start) -> _Adm:
    from spatial.adm.sink import AdmSink

    return _Adm(AdmSink(path, scene, p, start, subtype))


def _temp(path: Path) -> Path:
    from spatial.tempfiles import tag, watch

    watch(path.parent if str(path.parent) else Path("."))
    return path.with_name(f".{path.name}.{tag()}.pass1.wav")


def sweep_leftovers(path: Path) -> None:
    """Remove what a killed render of `path` left beside it (spatial.tempfiles.sweep):
    its .part and .pass1.wav files, once their writer is gone."""
    from spatial.tempfiles import sweep

    path = Path(path)
    sweep(path.parent if str(path.parent) else Path("."), f".{path.name}.",
          (".part", ".pass1.wav"))


def wants_stems(scene, stems: bool = False) -> bool:
    return bool(stems or scene.output.stems)


def deliver_file(scene, p, path, subtype=None, progress=None, block_size=None,
                 stems: bool = False, start: int = 0, end: int | None = None,
                 sinks: dict | None = None, threads: int | None = None) -> dict:
    """Render plan p of scene to `path` (and stems): with several formats, one file per
    format (format_path) from one pass. Returns format -> summary (module doc).
    sinks: format -> more sinks fed pass 1's views (the mix before any mastering, with
    dialogue and background), e.g. spatial.analysis's ProfileSink; their commit()
    results are in the summary's "sinks". threads: the loop's (spatial.loop.RenderLoop)."""
    from spatial.writer import check_output

    loop = render_loop(p, scene, block_size, stems, start, end, threads)
    names = stem_names(loop)
    places = {}
    for fp in p.outputs:
        f = format_path(path, fp.format, scene.output.formats)
        if fp.format == "adm":
            places[fp.format] = _adm_place(scene, p, f, subtype, loop.start)
            continue
        stem_paths = {b: stem_path(f, b) for b in names}
        for sp in stem_paths.values():
            check_output(sp, p.sample_rate, fp.n_channels, subtype, loop.length)
        for each in [f, *stem_paths.values()]:
            sweep_leftovers(each)
        places[fp.format] = _Files(f, subtype, stem_paths)
    summaries = _deliver(scene, p, loop, places, progress, names, sinks, threads)
    for fmt, summary in summaries.items():
        summary["stems"] = {b: str(sp) for b, sp in places[fmt].stem_paths.items()}
    return summaries


def deliver_memory(scene, p, progress=None, block_size=None, stems: bool = False,
                   start: int = 0, end: int | None = None) -> dict:
    """Render plan p of scene in memory; returns format -> (audio, stems, summary): the
    mix (n, C) float32, bus -> (n, C) float32 (empty unless stems are asked for, by
    `stems` or output.stems) and the summary (module doc; stems: bus -> None)."""
    if any(fp.format == "adm" for fp in p.outputs):
        from spatial.errors import SceneError

        raise SceneError.at("format adm writes an ADM BW64 file: render it to a file "
                            "(spatial.render_to_file, spatial render)", key="output.format")
    loop = render_loop(p, scene, block_size, stems, start, end)
    names = stem_names(loop)
    places = {fp.format: _Memory(names) for fp in p.outputs}
    summaries = _deliver(scene, p, loop, places, progress, names)
    out = {}
    for fmt, summary in summaries.items():
        summary["stems"] = {b: None for b in names}
        out[fmt] = (places[fmt].audio, places[fmt].stems, summary)
    return out


def _deliver(scene, p, loop, places: dict, progress, buses, extra: dict | None = None,
             threads: int | None = None) -> dict:
    """Pass 1 (every format's sinks fed by the one loop, and `extra`'s: format -> sinks),
    then each format's master."""
    from spatial.filters.layouts import get_layout
    from spatial.progress import ProgressTicks

    fs, n = p.sample_rate, loop.length
    lengths = {fp.format: max(0, min(fp.length, loop.end) - loop.start) for fp in p.outputs}
    layouts = {fmt: get_layout(scene.output.single(fmt)) for fmt in places}
    target, ceiling = scene.output.loudness, scene.output.true_peak
    two_pass = target is not None or ceiling is not None
    meters = {fmt: MeterSink() for fmt in places}
    summaries = {fmt: {"target": target, "ceiling": ceiling, "gain_db": 0.0} for fmt in places}
    total = n + (sum(lengths.values()) if two_pass else 0)
    with ProgressTicks(progress, total) as tick:
        try:
            sinks = {fmt: (place.temporary() if two_pass else place.direct())
                     + ([] if isinstance(place, _Adm) else [meters[fmt]])
                     + list((extra or {}).get(fmt, ())) for fmt, place in places.items()}
            committed = deliver(loop.frames(), sinks, layouts, fs, n, tick, threads)
            for fmt, more in (extra or {}).items():
                summaries[fmt]["sinks"] = committed[fmt][len(committed[fmt]) - len(more):]
            done = n
            for fmt, place in places.items():
                summary, meter = summaries[fmt], meters[fmt]
                if isinstance(place, _Adm):  # not mastered: what the sink wrote
                    summary.update(committed[fmt][0], target=None, ceiling=None)
                    continue
                if not two_pass:
                    summary.update(meter.summary())
                    place.delivered(sinks[fmt][0], None)
                    continue
                summary["rendered"] = meter.summary()
                m = lengths[fmt]
                with contextlib.ExitStack() as stack:
                    read = stack.enter_context(place.read())
                    stem_io = {b: (stack.enter_context(place.read(b)), place.final(b))
                               for b in buses}
                    mastered, sink = master(
                        read, m, layouts[fmt], fs, place.final, target=target,
                        ceiling=ceiling, measured=meter.meter.integrated(), stems=stem_io,
                        progress=lambda k, at=done: tick(at + k))
                done += m
                summary.update(mastered)
                place.delivered(sink, {b: s for b, (_, s) in stem_io.items()})
        finally:
            for place in places.values():
                place.close()
    for fmt, summary in summaries.items():
        summary["dialogue_to_background"] = meters[fmt].dialogue_to_background()
        if isinstance(places[fmt], _Adm):
            n = summary.get("clipped", 0)
            summary["warning"] = (f"{n} samples of the ADM master's tracks clipped (they "
                                  "are the sources' own signals): lower their gain_db"
                                  if n else None)
            continue
        summary["warning"] = warning(summary, places[fmt].format)
    return summaries
