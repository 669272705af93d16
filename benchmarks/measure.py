"""One short scene, every measurement the issue asks for, one table:

spatial.render on 2 cores and on 1 (child processes, medians of --runs), the
`spatial render` command (start-up included), pyroomacoustics (binaural scenes),
the same filters through scipy's oaconvolve, and the FFT floor with 2 workers
and with 1. Used by bench_render.py (A), bench_sources.py (C), bench_formats.py (D).
"""
from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from harness import bench_command, bench_spatial, fmt, table
from peers import (active_blocks, engine_block, fft_floor, floor_plan, oaconvolve_mix,
                   pra_available, pra_order, run_pra, source_filters)
from scenes import (DIMS, FS, LISTENER, RT60, YAW_DEG, SceneSpec, read_signals, source_paths,
                    write_scene)


def _pra_job(spec: SceneSpec, cache: Path, order: int) -> dict:
    return {"fs": FS, "dims": list(DIMS), "rt60": RT60, "listener": list(LISTENER),
            "yaw": YAW_DEG, "positions": [list(s.position) for s in spec.sources],
            "files": [str(p) for p in source_paths(spec, cache)],
            "max_order": order, "seconds": spec.seconds}


def measure_peers(spec: SceneSpec, args, reference: np.ndarray | None) -> dict:
    """oaconvolve and the FFT floor, in this process."""
    import spatial

    scene = spatial.load_scene(write_scene(spec, args.cache))
    signals = read_signals(spec, args.cache)
    filters, tail, how = source_filters(scene)
    length = spec.frames
    times, y = [], None
    for _ in range(args.runs):
        t, y = oaconvolve_mix(signals, filters, tail, length)
        times.append(t)
    res = {"oaconvolve_s": float(np.median(times)), "oaconvolve_filters": how}
    if reference is not None and y is not None and reference.shape == y.T.shape:
        peak = float(np.max(np.abs(reference))) or 1.0
        res["oaconvolve_vs_spatial"] = float(np.max(np.abs(reference - y.T))) / peak

    B, where = engine_block()
    n_blocks = -(-length // B)
    ring = max(f.shape[1] for f, _, _ in filters)
    if tail is not None:
        ring = max([ring] + [d + tail.shape[1] for _, g, d in filters if g])
    forward, inverse = floor_plan(active_blocks(signals, B, n_blocks), -(-ring // B))
    n_out = filters[0][0].shape[0]
    res["floor"] = {w: fft_floor(forward, inverse, n_out, B, w, args.runs) for w in (2, 1)}
    # what 2 cores allow: scipy's 2 workers only pay for batches big enough, so the best of both
    res["floor_2cores"] = min(res["floor"].values())
    res["floor_plan"] = (f"FFT floor: uniform partitions, B = {B} ({where}), float32 "
                         f"rfft/irfft of {2 * B} points; per block one forward per input "
                         f"whose frame (previous + current block) holds sound and one for "
                         f"the tail's send bus, one inverse per "
                         f"output channel ({n_out}) while the output can ring: "
                         f"{int(forward.sum())} forward + {int(inverse.sum()) * n_out} "
                         f"inverse transforms in {n_blocks} blocks")
    return res


def measure_pra(spec: SceneSpec, args, peer: bool) -> dict:
    """{max_order: median summary} of the pyroomacoustics pipeline, or {'skipped': why}."""
    if args.skip_peer:
        return {"skipped": "--skip-peer"}
    if not peer:
        return {"skipped": "--quick runs it on scene A only"}
    if spec.fmt != "binaural":
        return {"skipped": f"pyroomacoustics has no {spec.fmt} output (binaural scenes only)"}
    why = pra_available()
    if why:
        return {"skipped": why}
    orders = [args.pra_order] + ([pra_order(RT60, DIMS)] if args.full_order else [])
    orders += [o for o in args.extra_order if o not in orders]
    out = {}
    for order in orders:
        runs = []
        for _ in range(getattr(args, "pra_runs", None) or args.runs):
            runs.append(run_pra(_pra_job(spec, args.cache, order), args.pra_cap))
            if "failed" in runs[-1]:
                break
        if "failed" in runs[-1]:
            out[order] = runs[-1]
            continue
        med = {k: float(np.median([r[k] for r in runs]))
               for k in ("setup_s", "compute_rir_s", "simulate_s", "total_s")}
        med["maxrss_mib"] = max(r["maxrss_mib"] for r in runs)
        med["runs"] = len(runs)
        med["rir_samples"] = runs[0]["rir_samples"]
        out[order] = med
    return out


def measure_scene(spec: SceneSpec, args, title: str, peer: bool = True,
                  stream: bool = False, warm: bool = False) -> dict:
    """Everything for one scene; prints its table and returns the figures. The 1-core run
    only with args.one_core; pyroomacoustics only with `peer`; with `stream`, also
    spatial.render_to_file (a WAV in a temporary folder) when spatial has it. Every row
    runs with the decoded-source cache off (cold); with `warm`, spatial.render and the
    command are also measured with it filled (rows "source cache warm")."""
    import spatial

    scene_path = write_scene(spec, args.cache)
    work = Path(tempfile.mkdtemp(prefix="spatial-bench-"))
    cores = (2, 1) if args.one_core else (2,)
    print(f"{title}: measuring spatial ({', '.join(f'{c} core(s)' for c in cores)}, "
          f"the command) ...", flush=True)
    try:
        sp = {c: bench_spatial(scene_path, args.runs, c, warmup=args.warmup,
                               save=work / "out.npy" if c == 2 else None) for c in cores}
        if stream and hasattr(spatial, "render_to_file"):
            sp["file"] = bench_spatial(scene_path, args.runs, 2, mode="file",
                                       out=work / "stream.wav", warmup=args.warmup)
        if warm:
            sp["warm"] = bench_spatial(scene_path, args.runs, 2, source_cache="warm")
        command = bench_command(scene_path, args.runs, 2, work / "out.wav")
        command_warm = (bench_command(scene_path, args.runs, 2, work / "out.wav",
                                      source_cache="warm") if warm else None)
        reference = np.load(work / "out.npy")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res = {"scene": str(scene_path), "seconds": spec.seconds, "sources": len(spec.sources),
           "format": spec.fmt, "runs": args.runs, "spatial": sp, "command": command,
           "pra_order": args.pra_order}
    if command_warm is not None:
        res["command_warm"] = command_warm
    print("  oaconvolve and the FFT floor ...", flush=True)
    res.update(measure_peers(spec, args, reference))
    if peer and not args.skip_peer and spec.fmt == "binaural":
        print("  pyroomacoustics ...", flush=True)
    res["pra"] = measure_pra(spec, args, peer)

    s = spec.seconds
    rtf = lambda t: fmt(s / t if t else None, ".1f")  # noqa: E731
    rows = []
    cached = lambda r: f", source cache {r['source_cache']}" if warm else ""  # noqa: E731
    for r in sp.values():
        n = r["cores"]
        rows.append([f"spatial.{r['api']}, {n} core{'s' if n > 1 else ''}{cached(r)}",
                     fmt(r["wall_s"]), rtf(r["wall_s"]), fmt(r["plan_s"]),
                     fmt(r["convolve_s"]), fmt(r["maxrss_mib"], ".0f")])
    for c in (command, command_warm) if warm else (command,):
        rows.append([f"spatial render command, 2 cores{cached(c)}", fmt(c["wall_s"]),
                     rtf(c["wall_s"]), "", "", fmt(c["maxrss_mib"], ".0f")])
    for order, p in res["pra"].items():
        if order != "skipped" and "failed" not in p:
            n_runs = "" if p["runs"] == args.runs else f" ({p['runs']} run)"
            rows.append([f"pyroomacoustics, max_order {order}{n_runs}", fmt(p["total_s"]),
                         rtf(p["total_s"]), fmt(p["setup_s"] + p["compute_rir_s"]),
                         fmt(p["simulate_s"]), fmt(p["maxrss_mib"], ".0f")])
    rows.append(["scipy oaconvolve, same filters", fmt(res["oaconvolve_s"]),
                 rtf(res["oaconvolve_s"]), "", fmt(res["oaconvolve_s"]), ""])
    for w in (2, 1):
        rows.append([f"FFT floor, {w} worker{'s' if w > 1 else ''}", "", "", "",
                     fmt(res["floor"][w]), ""])
    warm = "after one warm-up render in the same child" if args.warmup else "NO warm-up: quick"
    notes = [f"median of {args.runs} run(s); wall = load_scene + render, start-up apart "
             f"(spatial: {warm}); plan/convolve: "
             f"result.stats plan_s / convolve_s ('-' if absent); RSS: the child's peak",
             f"command: `spatial render SCENE -o OUT.wav -q` in a new process, start-up "
             f"included; pyroomacoustics: plan = setup + compute_rir, convolve = simulate",
             f"oaconvolve: {res['oaconvolve_filters']}, float32, reading and filters not "
             f"timed" + (f"; max difference from spatial.render "
                         f"{res['oaconvolve_vs_spatial']:.1e} of the peak"
                         if "oaconvolve_vs_spatial" in res else ""),
             res["floor_plan"]]
    notes.append("source cache (spatial.source_cache): " + (
        "cold = SPATIAL_SOURCE_CACHE=0, every run decodes and resamples its files; warm = "
        "the decoded sources read from the cache (its usual folder), filled by an untimed "
        "warm-up render first (even with --quick)" if warm else
        "off (SPATIAL_SOURCE_CACHE=0): every run decodes and resamples its files"))
    if not args.one_core:
        notes.append("1 core: not run (--quick)")
    if "skipped" in res["pra"]:
        notes.append(f"pyroomacoustics skipped: {res['pra']['skipped']}")
    notes += [f"pyroomacoustics at max_order {o}: {p['failed']}" for o, p in res["pra"].items()
              if o != "skipped" and "failed" in p]
    res["table"] = table(title, ["pipeline", "wall s", "RTF", "plan s", "convolve s",
                                 "peak RSS MiB"], rows, notes)
    return res


def ratio(a, b):
    return None if a is None or b is None or b == 0 or math.isnan(b) else a / b
