"""Benchmark C: the reference scene with 64 sources, against its FFT floor and on 1 core vs 2.

    python benchmarks/bench_sources.py [--runs 3] [--seconds 60] [--skip-peer]
                                       [--full-order] [--quick] [--cache DIR] [--json F]

Scene A (60 s at 48 kHz, 8 x 6 x 3 m, rt60 0.5 s, binaural) with 64 static
sources: the 8 reference signals, each 8 times with its own seed, on 8 rings of
radius 1.2 .. 2.6 m around the listener. Measured as A (see measure.py):
spatial.render on 2 cores and on 1, the command, pyroomacoustics at max_order 12
(one run: no target of C's needs it; its simulate() holds every source's
premix, about 3 GB at 60 s), oaconvolve,
the FFT floor (--quick leaves out pyroomacoustics). Targets (issue 8):
convolution within 1.5x of the FFT floor; 2 cores at least 1.6x faster than 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import parser, settle, table, target, write_json  # noqa: E402
from measure import measure_scene, ratio  # noqa: E402
from scenes import dense_scene  # noqa: E402


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
    args = parser(__doc__).parse_args(argv)
    seconds = settle(args, 60.0)
    args.one_core = True  # a target of C's: always measured
    args.pra_runs = 1  # no target of C's needs it: one run of ~1.5 min is enough to show it
    spec = dense_scene("C", seconds, 64)
    res = measure_scene(spec, args, f"C: {seconds:g} s, 64 sources, binaural, 8 x 6 x 3 m, "
                        "rt60 0.5 s", peer=not args.quick)
    res["targets"] = targets_c(res)
    table("C: targets (issue 8)", ["target", "goal", "measured", ""], res["targets"])
    write_json(args, {"C": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
