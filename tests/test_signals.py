"""SIGINT, SIGTERM and SIGHUP sent to `spatial render` in each of its passes (issue 18):
the command exits 128 + the signal, the output folder and the source cache hold
exactly what they held before (no .part, no .pass1.wav, no stem), and the existing
output file is unchanged. And what a SIGKILL left is swept by a later render.

Each pass is caught by watching the folders for the temporary file that pass
writes (the render itself has no test hook): the output's ``.part`` (first pass),
the ``.pass1.wav`` beside a second ``.part`` (the loudness pass), a stem's ``.part``
(stems), a ``.part`` in the source cache (a cold cache)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
FS = 48000
OLD = b"RIFF-not-really: the user's previous render"

SCENE = """\
sample_rate: 48000
duration: {duration}
listener: {{position: [0, 0, 0]}}
sources:
  - {{name: a, role: dialogue, file: {file}, position: [2, 0, 0]}}
  - {{name: b, role: music, file: {file}, position: [0, 2, 0]}}
output:
  format: mono
{extra}"""

PASSES = {  # pass -> (scene's extra output keys, source file, the temp file that shows it)
    "first": ("", "a.wav", lambda out, cache: _parts(out, ".out.wav.")),
    "loudness": ("  loudness: -23\n", "a.wav",
                 lambda out, cache: [p for p in out.iterdir() if p.name.endswith(".pass1.wav")]
                 and [p for p in _parts(out, ".out.wav.") if ".pass1" not in p.name]),
    "stems": ("  stems: true\n", "a.wav", lambda out, cache: _parts(out, ".out.music.wav.")),
    "cold cache": ("", "a.flac", lambda out, cache: _parts(cache / "sources", "")),
}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}


def _parts(folder: Path, prefix: str) -> list[Path]:
    try:
        return [p for p in folder.iterdir()
                if p.name.startswith(prefix) and p.name.endswith(".part")]
    except OSError:
        return []


def _listing(*folders: Path) -> dict:
    out = {}
    for folder in folders:
        for p in sorted(folder.rglob("*")) if folder.exists() else ():
            out[str(p)] = p.read_bytes() if p.is_file() else None
    return out


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    d = tmp_path_factory.mktemp("assets")
    x = 0.1 * np.random.default_rng(3).standard_normal(FS * 40).astype(np.float32)
    sf.write(d / "a.wav", x, FS, subtype="FLOAT")
    sf.write(d / "a.flac", x, FS, subtype="PCM_16")
    return d


def _start(tmp_path, assets, pass_name):
    extra, file, _ = PASSES[pass_name]
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    duration = {"loudness": 60, "cold cache": 40}.get(pass_name, 240)
    (work / "scene.yaml").write_text(SCENE.format(duration=duration,
                                                  file=assets / file, extra=extra))
    (work / "out.wav").write_bytes(OLD)
    if "stems" in pass_name:
        (work / "out.music.wav").write_bytes(OLD)
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPATIAL_CACHE_DIR=str(cache))
    env.pop("SPATIAL_SOURCE_CACHE", None)
    (cache / "sources").mkdir(parents=True)
    before = _listing(work, cache)
    proc = subprocess.Popen([sys.executable, "-m", "spatial", "render", "scene.yaml", "-o",
                             "out.wav", "-q"], cwd=work, env=env, stderr=subprocess.PIPE,
                            text=True)
    return proc, work, cache, before


def _wait_for(proc, seen, timeout=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if seen():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    return False


@pytest.mark.parametrize("sig", SIGNALS)
@pytest.mark.parametrize("pass_name", PASSES)
def test_a_signal_in_any_pass_leaves_nothing(tmp_path, assets, pass_name, sig):
    proc, work, cache, before = _start(tmp_path, assets, pass_name)
    seen = PASSES[pass_name][2]
    try:
        caught = _wait_for(proc, lambda: seen(work, cache))
        assert caught, f"the render ended before its {pass_name} pass was seen: " + (
            proc.stderr.read() if proc.poll() is not None else "")
        proc.send_signal(SIGNALS[sig])
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + SIGNALS[sig], err
    assert "interrupted" in err and "Traceback" not in err, err
    assert _listing(work, cache) == before  # nothing left, the old output as it was


def test_what_a_sigkill_left_is_swept_by_the_next_render(tmp_path, assets):
    proc, work, cache, before = _start(tmp_path, assets, "cold cache")
    try:
        assert _wait_for(proc, lambda: _parts(cache / "sources", "") and _parts(work, ".out"))
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _parts(cache / "sources", "") and _parts(work, ".out.wav.")  # SIGKILL's leftovers
    time.sleep(5.5)  # older than tempfiles.GRACE_S, and their writer is gone
    scene = work / "scene.yaml"
    scene.write_text(scene.read_text().replace("duration: 40", "duration: 1"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPATIAL_CACHE_DIR=str(cache))
    r = subprocess.run([sys.executable, "-m", "spatial", "render", "scene.yaml", "-o",
                        "out.wav", "-q"], cwd=work, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert _parts(cache / "sources", "") == [] and _parts(work, ".out.wav.") == []
