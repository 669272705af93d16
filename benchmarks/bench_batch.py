"""Issue 17: a season-style batch against the same scenes rendered one after another.

1. `spatial variations` draws N scenes (default 20) from one template: a room with a
   drawn rt60, a drawn listener yaw, three sources (dialogue, effects, ambience) with
   drawn files, positions, gains and starts, and one moving source whose path
   keyframes are drawn; SECONDS (default 4) of audio each.
2. serial: `spatial render SCENE --format binaural,5.1 -q` once per scene, one process
   per scene (the command's start-up paid N times), one after another;
3. batch: `spatial batch SCENES --format binaural,5.1 --workers W` (default 2) on a
   LocalCluster started by the command (its start-up counted), with manifest.json;
   optionally again with --labels. --repeats R alternates R serial and R batch runs
   (the machine's load then weighs on both) and reports medians.
Both wall times include everything a user waits for. The batch's outputs are checked
byte for byte against the serial ones, and its manifest for every scene and format.

    python benchmarks/bench_batch.py [--scenes 20] [--seconds 4] [--workers 2] [--repeats 3] [--labels] [--json F]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from harness import machine_line  # noqa: E402

FS = 48000
FORMATS = "binaural,5.1"
TEMPLATE = """\
sample_rate: 48000
duration: {seconds}
seed: {{integer: [0, 1000000]}}
room:
  dimensions: [8, 6, 3]
  rt60: {{uniform: [0.3, 0.7]}}
listener:
  position: [4, 3, 1.6]
  yaw: {{uniform: [-180, 180]}}
sources:
  - name: line
    role: dialogue
    file: {{choose: [voice0.wav, voice1.wav]}}
    position: {{uniform: [[1, 1, 1.4], [7, 5, 1.8]]}}
    gain_db: {{normal: [0, 2]}}
  - name: hit
    role: effects
    label: impact
    file: {{choose: [hit0.wav, hit1.wav]}}
    position: {{uniform: [[0.5, 0.5, 0.5], [7.5, 5.5, 2.5]]}}
    start: {{uniform: [0, {late}]}}
  - name: air
    role: ambience
    file: air.wav
    position: {{uniform: [[1, 1, 2], [7, 5, 2.8]]}}
    gain_db: {{normal: [-12, 1]}}
  - name: car
    role: effects
    label: vehicle
    file: hit1.wav
    interpolation: linear
    path:
      - {{t: 0, position: {{uniform: [[0.5, 0.5, 1], [1.5, 5.5, 1.5]]}}}}
      - {{t: {seconds}, position: {{uniform: [[6.5, 0.5, 1], [7.5, 5.5, 1.5]]}}}}
output:
  format: binaural
