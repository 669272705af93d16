"""The `spatial` command: a parser, one driver per subcommand, one error handler.

Bad input never gives a traceback: each problem is one line
(``scene.yaml:12: sources[0].positon: unknown key ...``) on stderr, exit status 2,
and no output file is left behind. ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
import types
from pathlib import Path

from spatial import __version__
from spatial.errors import SceneError, SpatialError
from spatial.filters.formats import FORMATS

EXIT_BAD_INPUT = 2


def _load(path: str, fmt: str | None = None, hrtf: str | None = None):
    from spatial.scene.loader import load_scene, load_scene_text

    # "-": the scene from standard input (paths in it relative to the current directory)
    scene = load_scene_text(sys.stdin.read(), None) if path == "-" else load_scene(path)
    changes, locations = {}, dict(scene.locations)
    for key, flag, value in (("format", "--format", fmt), ("hrtf", "--hrtf", hrtf)):
        if value is not None:
            changes[key] = os.path.abspath(value) if key == "hrtf" else value
            locations[f"output.{key}"] = (flag, None)  # errors name the flag, not the file
    if not changes:
        return scene
    # one change, checked once, with the flags' locations
    return dataclasses.replace(scene, output=dataclasses.replace(scene.output, **changes),
                               locations=locations)


def _layout(scene, fmt: str | None = None):
    """The layout of the scene's output (or of one of its formats), without building a
    spatialiser (no HRTF is read); None if the format is bad: the render reports that,
    naming the key."""
    from spatial.filters.layouts import get_layout

    try:
        return get_layout(scene.output.single(fmt or scene.output.formats[0]))
    except SceneError:
        return None


def _check_outputs(out: Path, scene, subtype: str | None, frames: int | None,
                   stems: bool = False, sandbox: str | None = None) -> None:
    """Refuse bad output files before any work starts: each format's file and stems
    (spatial.mix.deliver.check_deliverable), two deliverables on one file, a
    deliverable that would overwrite an input of the scene (spatial.safety), or, with
    a sandbox, any input or output outside it."""
    from spatial.mix.deliver import check_deliverable, deliverables
    from spatial.safety import refuse_unsafe_outputs

    files = []
    for fmt, (path, stem_paths) in deliverables(scene, out, stems).items():
        files += [(fmt, path, fmt)] + [(f"{fmt} {b} stem", sp, fmt)
                                       for b, sp in stem_paths.items()]
    refuse_unsafe_outputs(scene, [(what, f) for what, f, _ in files], sandbox)
    for what, f, fmt in files:
        layout = _layout(scene, fmt)
        check_deliverable(f, fmt, scene, len(layout.channels) if layout else 1, subtype,
                          frames)
    if frames is not None and len(files) > 1:  # each fits: do they all, together?
        import shutil

        from spatial.writer import HEADER_BYTES

        need = _disk_bytes(out, scene, subtype, frames, stems) + HEADER_BYTES * len(files)
        folder = out.parent if str(out.parent) else Path(".")
        free = shutil.disk_usage(folder).free
        if need > free:
            from spatial.writer import _size

            raise SceneError.at(f"not enough disk space: the {len(files)} files need about "
                                f"{_size(need)}, {_size(free)} free", file=out)


def _disk_bytes(out: Path, scene, subtype, frames: int, stems: bool) -> int:
    """Bytes the render's files take (uncompressed: an upper bound for FLAC)."""
    from spatial.mix.deliver import deliverables
    from spatial.writer import WRITE_FORMATS, data_bytes

    total = 0
    for fmt, (path, stem_paths) in deliverables(scene, out, stems).items():
        layout = _layout(scene, fmt)
        kind = (subtype or WRITE_FORMATS.get(path.suffix.lower(), ("", "FLOAT"))[1]).upper()
        try:
            total += (1 + len(stem_paths)) * data_bytes(
                frames, len(layout.channels) if layout else 1, kind)
        except KeyError:
            pass
    return total


