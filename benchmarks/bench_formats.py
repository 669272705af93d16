"""Benchmark D: the reference scene rendered to 7.1.4 (12 channels) and to hoa3 (16).

    python benchmarks/bench_formats.py [--runs 3] [--seconds 60] [--quick]
                                       [--cache DIR] [--json F]

Scene A's sources, room and listener (see bench_render.py), output 7.1.4 and
third-order ambisonics (AmbiX). Measured as A (see measure.py) except
pyroomacoustics, which renders to microphones, not to loudspeaker layouts or
ambisonics: spatial.render on 2 cores and on 1, the command, oaconvolve with the
same filters and the FFT floor (with one inverse transform per output channel,
so 12 and 16 per block). The issue sets no target of its own for D; the table
shows A's (real-time factor, convolution against the floor, planning share).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import parser, settle, table, target, write_json  # noqa: E402
from measure import measure_scene, ratio  # noqa: E402
from scenes import dense_scene  # noqa: E402


def targets_d(res: dict) -> list[list]:
    s, sp = res["seconds"], res["spatial"][2]
    rows = []
    rtf = ratio(s, sp["wall_s"])
    target(rows, "RTF (spatial.render, 2 cores; A's target)", ">= 200", rtf,
           lambda v: v >= 200, f"{rtf:.1f}")
    conv = ratio(sp["convolve_s"], res["floor_2cores"])
    target(rows, "convolution / FFT floor, 2 cores (A's target)", "<= 1.5", conv,
           lambda v: v <= 1.5, f"{conv:.2f}" if conv else "")
    plan = ratio(sp["plan_s"], sp["wall_s"])
    target(rows, "planning / render (A's target)", "<= 0.25", plan, lambda v: v <= 0.25,
           f"{plan:.2f}" if plan else "")
    oa = ratio(res["oaconvolve_s"], sp["wall_s"])
    target(rows, "oaconvolve / spatial (A's target)", ">= 3", oa, lambda v: v >= 3, f"{oa:.1f}x")
    return rows


def main(argv=None) -> int:
    args = parser(__doc__).parse_args(argv)
    seconds = settle(args, 60.0)
    results = {}
    for fmt in ("7.1.4", "hoa3"):
        spec = dense_scene("A", seconds, 8, fmt)
        res = measure_scene(spec, args, f"D {fmt}: {seconds:g} s, 8 sources, "
                            f"8 x 6 x 3 m, rt60 0.5 s")
        res["targets"] = targets_d(res)
        table(f"D {fmt}: A's targets, for comparison", ["target", "goal", "measured", ""],
              res["targets"])
        results[f"D {fmt}"] = res
    write_json(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
