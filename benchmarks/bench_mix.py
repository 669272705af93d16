"""Benchmark M: what a mix, stems and several formats cost on top of a plain render.

    python benchmarks/bench_mix.py [--runs 3] [--rounds 1] [--seconds 30] [--cache DIR]
                                   [--json F]

The scene of issue 14: 30 s, 8 WAV sources (2 dialogue, 2 music, 3 ambience,
1 effects) on a 2 m circle in an 8 x 6 x 3 m room, rt60 0.5 s. Each configuration
runs in a child process on 2 cores (harness.run_measured): one untimed warm-up
render, then --runs timed `spatial.render_to_file` calls (the command's path without
its start-up), median reported. Configurations:
- plain: no `mix:` section; mix: bus gains, ducking (music and ambience under the
  dialogue) and dialogue enhancement; mix + stems: the same with four stems;
  each in binaural and in 7.1.4;
- four formats (binaural, 5.1, 7.1.4, hoa3): the four rendered separately (sum of
  the four medians), and in one run where spatial takes a format list.
--rounds K measures every configuration K times over, round by round (a new child
each time), and takes the median of all its timed renders: drift of a shared machine
then lands on every configuration alike instead of on whichever ran during it.
Targets (issue 14): mix <= 1.2x plain (binaural and 7.1.4), mix + stems <= 2x plain
(binaural), four formats in one run <= 0.75x the four separate renders.
Works against any checkout on PYTHONPATH (the landed code renders a list of formats
only by separate runs: that row is then "n/a").
"""
from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import parser, run_measured, settle, table, target, write_json  # noqa: E402
from scenes import (DIMS, FS, LISTENER, RT60, SEED, VERSION, YAW_DEG, SceneSpec,  # noqa: E402
                    SourceSpec, circle_positions, read_signals, write_sources)

KINDS = [("dialogue", "dialogue"), ("dialogue", "dialogue"), ("music", "music"),
         ("music", "music"), ("ambience", "ambience"), ("ambience", "ambience"),
         ("ambience", "ambience"), ("effects", "effects")]
MIX = ("mix:\n  buses: {music: -6, ambience: -3}\n  dialogue_enhancement: 2\n"
       "  ducking: {under: dialogue, duck: [music, ambience], depth_db: 6}\n")

CHILD = r"""
import json, statistics, sys, time, tempfile, os
import spatial
path, fmt, stems, runs = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
scene = spatial.load_scene(path).with_output(format=fmt)
out = os.path.join(tempfile.mkdtemp(), "out.wav")
spatial.render_to_file(scene, out, stems=stems)  # warm-up (numba cache, HRTF, tail)
times = []
for _ in range(runs):
    t = time.perf_counter()
    spatial.render_to_file(scene, out, stems=stems)
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "median": statistics.median(times)}))
"""


def write_mix_scene(seconds: float, cache: Path) -> tuple[Path, Path]:
    """WAV sources and two scene files (plain, with the mix) in cache/<version>/M/."""
    import soundfile as sf

    pos = circle_positions(len(KINDS))
    spec = SceneSpec("M", seconds, "binaural", tuple(
        SourceSpec(f"{k}{i}", k, SEED + 300 + i, pos[i], role)
        for i, (k, role) in enumerate(KINDS)))
    folder = cache / VERSION / "M"
    flacs = write_sources(spec, folder, lambda *a: None)
    lines = []
    for s, p, x in zip(spec.sources, flacs, read_signals(spec, cache)):
        wav = p.with_suffix(".wav")
        if not wav.exists():
            sf.write(str(wav), np.asarray(x, np.float32), FS, subtype="FLOAT")
        lines.append(f"  - {{name: {s.name}, role: {s.role}, file: {wav.name}, "
                     f"position: [{s.position[0]}, {s.position[1]}, {s.position[2]}]}}")
    head = (f"sample_rate: {FS}\nduration: {seconds:g}\nseed: 1\n"
            f"room: {{dimensions: [{DIMS[0]:g}, {DIMS[1]:g}, {DIMS[2]:g}], rt60: {RT60:g}}}\n"
            f"listener: {{position: [{LISTENER[0]:g}, {LISTENER[1]:g}, {LISTENER[2]:g}], "
            f"yaw: {YAW_DEG:g}}}\nsources:\n" + "\n".join(lines) + "\n")
    plain, mixed = folder / f"M-{seconds:g}s.yaml", folder / f"M-mix-{seconds:g}s.yaml"
    plain.write_text(head)
    mixed.write_text(head + MIX)
    return plain, mixed