def _timed(bar, fs: int, after_s: float = 5.0):
    """The progress callable of a large render, which also prints once, after
    `after_s` of rendering, how long the whole render will take at the speed so far."""
    t0, told = time.perf_counter(), []

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar(done, total)
        spent = time.perf_counter() - t0
        if not told and spent >= after_s and done > 0:
            told.append(True)
            left = spent * (total - done) / done
            print(f"spatial: at the speed so far ({done / fs / spent:.1f}x real time) the "
                  f"render takes about {_duration(spent + left)} in all, "
                  f"{_duration(left)} from now", file=sys.stderr)

    return progress


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _moving(stats: dict) -> str:
    """', N moving sources (filters updated at R Hz)' for the summary line, or ''."""
    n = stats.get("moving_sources") or 0
    if not n:
        return ""
    return (f", {n} moving source{'s' if n > 1 else ''} "
            f"(filters updated at {stats['control_rate_hz']:.1f} Hz)")


def _compiled(seconds: float) -> str:
    """' (+4.1 s compiling kernels once)' for the summary line, or '' (all cached)."""
    return f" (+{seconds:.1f} s compiling kernels once)" if seconds > 0 else ""


def _prepared(seconds: float) -> str:
    """' (+5.0 s preparing the HRTF set once)' for the summary line, or '' (cached)."""
    return f" (+{seconds:.1f} s preparing the HRTF set once)" if seconds > 0 else ""


def cmd_render(args) -> int:
    if args.scene == "-" and not args.output:
        raise SceneError.at("a scene read from standard input needs -o OUT.wav", key="--output")
    scene = _load(args.scene, args.format, args.hrtf)
    out = Path(args.output) if args.output else Path.cwd() / (Path(args.scene).stem + ".wav")
    from spatial.writer import estimate_frames

    frames = estimate_frames(scene)
    if args.start is not None or args.end is not None:  # a passage: at most that long
        from spatial.renderer import passage

        a, b = passage(scene, types.SimpleNamespace(length=frames), args.start, args.end,
                       ("--start", "--end"))
        frames = (frames if b is None else min(frames, b)) - a
    _check_outputs(out, scene, args.subtype, frames, args.stems, args.sandbox)
    from spatial import resources

    resources.check(scene, args.allow_large)  # before the plan allocates anything
    disk = _disk_bytes(out, scene, args.subtype, frames, args.stems)
    large = resources.is_large(frames, scene.sample_rate, disk)
    if large and not args.quiet:
        print(f"spatial: {resources.estimate_line(scene, frames, disk)}", file=sys.stderr)
    from spatial.engine.warmup import CompileClock, prepare
    from spatial.filters.hrtf_warmup import prepare_hrtf
    from spatial.mix import report
    from spatial.progress import peak_memory_mib, terminal_progress
    from spatial.renderer import render_to_file

    from spatial.audio_check import scene_audio

    for problem in report.warnings(scene) + scene_audio(scene)[1]:  # a line each
        print(f"spatial: warning: {problem}", file=sys.stderr)
    t0 = time.perf_counter()
    # the first render after an install compiles the numba kernels (then cached): said
    # on stderr (not with -q), and its time (any compilation's) kept out of the RTF
    with CompileClock() as clock:
        prepare(scene, notice=not args.quiet)
        hrtf_s = prepare_hrtf(scene.output, scene.sample_rate, notice=not args.quiet)
        with terminal_progress(not args.quiet and sys.stderr.isatty(), scene.sample_rate) as bar:
            if large and not args.quiet:
                bar = _timed(bar, scene.sample_rate)
            stats = render_to_file(scene, out, subtype=args.subtype, progress=bar,
                                   stems=args.stems, start=args.start, end=args.end,
                                   allow_large=args.allow_large)
    for done in stats["outputs"].values():  # clipping is never silent, even with --quiet
        if done["mix"].get("warning"):
            print(f"spatial: warning: {done['path']}: {done['mix']['warning']}",
                  file=sys.stderr)
    wall = time.perf_counter() - t0 - clock.seconds - hrtf_s
    if not args.quiet:
        longest = max(d["frames"] for d in stats["outputs"].values()) / scene.sample_rate
        rtf = longest / wall if wall > 0 else float("inf")
        formats = list(stats["outputs"])
        what = formats[0] if len(formats) == 1 else f"{len(formats)} formats"
        passage = ""
        if args.start is not None or args.end is not None:
            passage = f" (passage from {args.start or 0:g} s)"
        print(f"{what}: {longest:.2f} s of audio{passage}, {scene.sample_rate} Hz, rendered "
              f"in {wall:.2f} s ({rtf:.1f}x real time){_compiled(clock.seconds)}"
              f"{_prepared(hrtf_s)}, "
              f"peak memory {peak_memory_mib():.0f} MiB{_moving(stats)}")
        for fmt, done in stats["outputs"].items():
            if fmt == "adm":  # an ADM master: its tracks (spatial.adm)
                m = done["mix"]
                print(f"{done['path']}: {done['frames'] / scene.sample_rate:.2f} s, ADM BW64 "
                      f"master, {m['tracks']} tracks ({m['objects']} objects, {m['beds']} "
                      f"beds, room bed {m['room'] or 'none'}), {m['bytes'] / 2**20:.1f} MiB")
                continue
            layout = _layout(scene, fmt)
            print(f"{done['path']}: {done['frames'] / scene.sample_rate:.2f} s, "
                  f"{len(layout.channels)} ch ({fmt}: {' '.join(layout.names)})")
            for line in report.summary_lines(done["mix"]):
                print(f"  {line}")
    return 0


