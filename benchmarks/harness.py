"""Measuring spatial through its public surface, one child process per configuration.

- spatial in a child: `import spatial`, one untimed warm-up render (numba's cache,
  the HRTF: start-up), then --runs timed runs of `load_scene` + `render` (or
  `render_to_file` when spatial has it and the scene is long); the child's peak
  RSS comes from os.wait4, so every configuration has its own.
- the `spatial render` command in a child: wall time including start-up.
- cores: a child for "n cores" is pinned to n CPUs (sched_setaffinity) with
  NUMBA_NUM_THREADS, OMP/OPENBLAS/MKL_NUM_THREADS and SPATIAL_BENCH_WORKERS = n;
  with n = 1 the spatial child also sets scipy.fft's default workers to 1.
- the decoded-source cache (spatial.source_cache) is off in every child
  (SPATIAL_SOURCE_CACHE=0: "source cache cold", every run decodes and resamples its
  files) unless a row asks for it warm: then an untimed render fills it first.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from scenes import DEFAULT_CACHE  # noqa: E402


# ---------------------------------------------------------------- children

def child_env(cores: int, source_cache: str = "cold") -> dict:
    env = dict(os.environ)
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS", "SPATIAL_BENCH_WORKERS"):
        env[var] = str(cores)
    env["SPATIAL_SOURCE_CACHE"] = "1" if source_cache == "warm" else "0"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def pinned(cores: int):
    """preexec_fn: run the child on the first `cores` CPUs this process may use."""
    cpus = sorted(os.sched_getaffinity(0))[:cores]
    return lambda: os.sched_setaffinity(0, cpus)


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_measured(cmd: list[str], cores: int, rss_cap_mib: float | None = None,
                 source_cache: str = "cold") -> dict:
    """Run cmd in a child on `cores` CPUs: wall time, the child's own peak RSS (os.wait4
    reports it for that child alone), its output. With rss_cap_mib, the child is killed
    when its resident size passes the cap (a shared machine must not run out of memory)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env(cores, source_cache),
                                preexec_fn=pinned(cores))
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG if rss_cap_mib else 0)
            if pid:
                break
            if not killed and _rss_mib(proc.pid) > rss_cap_mib:
                proc.kill()
                killed = True
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"returncode": proc.returncode, "wall_s": wall, "killed_at_cap": killed,
                "maxrss_mib": usage.ru_maxrss / 1024.0, "stdout": out.read(),
                "stderr": err.read()}


def spatial_child(job: dict) -> dict:
    """In the child: warm-up render, then job['runs'] timed ones."""
    import scipy.fft

    import spatial

    if os.environ.get("SPATIAL_BENCH_WORKERS") == "1":
        workers = scipy.fft.set_workers(1)  # scipy's default, made explicit for 1 core;
        workers.__enter__()  # left on for the rest of this process
    to_file = job["mode"] == "file" and hasattr(spatial, "render_to_file")
    if job["mode"] == "file" and not to_file:
        raise SystemExit("spatial has no render_to_file")
    t0 = time.perf_counter()
    if job.get("warmup", True):
        spatial.render(spatial.load_scene(job["scene"]))
    startup = time.perf_counter() - t0
    runs, result = [], None
    for _ in range(job["runs"]):
        t0 = time.perf_counter()
        scene = spatial.load_scene(job["scene"])
        t1 = time.perf_counter()
        if to_file:
            result = spatial.render_to_file(scene, job["out"])
        else:
            result = spatial.render(scene)
        t2 = time.perf_counter()
        # render() returns a Rendered with .stats; render_to_file returns the stats dict
        stats = dict(result if isinstance(result, dict) else getattr(result, "stats", None) or {})
        runs.append({**{k: v for k, v in stats.items() if isinstance(v, (int, float))},
                     "load_s": t1 - t0, "render_s": t2 - t1, "wall_s": t2 - t0})
    info = {"runs": runs, "warmup_s": startup, "api": "render_to_file" if to_file else "render"}
    if not to_file and result is not None:
        audio = np.asarray(result.audio)
        info.update(frames=int(audio.shape[0]), channels=int(audio.shape[1]))
        if job.get("save"):
            np.save(job["save"], audio)
    return info


def bench_spatial(scene: Path, runs: int, cores: int, mode: str = "memory",
                  save: Path | None = None, out: Path | None = None, warmup: bool = True,
                  source_cache: str = "cold") -> dict:
    """source_cache "warm": the warm-up render (always done then) fills the cache."""
    job = {"scene": str(scene), "runs": runs, "mode": mode,
           "warmup": warmup or source_cache == "warm",
           "save": str(save) if save else None, "out": str(out) if out else None}
    res = run_measured([sys.executable, str(HERE / "harness.py"), "--spatial-child",
                        json.dumps(job)], cores, source_cache=source_cache)
    if res["returncode"] != 0:
        raise RuntimeError(f"spatial child failed ({res['returncode']}):\n{res['stderr'][-3000:]}")
    info = json.loads(res["stdout"].strip().splitlines()[-1])
    info["maxrss_mib"] = res["maxrss_mib"]
    info["cores"] = cores
    info["source_cache"] = source_cache
    for key in ("wall_s", "plan_s", "convolve_s"):
        vals = [r[key] for r in info["runs"] if key in r]
        info[key] = float(np.median(vals)) if vals else None
    return info