"""


def assets(folder: Path, seconds: float) -> None:
    rng = np.random.default_rng(17)
    n = int(seconds * FS)
    t = np.arange(n) / FS
    for k in range(2):  # voice-like: noise bursts under a 4 Hz syllable envelope
        env = np.clip(np.sin(2 * np.pi * (3.5 + k) * t), 0, None) ** 2
        sf.write(str(folder / f"voice{k}.wav"), 0.2 * env * rng.standard_normal(n), FS)
    for k in range(2):  # a decaying hit, then silence
        x = np.zeros(n)
        m = int(0.4 * FS)
        x[:m] = 0.5 * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.05 * (k + 1) * FS))
        sf.write(str(folder / f"hit{k}.wav"), x, FS)
    sf.write(str(folder / "air.wav"), 0.05 * rng.standard_normal(n), FS)


def spatial(*args, cwd) -> tuple[float, subprocess.CompletedProcess]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "spatial", *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"spatial {' '.join(map(str, args[:2]))} failed:\n{r.stderr[-2000:]}")
    return wall, r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="serial and batch runs, "
                    "alternated (tables show medians)")
    ap.add_argument("--labels", action="store_true", help="also time the batch with --labels")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        assets(work, args.seconds)
        (work / "season.yaml").write_text(TEMPLATE.format(seconds=args.seconds,
                                                          late=max(0.0, args.seconds - 1)))
        # one untimed render: numba's disk cache and the HRTF cache, for both sides
        spatial("variations", "season.yaml", "-n", 1, "--seed", 99, "--out-dir", "warm", "-q",
                cwd=work)
        spatial("render", "warm/season-0000.yaml", "--format", FORMATS, "-o", "warm/w.wav",
                "-q", cwd=work)
        t_var, _ = spatial("variations", "season.yaml", "-n", args.scenes, "--seed", 1,
                           "--out-dir", "scenes", "-q", cwd=work)
        scenes = sorted((work / "scenes").glob("*.yaml"))
        serial, batched = [], []
        for r in range(args.repeats):  # alternated: a shared machine's load hits both
            out = work / f"serial{r}"
            out.mkdir()
            t0 = time.perf_counter()
            for s in scenes:
                spatial("render", s, "--format", FORMATS, "-o", out / f"{s.stem}.wav", "-q",
                        cwd=work)
            serial.append(time.perf_counter() - t0)
            batched.append(spatial("batch", *scenes, "--format", FORMATS, "--out-dir",
                                   f"batch{r}", "--workers", args.workers, "-q", cwd=work)[0])
        t_serial, t_batch = float(np.median(serial)), float(np.median(batched))
        manifest = json.loads((work / "batch0" / "manifest.json").read_text())
        same = 0
        for s in scenes:
            for fmt in FORMATS.split(","):
                a = (work / "serial0" / f"{s.stem}.{fmt}.wav").read_bytes()
                b = (work / "batch0" / f"{s.stem}.{fmt}.wav").read_bytes()
                same += a == b
        entries = manifest["scenes"]
        ok = all(e["status"] == "ok" and set(e["outputs"]) == set(FORMATS.split(","))
                 for e in entries)
        render_s = [e["render_s"] for e in entries]
        t_rerun, _ = spatial("batch", *scenes, "--format", FORMATS, "--out-dir", "batch0",
                             "--workers", args.workers, "-q", cwd=work)
        t_labels = None
        if args.labels:
            t_labels, _ = spatial("batch", *scenes, "--format", FORMATS, "--out-dir",
                                  "labelled", "--workers", args.workers, "--labels", "-q",
                                  cwd=work)
    audio = args.scenes * args.seconds
    n_files = args.scenes * len(FORMATS.split(","))
    figures = {
        "scenes": args.scenes, "seconds_each": args.seconds, "formats": FORMATS,
        "workers": args.workers, "variations_s": t_var, "serial_s": t_serial,
        "batch_s": t_batch, "serial_runs_s": serial, "batch_runs_s": batched,
        "batch_rerun_all_skipped_s": t_rerun, "batch_labels_s": t_labels,
        "speedup": t_serial / t_batch, "identical_files": f"{same}/{n_files}",
        "manifest_complete": ok, "render_s_median": float(np.median(render_s)),
        "machine": machine_line()}
    print(f"{args.scenes} scenes x {args.seconds:g} s in {FORMATS} ({n_files} files, "
          f"{audio:g} s of audio per format); variations drawn in {t_var:.1f} s")
    print(f"| run | wall (s) | scenes/min | scene seconds per wall second (each in both formats) |")
    print(f"|---|---|---|---|")
    for name, wall in (("serial: `spatial render` x N", t_serial),
                       (f"`spatial batch --workers {args.workers}`", t_batch)) + (
            (("batch --labels", t_labels),) if t_labels else ()):
        print(f"| {name} | {wall:.1f} | {60 * args.scenes / wall:.1f} | {audio / wall:.2f} |")
    print(f"runs (s): serial {' '.join(f'{x:.1f}' for x in serial)}; batch "
          f"{' '.join(f'{x:.1f}' for x in batched)}")
    print(f"speed-up {t_serial / t_batch:.2f}x; identical files {same}/{n_files}; manifest "
          f"complete: {ok}; per-scene render time in the workers, median "
          f"{np.median(render_s):.2f} s; re-run with all up to date {t_rerun:.1f} s")
    print(machine_line())
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