def cmd_validate(args) -> int:
    scene = _load(args.scene)  # loading validates every key, geometry included
    from spatial.audio_check import scene_audio

    problems, warnings = scene_audio(scene, full=not args.quick)  # every sample decoded
    if not args.allow_large:  # what the render would refuse: the resource limits
        from spatial.resources import problems as limits

        problems += limits(scene)
    if problems:
        raise SceneError(problems)
    for warning in warnings:
        print(f"spatial: warning: {warning}", file=sys.stderr)
    room = "free field" if scene.room is None else (
        "room " + " x ".join(f"{d:g}" for d in scene.room.dimensions) + " m")
    n = len(scene.sources)
    print(f"{args.scene}: ok ({n} source{'' if n == 1 else 's'}, {room}, "
          f"output {scene.output.format}, {scene.sample_rate} Hz)")
    return 0


def cmd_rir(args) -> int:
    scene = _load(args.scene, args.format, args.hrtf)
    from spatial.renderer import impulse_response

    name = args.source or (scene.sources[0].name if scene.sources else None)
    if name is None or name not in [s.name for s in scene.sources]:
        raise SceneError.at(f"no source named {name!r} (the scene has "
                            f"{', '.join(s.name for s in scene.sources)})", file=args.scene,
                            key="--source")
    out = Path(args.output) if args.output else Path.cwd() / f"{Path(args.scene).stem}-{name}-rir.wav"
    _check_outputs(out, scene.with_output(format=scene.output.formats[0]), args.subtype,
                   None)
    result = impulse_response(scene, name)
    result.write(out, subtype=args.subtype)
    if not args.quiet:
        print(f"{out}: impulse response of {name!r}, {result.duration:.3f} s, "
              f"{len(result.channels)} ch ({scene.output.format})")
    return 0