def spatial_command() -> list[str]:
    """The installed `spatial` script next to this Python (no pyenv shim), else -m spatial."""
    script = Path(sys.executable).parent / "spatial"
    return [str(script)] if script.exists() else [sys.executable, "-m", "spatial"]


def bench_command(scene: Path, runs: int, cores: int, out: Path,
                  source_cache: str = "cold") -> dict:
    """`spatial render SCENE -o OUT -q` in a child, `runs` times: whole-command wall time.
    source_cache "warm": after one untimed run that fills the cache."""
    walls, rss = [], []
    for k in range(runs + (source_cache == "warm")):
        res = run_measured(spatial_command() + ["render", str(scene), "-o", str(out), "-q"],
                           cores, source_cache=source_cache)
        if source_cache == "warm" and k == 0:
            continue
        if res["returncode"] != 0:
            raise RuntimeError(f"spatial render failed ({res['returncode']}): "
                               f"{res['stderr'][-3000:]}")
        walls.append(res["wall_s"])
        rss.append(res["maxrss_mib"])
    return {"wall_s": float(np.median(walls)), "walls": walls, "maxrss_mib": max(rss),
            "cores": cores, "source_cache": source_cache}


# ---------------------------------------------------------------- options and output

def machine() -> dict:
    """What the figures were measured on: CPU, cores, memory, versions, commit, load."""
    import platform

    def version(mod):
        try:
            return __import__(mod).__version__
        except Exception:  # noqa: BLE001
            return "absent"

    cpu = platform.processor() or "?"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cpus": len(os.sched_getaffinity(0)), "memory_gib": round(mem, 1),
            "python": platform.python_version(), "numpy": version("numpy"),
            "scipy": version("scipy"), "numba": version("numba"),
            "soundfile": version("soundfile"), "pyroomacoustics": version("pyroomacoustics"),
            "spatial": commit, "load_average": [round(x, 2) for x in os.getloadavg()]}


def machine_line() -> str:
    m = machine()
    return (f"machine: {m['cpu']}, {m['cpus']} cores, {m['memory_gib']} GiB; Python "
            f"{m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, numba {m['numba']}, "
            f"soundfile {m['soundfile']}, pyroomacoustics {m['pyroomacoustics']}; spatial "
            f"{m['spatial']}; load average {' '.join(map(str, m['load_average']))}")


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=doc.split("\n\n", 1)[-1])
    ap.add_argument("--quick", action="store_true",
                    help="every scene with 2 s of audio, 1 run (the smoke test)")
    ap.add_argument("--seconds", type=float, help="audio length instead of the scene's own")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per configuration "
                    "(medians; default 3)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help=f"folder for generated sources and scenes (default {DEFAULT_CACHE}; "
                    "env SPATIAL_BENCH_CACHE)")
    ap.add_argument("--skip-peer", action="store_true", help="leave out pyroomacoustics")
    ap.add_argument("--full-order", action="store_true",
                    help="pyroomacoustics also at the max_order pra.inverse_sabine gives (63 "
                    "here: one source at order 40 already takes 20 s and 2.3 GB)")
    ap.add_argument("--pra-order", type=int, action="append", default=[], dest="extra_order",
                    metavar="N", help="pyroomacoustics also at max_order N (repeatable)")
    ap.add_argument("--pra-cap", type=float, default=8192.0, metavar="MiB",
                    help="kill a pyroomacoustics run past this resident size (8192)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    return ap


def settle(args, seconds: float) -> float:
    """The audio length of a run (quick: 2 s, one run, no warm-up, pyroomacoustics at
    max_order 1, no 1-core run unless a script asks); sets args.warmup, .pra_order and
    .one_core."""
    args.warmup, args.pra_order, args.one_core = True, 12, True
    if args.quick:  # the smoke test: no warm-up, the peer at a token order, 2 cores only
        args.runs, args.warmup, args.pra_order, args.one_core = 1, False, 1, False
        return 2.0
    return args.seconds or seconds


def fmt(v, spec=".3f", empty="-") -> str:
    return empty if v is None else format(v, spec)


def table(title: str, header: list[str], rows: list[list], notes=()) -> str:
    cells = [[str(c) for c in row] for row in [header] + rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, ""]
    for k, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"  {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


def target(rows: list, label: str, goal: str, value: float | None, ok_when, shown: str) -> None:
    """Append one target row: label, goal, measured, met / MISSED (by how much)."""
    if value is None:
        rows.append([label, goal, "n/a", "not measured"])
        return
    met = ok_when(value)
    rows.append([label, goal, shown, "met" if met else "MISSED"])


def write_json(args, results: dict) -> None:
    print(machine_line())
    results["machine"] = machine()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results: {args.json}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--spatial-child":
        print(json.dumps(spatial_child(json.loads(sys.argv[2]))))
    elif sys.argv[1:] == ["--machine"]:
        print(machine_line())
    else:
        sys.exit("usage: harness.py --machine | --spatial-child JOB_JSON")