def takes_format_lists() -> bool:
    try:
        from spatial.scene.parts import Output
    except ImportError:
        return False
    return hasattr(Output, "formats")


def measure(scene: Path, fmt: str, stems: bool, runs: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(CHILD)
    res = run_measured([sys.executable, f.name, str(scene), fmt, "1" if stems else "0",
                        str(runs)], cores=2, source_cache="warm")
    try:
        return json.loads(res["stdout"].strip().splitlines()[-1])
    except (KeyError, IndexError, ValueError):
        return {"failed": res.get("stderr", "")[-400:]}


def pooled(rounds: list[dict]) -> dict:
    """One configuration's rounds as one result: every timed render, their median."""
    failed = [r for r in rounds if "failed" in r]
    if failed:
        return failed[0]
    times = [t for r in rounds for t in r["times"]]
    return {"times": times, "median": statistics.median(times), "rounds": len(rounds)}


def main(argv=None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every configuration this many times over, interleaved")
    args = ap.parse_args(argv)
    seconds = settle(args, 30.0)
    plain, mixed = write_mix_scene(seconds, Path(args.cache))
    fours = ("binaural", "5.1", "7.1.4", "hoa3")
    configs = [(f"{fmt} {name}", scene, fmt, stems) for fmt in ("binaural", "7.1.4")
               for name, scene, stems in (("plain", plain, False), ("mix", mixed, False),
                                          ("mix + stems", mixed, True))]
    configs += [(f"{fmt} plain", plain, fmt, False) for fmt in fours
                if fmt not in ("binaural", "7.1.4")]
    if takes_format_lists():
        configs.append(("four in one run", plain, ",".join(fours), False))
    measured: dict[str, list] = {name: [] for name, *_ in configs}
    for k in range(max(1, args.rounds)):
        for name, scene, fmt, stems in configs:
            r = measure(scene, fmt, stems, args.runs)
            measured[name].append(r)
            print(f"round {k + 1}: {name:22s} {r.get('median', float('nan')):.3f} s",
                  flush=True)
    res = {name: pooled(rs) for name, rs in measured.items()}
    res["four separate"] = {"median": sum(res[f"{fmt} plain"].get("median", float("nan"))
                                          for fmt in fours)}
    if "four in one run" in res:  # (the table's order: after the separate renders)
        res["four in one run"] = res.pop("four in one run")
    rows = []

    def ratio(a, b):
        x, y = res[a].get("median"), res[b].get("median")
        return None if x is None or y is None else x / y

    for fmt in ("binaural", "7.1.4"):
        r = ratio(f"{fmt} mix", f"{fmt} plain")
        target(rows, f"{fmt}: mix / plain", "<= 1.2", r, lambda v: v <= 1.2,
               f"{r:.2f}" if r else "")
    r = ratio("binaural mix + stems", "binaural plain")
    target(rows, "binaural: mix + 4 stems / plain", "<= 2", r, lambda v: v <= 2.0,
           f"{r:.2f}" if r else "")
    r = ratio("7.1.4 mix + stems", "7.1.4 plain")
    rows.append(["7.1.4: mix + 4 stems / plain", "", f"{r:.2f}" if r else "", ""])
    r = ratio("four in one run", "four separate") if "four in one run" in res else None
    target(rows, "4 formats in one run / 4 separate", "<= 0.75", r, lambda v: v <= 0.75,
           f"{r:.2f}" if r else "n/a")
    table(f"M: {seconds:g} s, 8 WAV sources, 8 x 6 x 3 m, rt60 0.5 s, render_to_file on 2 "
          "cores (median)", ["configuration", "s"],
          [[k, f"{v.get('median', float('nan')):.3f}"] for k, v in res.items()])
    table("M: targets", ["target", "goal", "measured", ""], rows)
    res["targets"] = rows
    write_json(args, {"M": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
