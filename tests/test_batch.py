"""`spatial batch` (issue 17): several small scenes on a LocalCluster of 2 worker
processes give exactly the files a single-process render gives; a broken scene is
reported (stderr, manifest) while the others render, and the exit status says so;
re-runs skip what is up to date; bad folders and schedulers are one-line errors.
Renders side by side in one process (threads) give the serial render's samples.

One cluster serves the module (its start costs seconds): the command reaches it
with --scheduler, as it would a cluster on other machines.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spatial import cli
from spatial.renderer import render_to_file
from spatial.scene.loader import load_scene

distributed = pytest.importorskip("distributed")  # a dependency: installed by .ci/run

FS = 48000
SCENE = """\
sample_rate: 48000
duration: 0.6
room:
  dimensions: [6, 5, 3]
  rt60: {rt60}
listener:
  position: [3, 2.5, 1.6]
  yaw: {yaw}
sources:
  - name: a
    role: dialogue
    file: {file}
    position: [{x}, 3.2, 1.5]
output:
  format: binaural
"""


@pytest.fixture(scope="module")
def cluster():
    import logging

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c.scheduler_address


def scenes(folder: Path, n: int = 3) -> list[Path]:
    rng = np.random.default_rng(7)
    out = []
    for k in range(n):
        sf.write(str(folder / f"n{k}.wav"), 0.1 * rng.standard_normal(FS // 2), FS,
                 subtype="FLOAT")
        path = folder / f"scene{k}.yaml"
        path.write_text(SCENE.format(rt60=0.2 + 0.1 * k, yaw=30 * k, file=f"n{k}.wav",
                                     x=4.0 + 0.5 * k))
        out.append(path)
    return out


def batch(*args, capsys=None):
    code = cli.main(["batch", *map(str, args)])
    err = capsys.readouterr().err if capsys is not None else ""
    return code, err


def test_batch_on_two_workers_is_the_single_process_render(tmp_path, cluster, capsys):
    paths = scenes(tmp_path)
    out = tmp_path / "out"
    code, err = batch(*paths, "--out-dir", out, "--format", "binaural,5.1", "--scheduler",
                      cluster, "-q", capsys=capsys)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in manifest["scenes"]] == ["ok"] * 3
    for path, entry in zip(paths, manifest["scenes"]):
        scene = load_scene(path).with_output(format="binaural,5.1")
        ref = tmp_path / "ref" / f"{path.stem}.wav"
        ref.parent.mkdir(exist_ok=True)
        render_to_file(scene, ref)  # this process, its default threads
        for fmt in ("binaural", "5.1"):
            got = out / f"{path.stem}.{fmt}.wav"
            want = ref.with_name(f"{path.stem}.{fmt}.wav")
            assert got.read_bytes() == want.read_bytes(), (path.name, fmt)
            done = entry["outputs"][fmt]
            assert done["path"] == str(got) and done["status"] == "ok"
            audio, fs = sf.read(str(got))
            assert done["duration_s"] == pytest.approx(audio.shape[0] / fs)
            assert done["render_s"] > 0
            # loudness against an independent meter (BS.1770, pyloudnorm) on the file
            if fmt == "binaural":
                import pyloudnorm

                lufs = pyloudnorm.Meter(fs).integrated_loudness(audio)
                assert done["loudness_lufs"] == pytest.approx(lufs, abs=0.1)
            assert done["true_peak_dbtp"] >= 20 * np.log10(np.abs(audio).max()) - 1e-6


def test_broken_scene_fails_alone(tmp_path, cluster, capsys):
    paths = scenes(tmp_path)
    (tmp_path / "not-a-sofa.sofa").write_bytes(b"not a SOFA file")
    missing = tmp_path / "missing.yaml"  # fails when the scene is read
    missing.write_text(paths[0].read_text().replace("n0.wav", "nothing.wav"))
    late = tmp_path / "late.yaml"  # fails on the worker, when the render reads its HRTF
    late.write_text(paths[1].read_text() + "  hrtf: not-a-sofa.sofa\n")
    out = tmp_path / "out"
    code, err = batch(paths[0], missing, paths[2], late, "--out-dir", out, "--scheduler",
                      cluster, "-q", capsys=capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 2 and all(line.startswith("spatial: error: ") for line in lines)
    assert "Traceback" not in err
    assert any("missing.yaml:12: sources[0].file: audio file not found" in x for x in lines)
    assert any("late.yaml" in x and "HRTF" in x for x in lines)
    manifest = json.loads((out / "manifest.json").read_text())
    status = {Path(e["scene"]).name: e for e in manifest["scenes"]}
    assert [status[p.name]["status"] for p in (paths[0], paths[2])] == ["ok", "ok"]
    assert status["missing.yaml"]["status"] == status["late.yaml"]["status"] == "failed"
    for name in ("missing.yaml", "late.yaml"):
        assert "\n" not in status[name]["error"] and status[name]["error"] in err
    assert manifest["scenes_failed"] == 2
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "scene0.wav",
                                                      "scene2.wav"]


def test_rerun_skips_up_to_date_outputs_and_force_redoes(tmp_path, cluster, capsys):
    paths = scenes(tmp_path, 2)
    out = tmp_path / "out"
    assert batch(*paths, "--out-dir", out, "--scheduler", cluster, "-q")[0] == 0
    first = json.loads((out / "manifest.json").read_text())
    stamps = {p: os.stat(out / f"{p.stem}.wav").st_mtime_ns for p in paths}
    assert batch(*paths, "--out-dir", out, "--scheduler", cluster, "-q")[0] == 0
    again = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in again["scenes"]] == ["skipped", "skipped"]
    for a, b in zip(first["scenes"], again["scenes"]):  # the figures of the render kept
        assert b["outputs"]["binaural"]["loudness_lufs"] == a["outputs"]["binaural"]["loudness_lufs"]
    assert all(os.stat(out / f"{p.stem}.wav").st_mtime_ns == stamps[p] for p in paths)
    time.sleep(0.01)
    os.utime(tmp_path / "n1.wav")  # a source newer than its render: that scene again
    assert batch(*paths, "--out-dir", out, "--scheduler", cluster, "-q")[0] == 0
    third = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in third["scenes"]] == ["skipped", "ok"]
    assert batch(*paths, "--out-dir", out, "--scheduler", cluster, "-q", "--force")[0] == 0
    forced = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in forced["scenes"]] == ["ok", "ok"]
    assert os.stat(out / "scene0.wav").st_mtime_ns > stamps[paths[0]]


def test_bad_batches_are_one_line_errors(tmp_path, capsys, monkeypatch):
    from spatial.batch import cluster as cl

    paths = scenes(tmp_path, 1)
    (tmp_path / "file").write_text("")
    code, err = batch(*paths, "--out-dir", tmp_path / "file" / "out", capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and "--out-dir: cannot write" in err
    other = tmp_path / "b"
    other.mkdir()
    (other / "scene0.yaml").write_text(paths[0].read_text())
    code, err = batch(paths[0], other / "scene0.yaml", "--out-dir", tmp_path / "o",
                      capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and "would both be rendered" in err
    monkeypatch.setattr(cl, "CONNECT_TIMEOUT_S", 1.0)  # the command waits 10 s
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = batch(*paths, "--out-dir", tmp_path / "o", "--scheduler",
                      f"tcp://127.0.0.1:{port}", capsys=capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("spatial: error: --scheduler: no dask scheduler answered")


def test_renders_side_by_side_in_threads_are_the_serial_renders(tmp_path):
    """Shared in-process state (the tail cache, HRTF sets, panners) under threads."""
    from concurrent.futures import ThreadPoolExecutor

    from spatial import plan
    from spatial.renderer import render

    loaded = [load_scene(p).with_output(format="binaural,5.1") for p in scenes(tmp_path, 4)]
    serial = [render(s) for s in loaded]
    plan._TAILS.clear()
    with ThreadPoolExecutor(4) as pool:
        side = list(pool.map(render, loaded))
    for a, b in zip(serial, side):
        for fmt in ("binaural", "5.1"):
            assert np.array_equal(a[fmt].audio, b[fmt].audio)


def test_labels_in_a_batch(tmp_path, cluster, capsys):
    paths = scenes(tmp_path, 2)
    text = paths[1].read_text().replace("    role: dialogue\n", "    label: speech\n")
    paths[1].write_text(text)
    out = tmp_path / "out"
    code, err = batch(*paths, "--out-dir", out, "--scheduler", cluster, "--labels", "-q",
                      capsys=capsys)
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"] == {"0": "dialogue", "1": "speech"}
    for k, path in enumerate(paths):
        rows = [line.split(",") for line in (out / f"{path.stem}.csv").read_text().split()]
        assert rows and all(len(r) == 6 and r[1] == str(k) and r[2] == "0" for r in rows)
        assert manifest["scenes"][k]["labels"] == str(out / f"{path.stem}.csv")


def test_command_help_lists_batch():
    parser = cli.build_parser()
    text = parser.format_help()
    assert "batch" in text and "variations" in text


def test_inputs_of_a_scene_include_its_bases(tmp_path):
    from spatial.batch.task import inputs

    paths = scenes(tmp_path, 1)
    (tmp_path / "ep").mkdir()
    episode = tmp_path / "ep" / "e1.yaml"
    episode.write_text("extends: ../scene0.yaml\nlistener:\n  yaw: 45\n")
    got = {p.resolve() for p in inputs(load_scene(episode))}
    assert got == {episode.resolve(), paths[0].resolve(), (tmp_path / "n0.wav").resolve()}


def test_importing_the_cli_leaves_the_thread_settings_alone():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    code = ("import os, sys, spatial.cli; print(os.environ.get('OPENBLAS_NUM_THREADS'), "
            "'numpy' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.split() == ["None", "False"], r.stderr  # the command sets it, in main()
