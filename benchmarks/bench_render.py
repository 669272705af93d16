"""Benchmark A: the reference scene, dense and sparse, against its peers and targets.

    python benchmarks/bench_render.py [--runs 3] [--seconds 60] [--skip-peer]
                                      [--full-order] [--quick] [--cache DIR] [--json F]

The reference scene: 60 s at 48 kHz, 8 static mono sources on a 2 m circle
around the listener (noises, tones, sweeps and transients at -20 dBFS RMS,
24-bit FLAC), an 8 x 6 x 3 m shoebox with rt60 0.5 s, the listener at
[4, 3, 1.6] facing +x, binaural output with the default (MIT KEMAR) HRTF.
The sparse variant: the same room and positions, 4 dialogue sources (speech
present 40% of the time) and 4 effects sources (one-shots of 1-2 s), silence
elsewhere in the files. Sources and scene files are generated once into the
cache folder (default ~/.cache/spatial-bench).

Measured in the same run (see measure.py): spatial.render on 2 cores and on 1,
spatial.render_to_file (the streaming path, when spatial has it) on 2 cores,
the `spatial render` command, pyroomacoustics at max_order 12 (and at
inverse_sabine's order with --full-order), scipy oaconvolve with the same
filters, and the FFT floor. Targets (issue 8) are printed next to the medians.
Every row runs with the decoded-source cache off ("source cache cold": each run
decodes and resamples its files, SPATIAL_SOURCE_CACHE=0) and the targets are
judged on those; spatial.render and the command are also measured with the
cache filled by an untimed render ("source cache warm", information rows).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import parser, settle, table, target, write_json  # noqa: E402
from measure import measure_scene, ratio  # noqa: E402
from scenes import dense_scene, sparse_scene  # noqa: E402


def targets_a(res: dict) -> list[list]:
    s = res["seconds"]
    sp = res["spatial"][2]
    wall = sp["wall_s"]
    rows = []
    target(rows, "RTF (spatial.render, 2 cores)", ">= 200", ratio(s, wall),
           lambda v: v >= 200, f"{ratio(s, wall):.1f}")
    conv = ratio(sp["convolve_s"], res["floor_2cores"])
    target(rows, "convolution / FFT floor (best of 1, 2 workers)", "<= 1.5", conv,
           lambda v: v <= 1.5, f"{conv:.2f}" if conv else "")
    plan = ratio(sp["plan_s"], wall)
    target(rows, "planning / render", "<= 0.25", plan, lambda v: v <= 0.25,
           f"{plan:.2f}" if plan else "")
    order = res["pra_order"]
    pra = res["pra"].get(order)
    pra = None if pra is None or "failed" in pra else pra
    speed = ratio(pra["total_s"], wall) if pra else None
    target(rows, f"pyroomacoustics max_order {order} / spatial", ">= 15", speed,
           lambda v: v >= 15,
           f"{speed:.1f}x" if speed else "")
    oa = ratio(res["oaconvolve_s"], wall)
    target(rows, "oaconvolve / spatial", ">= 3", oa, lambda v: v >= 3, f"{oa:.1f}x")
    cmd = ratio(s, res["command"]["wall_s"])
    target(rows, "RTF of the whole command", ">= 60", cmd, lambda v: v >= 60, f"{cmd:.1f}")
    if 1 in res["spatial"]:
        cores = ratio(res["spatial"][1]["wall_s"], wall)
        rows.append(["1 core / 2 cores (information)", "", f"{cores:.2f}x", ""])
    if "warm" in res["spatial"]:  # the targets above are with the source cache cold
        rtf = ratio(s, res["spatial"]["warm"]["wall_s"])
        rows.append(["RTF, source cache warm (information)", ">= 200", f"{rtf:.1f}", ""])
        cmd = ratio(s, res["command_warm"]["wall_s"])
        rows.append(["RTF of the command, source cache warm (information)", ">= 60",
                     f"{cmd:.1f}", ""])
    return rows


def main(argv=None) -> int:
    args = parser(__doc__).parse_args(argv)
    seconds = settle(args, 60.0)
    results = {}
    for name, spec in (("A", dense_scene("A", seconds)),
                       ("A sparse", sparse_scene("A-sparse", seconds))):
        title = (f"{name}: {seconds:g} s, {len(spec.sources)} sources, binaural, "
                 f"8 x 6 x 3 m, rt60 0.5 s")
        res = measure_scene(spec, args, title, peer=not args.quick or name == "A",
                            stream=True, warm=True)
        res["targets"] = targets_a(res)
        table(f"{name}: targets (issue 8)", ["target", "goal", "measured", ""], res["targets"])
        results[name] = res
    write_json(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