def cmd_plot(args) -> int:
    from spatial.scene_map import plot_scene

    out = Path(args.output) if args.output else Path.cwd() / f"{Path(args.scene).stem}-map.png"
    scene = _load(args.scene, args.format)
    from spatial.safety import refuse_unsafe_outputs

    refuse_unsafe_outputs(scene, [("map", out)])  # never over the scene or its audio
    plot_scene(scene, out)
    if not args.quiet:
        print(f"{out}: map of {args.scene}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spatial", description="Render scene files to "
                                     "binaural, multichannel or ambisonic audio.")
    parser.add_argument("--version", action="version", version=f"spatial {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, output_help):
        p.add_argument("scene", help="scene file (YAML or JSON); render: - reads it from "
                       "standard input")
        p.add_argument("-o", "--output", help=output_help)
        p.add_argument("--format", help="override output.format (" + ", ".join(
            f for f in FORMATS if f != "custom") + "); render: several, comma-separated, "
            "in one pass (out.<format>.wav each)")  # custom needs output.speakers
        p.add_argument("--hrtf", help="override output.hrtf with a SOFA file")
        p.add_argument("--subtype", help="sample format, e.g. PCM_24, PCM_16, FLOAT")
        p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")

    p = sub.add_parser("render", help="render a scene to an audio file")
    common(p, "output .wav or .flac (default: <scene stem>.wav in the current directory)")
    p.add_argument("--stems", action="store_true", help="also write one file per bus "
                   "(out.dialogue.wav, out.music.wav, ...), as output.stems: true")
    p.add_argument("--start", type=float, metavar="S", help="render only the passage from "
                   "S seconds (with the room's reverberation of what sounded before)")
    p.add_argument("--end", type=float, metavar="S", help="... to S seconds")
    p.add_argument("--sandbox", metavar="DIR", help="refuse any input or output of the "
                   "scene outside DIR (scenes from untrusted generators)")
    p.add_argument("--allow-large", action="store_true", help="lift the resource limits "
                   "(sources, image sources, tail, duration, channels: scenes/README.md)")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("validate", help="check a scene file and report every problem")
    p.add_argument("scene")
    p.add_argument("--quick", action="store_true", help="check the audio files' headers "
                   "only, without decoding them (NaN, overflow and damaged data go unseen)")
    p.add_argument("--allow-large", action="store_true", help="do not report the resource "
                   "limits that render --allow-large lifts")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("rir", help="write the impulse response from one source to the listener")
    common(p, "output file (default: <scene stem>-<source>-rir.wav)")
    p.add_argument("--source", help="source name (default: the first source)")
    p.set_defaults(func=cmd_rir)
    p = sub.add_parser("plot", help="draw the scene from above and from the side (a PNG)")
    p.add_argument("scene")
    p.add_argument("-o", "--output", help="image file, .png (or .svg, .pdf); default: "
                   "<scene stem>-map.png in the current directory")
    p.add_argument("--format", help="draw the loudspeakers of this output format")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_plot)
    from spatial.analysis.commands import add_parsers

    add_parsers(sub)  # analyze, compare (spatial.analysis.commands)
    from spatial.decoding.commands import add_parsers as add_decode

    add_decode(sub)  # decode (spatial.decoding.commands)
    from spatial.batch import commands as batch

    batch.add_parsers(sub)  # batch, variations (spatial.batch.commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # The render spreads its own work over the cores (reader threads, FFT workers);
    # OpenBLAS's threads on top only contend with them: planning scene A took 0.44 s
    # with them and 0.17 s without. Set by the command before numpy is first imported
    # (importing this module leaves the environment alone: batch workers set their
    # own threads, spatial.batch.task); a user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    from spatial.tempfiles import Terminated, signals_as_interrupts

    try:
        with signals_as_interrupts():  # SIGTERM, SIGHUP: cleaned up like SIGINT
            return args.func(args)
    except SpatialError as err:
        if args.debug:
            raise
        problems = getattr(err, "problems", None) or [str(err)]
        for problem in problems:
            print(f"spatial: error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated as sig:
        print(f"spatial: interrupted ({sig})", file=sys.stderr)
        return 128 + sig.signum
    except KeyboardInterrupt:
        print("spatial: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The command's entry point: main(), then exit with its status. After a signal
    (status 128 + signal, 130 for SIGINT), once the cleanup has run, the process ends at
    once: reader threads may still be inside a decoder's C code, and finalising the
    interpreter under them crashed it (SIGSEGV, 1 run in ~30 of the signal tests)."""
    code = 0  # a reader that closed the pipe early: as before, not an error
    with contextlib.suppress(BrokenPipeError):
        code = main()
    if isinstance(code, int) and code >= 128:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
