"""Smoke test: every benchmark script runs every scene for 2 s of audio (--quick), so the
scripts cannot rot. Not a timing test: it checks that each one finishes and prints its
tables, and that its independent cross-checks hold: the same filters through scipy's
oaconvolve give spatial's output, and the long renders read back with every frame.
The four scripts run at the same time (each is mostly one busy process at a time)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ["bench_render.py", "bench_sources.py", "bench_formats.py", "bench_long.py"]
FRAMES = 2 * 48000


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory) -> dict:
    """{script: (returncode, stdout, stderr, results)} of every script with --quick."""
    cache = tmp_path_factory.mktemp("bench-cache")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = {}
    for script in SCRIPTS:
        procs[script] = subprocess.Popen(
            [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--cache", str(cache),
             "--json", str(cache / f"{script}.json")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    runs = {}
    for script, proc in procs.items():
        out, err = proc.communicate(timeout=900)
        path = cache / f"{script}.json"
        runs[script] = (proc.returncode, out, err,
                        json.loads(path.read_text()) if path.exists() else None)
    return runs


@pytest.mark.parametrize("script", SCRIPTS[:3])
def test_short_scene_benchmarks_run_and_agree_with_oaconvolve(script, quick_runs):
    code, out, err, results = quick_runs[script]
    assert code == 0, err[-3000:]
    assert "targets (issue 8)" in out or "targets, for comparison" in out
    assert results.pop("machine")["cpus"] >= 1
    assert results
    for name, res in results.items():
        channels = {"binaural": 2, "7.1.4": 12, "hoa3": 16}[res["format"]]
        for sp in res["spatial"].values():
            assert sp["wall_s"] > 0 and sp["maxrss_mib"] > 0, name
            if sp["api"] == "render":  # render_to_file writes to a file it deletes
                assert sp["frames"] == FRAMES and sp["channels"] == channels, name
        assert res["command"]["wall_s"] > 0
        assert res["floor"]["2"] > 0 and res["floor"]["1"] > 0
        # scipy's oaconvolve with the same filters is an independent convolution: it must
        # reproduce spatial's output up to float32 rounding
        assert res["oaconvolve_vs_spatial"] < 1e-4, name
    if script == "bench_sources.py":  # C always measures 1 core against 2
        assert set(results["C"]["spatial"]) == {"1", "2"}
    if script == "bench_render.py" and "skipped" not in results["A"]["pra"]:
        assert results["A"]["pra"]["1"]["total_s"] > 0


def test_long_scene_benchmark_runs_and_reads_back(quick_runs):
    code, out, err, results = quick_runs["bench_long.py"]
    assert code == 0, err[-3000:]
    assert "E: targets (issue 8)" in out
    results = results["E"]
    assert set(results) == {"10 min", "2 h", "45 min 7.1.4"}
    for name, res in results.items():
        assert res["returncode"] == 0, res.get("error")
        assert res["reads_back_whole"] and res["frames"] == FRAMES, name
    assert results["45 min 7.1.4"]["channels"] == 12
