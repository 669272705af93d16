"""Benchmark E: long scenes streamed from files: peak memory, and a file over 4 GiB.

    python benchmarks/bench_long.py            # the 10-minute scene (a few minutes)
    python benchmarks/bench_long.py --long     # also 2 hours, and 45 minutes in 7.1.4
    python benchmarks/bench_long.py --quick    # all three scenes with 2 s of audio
    python benchmarks/bench_long.py --seconds 30   # all three with 30 s (a trial)
    python benchmarks/bench_long.py --long --prepare   # only write the cached sources

E: 16 static sources streamed from 16-bit FLAC files as long as the scene (6
dialogue, speech 40% of the time; 6 effects, one-shots of 1-2 s; 2 ambience and
2 music, continuous), the reference room (8 x 6 x 3 m, rt60 0.5 s), binaural;
10 minutes and 2 hours (the 10-minute files are the start of the 2-hour ones).
Also the same sources for 45 minutes in 7.1.4: a float32 WAV of 6.2 GB that
must read back whole (RF64 past 4 GiB). Source files are generated block by
block and cached (--cache; 2 hours of 16 sources take about 5 GB and some
minutes to write the first time).

Each render runs once in a child process on 2 cores: through
spatial.render_to_file when spatial has it, else through the `spatial render`
command (start-up included, about a second). Reported: wall time, real-time
factor, the child's peak RSS (it is killed past --rss-cap MiB so that a renderer
that does not stream cannot exhaust a shared machine), the output's frames,
container and size, and the FFT floor with 1 worker (pyroomacoustics and
oaconvolve hold whole signals in memory: not run at these lengths). The output
file is deleted afterwards (--keep keeps it). Targets (issue 8): 2 hours under
500 MB peak RSS; peak RSS at 10 minutes and at 2 hours within 20%; the 45-minute
file reads back whole.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import soundfile as sf  # noqa: E402

from harness import (HERE, fmt, parser, run_measured, spatial_command, table,  # noqa: E402
                     target, write_json)
from peers import active_blocks_files, engine_block, fft_floor, floor_plan  # noqa: E402
from scenes import FS, episode_scene, source_paths, write_scene  # noqa: E402

CHANNELS = {"binaural": 2, "7.1.4": 12}


def render_long(spec, args, out_dir: Path) -> dict:
    import spatial

    scene = write_scene(spec, args.cache)
    out = out_dir / f"{scene.stem}.wav"
    n_ch = CHANNELS[spec.fmt]
    need = spec.frames * n_ch * 4
    free = shutil.disk_usage(out_dir).free
    res = {"seconds": spec.seconds, "format": spec.fmt, "scene": str(scene),
           "expected_frames": spec.frames, "expected_bytes": need}
    if free < need * 1.1 + 2 ** 30:
        res["skipped"] = f"{free / 1e9:.1f} GB free in {out_dir}, {need / 1e9:.1f} GB needed"
        return res
    if hasattr(spatial, "render_to_file"):
        job = {"scene": str(scene), "runs": 1, "mode": "file", "warmup": False,
               "out": str(out)}
        cmd = [sys.executable, str(HERE / "harness.py"), "--spatial-child", json.dumps(job)]
        res["via"] = "spatial.render_to_file (child process)"
    else:
        cmd = spatial_command() + ["render", str(scene), "-o", str(out), "-q"]
        res["via"] = "the spatial render command (start-up included)"
    run = run_measured(cmd, 2, rss_cap_mib=args.rss_cap)
    res.update(wall_s=run["wall_s"], maxrss_mib=run["maxrss_mib"],
               killed_at_cap=run["killed_at_cap"], returncode=run["returncode"])
    if run["returncode"] == 0 and "render_to_file" in res["via"]:
        res["stats"] = json.loads(run["stdout"].strip().splitlines()[-1])["runs"][0]
    if run["returncode"] != 0:
        res["error"] = (f"killed past the {args.rss_cap:g} MiB cap" if run["killed_at_cap"]
                        else run["stderr"].strip()[-500:])
    try:
        if run["returncode"] == 0 and out.exists():
            info = sf.info(str(out))
            res.update(frames=info.frames, container=info.format, channels=info.channels,
                       bytes=out.stat().st_size)
            tail, _ = sf.read(str(out), start=max(info.frames - FS, 0), dtype="float32")
            res["last_second_frames"] = int(tail.shape[0])
            # every frame, the last second readable, and past 4 GiB a 64-bit container
            res["reads_back_whole"] = (info.frames == spec.frames and info.channels == n_ch
                                       and tail.shape[0] == min(FS, spec.frames)
                                       and (res["bytes"] < 2 ** 32 or info.format == "RF64"))
    finally:
        if not args.keep:
            out.unlink(missing_ok=True)
    B, _ = engine_block()
    n_blocks = -(-spec.frames // B)
    act = active_blocks_files(source_paths(spec, args.cache), B, n_blocks)
    forward, inverse = floor_plan(act, -(-int(0.8 * FS) // B))
    res["floor_s"] = fft_floor(forward, inverse, n_ch, B, 1, 1)
    return res


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--long", action="store_true",
                    help="also the 2-hour scene and the 45-minute 7.1.4 scene")
    ap.add_argument("--rss-cap", type=float, default=4096.0,
                    help="kill a render whose resident size passes this many MiB (4096)")
    ap.add_argument("--keep", action="store_true", help="keep the rendered files")
    ap.add_argument("--prepare", action="store_true",
                    help="only write the source files and scenes (cached), render nothing")
    args = ap.parse_args(argv)
    lengths = {"10 min": 600.0, "2 h": 7200.0, "45 min 7.1.4": 2700.0}
    if args.quick or args.seconds:  # every scene at that length (a trial of the script)
        lengths = {k: 2.0 if args.quick else args.seconds for k in lengths}
    elif not args.long:
        del lengths["2 h"], lengths["45 min 7.1.4"]
    if args.prepare:
        for name, seconds in lengths.items():
            spec = episode_scene("E", seconds, "7.1.4" if "7.1.4" in name else "binaural")
            print(f"E {name}: {write_scene(spec, args.cache)}", flush=True)
        return 0
    out_dir = args.cache / "renders"
    out_dir.mkdir(parents=True, exist_ok=True)
    results, rows = {}, []
    for name, seconds in lengths.items():
        spec = episode_scene("E", seconds, "7.1.4" if "7.1.4" in name else "binaural")
        print(f"E {name}: preparing sources and rendering ...", flush=True)
        r = results[name] = render_long(spec, args, out_dir)
        wall = r.get("wall_s")
        label = f"E {name}" + (f" (as {seconds:g} s)" if args.quick or args.seconds else "")
        rows.append([label, fmt(wall, ".2f"),
                     fmt(seconds / wall if wall else None, ".1f"),
                     fmt(r.get("maxrss_mib"), ".0f"), fmt(r.get("floor_s"), ".2f"),
                     f"{r.get('frames', '-')} / {r['expected_frames']}",
                     r.get("container", "-"), fmt(r["bytes"] / 2 ** 30 if "bytes" in r else None,
                                                  ".2f"),
                     r.get("skipped") or r.get("error") or ""])
    via = next((r["via"] for r in results.values() if "via" in r), "")
    table("E: long scenes, 16 sources", ["scene", "wall s", "RTF", "peak RSS MiB", "FFT floor s",
                             "frames / expected", "container", "GiB", "problem"], rows,
          [f"one run each, rendered through {via}; FFT floor: 1 worker, the block plan "
           "of measure.py (outputs ring 0.8 s)",
           "pyroomacoustics and oaconvolve: not run; both hold every signal in memory "
           "(16 sources x 2 h as float64: 44 GB)"])
    trows = []
    short, long_, big = (results.get(k, {}) for k in ("10 min", "2 h", "45 min 7.1.4"))
    mb = long_.get("maxrss_mib")
    target(trows, "2 h: peak RSS", "< 500 MB", mb, lambda v: v * 1.048576 < 500,
           f"{mb * 1.048576:.0f} MB" if mb else "")
    rel = (long_["maxrss_mib"] / short["maxrss_mib"] - 1.0
           if long_.get("maxrss_mib") and short.get("maxrss_mib") else None)
    target(trows, "peak RSS 2 h vs 10 min", "within 20%", rel, lambda v: abs(v) <= 0.2,
           f"{rel:+.0%}" if rel is not None else "")
    whole = big.get("reads_back_whole")
    target(trows, "45 min 7.1.4 reads back whole", "frames == expected",
           None if whole is None else float(whole), lambda v: v == 1.0,
           f"{big.get('frames')} / {big.get('expected_frames')} ({big.get('container')})"
           if whole is not None else "")
    table("E: targets (issue 8)", ["target", "goal", "measured", ""], trows)
    write_json(args, {"E": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
