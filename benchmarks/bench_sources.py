"""Benchmark C: the reference scene with 64 sources, against its FFT floor and on 1 core vs 2.

    python benchmarks/bench_sources.py [--runs 3] [--seconds 60] [--skip-peer]
                                       [--full-order] [--quick] [--cache DIR] [--json F]
                                       [--engine | --engine-only]

Scene A (60 s at 48 kHz, 8 x 6 x 3 m, rt60 0.5 s, binaural) with 64 static
sources: the 8 reference signals, each 8 times with its own seed, on 8 rings of
radius 1.2 .. 2.6 m around the listener. Measured as A (see measure.py):
spatial.render on 2 cores and on 1, the command, pyroomacoustics at max_order 12
(one run: no target of C's needs it; its simulate() holds every source's
premix, about 3 GB at 60 s), oaconvolve,
the FFT floor (--quick leaves out pyroomacoustics). Targets (issue 8):
convolution within 1.5x of the FFT floor; 2 cores at least 1.6x faster than 1.

--engine adds (--engine-only: only) the engine alone, in this process: the
planned filters and the decoded signals in memory, spatial's BlockConvolver at
the render's block on 1 thread and on 2 (interleaved, medians of --runs; wall
and CPU time of its process() calls only: no reading, no planning), against the
FFT floor at the same block size.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import time  # noqa: E402

import numpy as np  # noqa: E402

from harness import fmt, parser, settle, table, target, write_json  # noqa: E402
from measure import measure_scene, ratio  # noqa: E402
from peers import active_blocks, fft_floor, floor_plan, planned_filters  # noqa: E402
from scenes import dense_scene, read_signals, write_scene  # noqa: E402


def _engine_run(inputs, tail, signals, send, B: int, n: int, threads: int) -> tuple:
    """(wall s, CPU s) of BlockConvolver.process over the whole scene, as the loop feeds it."""
    from spatial.engine.convolver import BlockConvolver

    C = inputs[0][0].shape[0]
    conv = BlockConvolver(B, C, dtype=np.float32, threads=threads)
    for filt, _, _ in inputs:
        conv.add_input(filt)
    rows = [*signals] + ([send] if tail is not None else [])
    if tail is not None:
        conv.add_input(tail)
    block = np.zeros((len(rows), B))
    wall = cpu = 0.0
    for t0 in range(0, n, B):
        for i, x in enumerate(rows):
            chunk = x[t0:t0 + B]
            block[i, :chunk.size] = chunk
            block[i, chunk.size:] = 0.0
        w, c = time.perf_counter(), time.process_time()
        conv.process(block)
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
    conv.close()
    return wall, cpu


def engine_alone(spec, args) -> dict:
    """The engine without reading or planning, 1 thread against 2, and its FFT floor."""
    import spatial
    from spatial.engine.convolver import STATIC_BLOCK

    scene = spatial.load_scene(write_scene(spec, args.cache))
    planned = planned_filters(scene)
    if planned is None:
        return {"skipped": "spatial's plan is not reachable"}
    inputs, tail = planned
    signals = read_signals(spec, args.cache)
    n, B = spec.frames, STATIC_BLOCK
    send = np.zeros(n)
    for x, (_, g, d) in zip(signals, inputs):
        if g and d < n:
            send[d:] += g * x[:n - d]
    _engine_run(inputs, tail, signals, send, B, min(n, 4 * B), 2)  # numba's cache, pools
    runs = {1: [], 2: []}
    for _ in range(args.runs):
        for threads in (1, 2):  # interleaved: the machine's load hits both alike
            runs[threads].append(_engine_run(inputs, tail, signals, send, B, n, threads))
    res = {t: {"wall_s": float(np.median([r[0] for r in v])),
               "cpu_s": float(np.median([r[1] for r in v]))} for t, v in runs.items()}
    n_blocks = -(-n // B)
    ring = max([f.shape[1] for f, _, _ in inputs] + ([tail.shape[1]] if tail is not None else []))
    forward, inverse = floor_plan(active_blocks(signals, B, n_blocks), -(-ring // B))
    res["floor"] = {w: fft_floor(forward, inverse, inputs[0][0].shape[0], B, w, args.runs)
                    for w in (1, 2)}
    res["block"] = B
    floor2 = min(res["floor"].values())
    rows = [[f"engine, {t} thread{'s' if t > 1 else ''}", fmt(res[t]["wall_s"]),
             fmt(res[t]["cpu_s"]), fmt(ratio(res[t]["wall_s"], res["floor"][t] if t == 1
                                             else floor2), ".2f")] for t in (1, 2)]
    rows += [[f"FFT floor, {w} worker{'s' if w > 1 else ''}", fmt(res["floor"][w]), "", ""]
             for w in (1, 2)]
    res["targets"] = []
    conv = ratio(res[2]["wall_s"], floor2)
    target(res["targets"], "engine / FFT floor, 2 cores (wall)", "<= 1.5", conv,
           lambda v: v <= 1.5, fmt(conv, ".2f"))
    speed = ratio(res[1]["wall_s"], res[2]["wall_s"])
    target(res["targets"], "engine 1 thread / 2 threads (wall)", ">= 1.6", speed,
           lambda v: v >= 1.6, f"{fmt(speed, '.2f')}x")
    table(f"C, engine alone (B = {B}, float32)", ["", "wall s", "CPU s", "/ floor"], rows,
          [f"median of {args.runs}, 1 and 2 threads interleaved; CPU: the process's "
           "(every thread), of process() calls only; floor: as the scene's table, at this B "
           "(2 cores: the better of 1 and 2 workers)"])
    table("C, engine alone: targets (issue 8)", ["target", "goal", "measured", ""],
          res["targets"])
    return res


def targets_c(res: dict) -> list[list]:
    rows = []
    for c in (2, 1):
        floor = res["floor_2cores"] if c == 2 else res["floor"][1]
        conv = ratio(res["spatial"][c]["convolve_s"], floor)
        target(rows, f"convolution / FFT floor, {c} core{'s' if c > 1 else ''}", "<= 1.5", conv,
               lambda v: v <= 1.5, f"{conv:.2f}" if conv else "")
    speed = ratio(res["spatial"][1]["wall_s"], res["spatial"][2]["wall_s"])
    target(rows, "1 core / 2 cores (spatial.render)", ">= 1.6", speed, lambda v: v >= 1.6,
           f"{speed:.2f}x")
    conv = ratio(res["spatial"][1]["convolve_s"], res["spatial"][2]["convolve_s"])
    rows.append(["1 core / 2 cores (convolution; information)", "", f"{conv:.2f}x" if conv
                 else "n/a", ""])
    return rows


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--engine", action="store_true",
                    help="also the engine alone, 1 thread against 2, and its FFT floor")
    ap.add_argument("--engine-only", action="store_true", help="only the engine alone")
    args = ap.parse_args(argv)
    seconds = settle(args, 60.0)
    args.one_core = True  # a target of C's: always measured
    args.pra_runs = 1  # no target of C's needs it: one run of ~1.5 min is enough to show it
    spec = dense_scene("C", seconds, 64)
    res = {}
    if not args.engine_only:
        res = measure_scene(spec, args, f"C: {seconds:g} s, 64 sources, binaural, 8 x 6 x 3 m, "
                            "rt60 0.5 s", peer=not args.quick)
        res["targets"] = targets_c(res)
        table("C: targets (issue 8)", ["target", "goal", "measured", ""], res["targets"])
    if args.engine or args.engine_only:
        res["engine"] = engine_alone(spec, args)
    write_json(args, {"C": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
