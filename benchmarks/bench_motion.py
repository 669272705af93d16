"""Benchmark B: scene A with moving sources (issue 9).

    python benchmarks/bench_motion.py [--runs 3] [--seconds 60] [--quick] [--cache DIR]
                                      [--json F]

Scene A (60 s, 8 dense sources on a 2 m circle, 8 x 6 x 3 m room, rt60 0.5 s,
binaural; benchmarks/scenes.py) rendered three ways, each in a child process
pinned to 2 cores (harness.bench_spatial: one warm-up render, then --runs timed
ones, medians):
- A: every source static (the reference);
- B1: src0 moving, the other 7 static;
- B8: all 8 sources moving.
A moving source orbits the listener at 10 degrees per second (spline through a
keyframe every 2 s), its radius swinging between 1.5 and 2.5 m (so its distance,
and its pitch, change), its height as in A. Targets (issue 9): RTF >= 100 for B1
and >= 30 for B8 on the 2-core machine.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_spatial, parser, settle, table, target, write_json  # noqa: E402
from scenes import LISTENER, dense_scene, write_scene  # noqa: E402


def orbit(position, seconds: float) -> str:
    """The YAML path of a source orbiting the listener from `position`."""
    dx, dy = position[0] - LISTENER[0], position[1] - LISTENER[1]
    a0 = math.atan2(dy, dx)
    keys = []
    for k in range(int(math.ceil(seconds / 2.0)) + 1):
        t = 2.0 * k
        a = a0 + math.radians(10.0 * t)
        r = 2.0 + 0.5 * math.sin(0.7 * k)
        keys.append(f"{{t: {t:g}, position: [{LISTENER[0] + r * math.cos(a):.4f}, "
                    f"{LISTENER[1] + r * math.sin(a):.4f}, {position[2]:g}]}}")
    return f"path: [{', '.join(keys)}]"


def moving_scene(a_scene: Path, spec, n_moving: int) -> Path:
    """Scene A's file with its first n_moving sources on orbits, next to it."""
    lines = []
    for line in a_scene.read_text().splitlines():
        for i, src in enumerate(spec.sources[:n_moving]):
            if line.strip().startswith(f"- {{name: {src.name},"):
                head = line[:line.index("position:")]
                line = f"{head}{orbit(src.position, spec.seconds)}}}"
        lines.append(line)
    out = a_scene.with_name(a_scene.stem + f"-B{n_moving}.yaml")
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv=None) -> int:
    args = parser(__doc__).parse_args(argv)
    seconds = settle(args, 60.0)
    spec = dense_scene("A", seconds)
    a_scene = write_scene(spec, args.cache)
    rows, results = [], {"seconds": seconds}
    for label, n in (("A (static)", 0), ("B1 (1 of 8 moving)", 1), ("B8 (8 of 8 moving)", 8)):
        scene = a_scene if n == 0 else moving_scene(a_scene, spec, n)
        res = bench_spatial(scene, args.runs, 2, warmup=args.warmup)
        rtf = seconds / res["wall_s"]
        results[label] = {"wall_s": res["wall_s"], "plan_s": res["plan_s"],
                          "convolve_s": res["convolve_s"], "rtf": rtf,
                          "maxrss_mib": res["maxrss_mib"]}
        rows.append([label, f"{res['wall_s']:.2f}", f"{rtf:.1f}", f"{res['plan_s']:.2f}",
                     f"{res['convolve_s']:.2f}", f"{res['maxrss_mib']:.0f}"])
    table(f"B: scene A with moving sources, {seconds:g} s, binaural, 2 cores",
          ["scene", "wall s", "RTF", "plan s", "convolve s", "peak RSS MiB"], rows)
    goals = []
    target(goals, "RTF, B1 (1 of 8 moving)", ">= 100", results["B1 (1 of 8 moving)"]["rtf"],
           lambda v: v >= 100, f"{results['B1 (1 of 8 moving)']['rtf']:.1f}")
    target(goals, "RTF, B8 (8 of 8 moving)", ">= 30", results["B8 (8 of 8 moving)"]["rtf"],
           lambda v: v >= 30, f"{results['B8 (8 of 8 moving)']['rtf']:.1f}")
    table("B: targets (issue 9)", ["target", "goal", "measured", ""], goals)
    results["targets"] = goals
    write_json(args, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
