"""The first render after an install (spatial.engine.warmup): the numba kernels a render
uses are compiled before it, once, at the types the render calls them with; the command
says so and keeps the compile time out of its real-time factor."""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

from spatial.engine import warmup
from spatial.renderer import render_to_file
from spatial.scene.loader import load_scene
from helpers import noise_file

ROOT = Path(__file__).resolve().parents[1]
TINY = """\
sample_rate: 48000
duration: 0.5
listener: {position: [0, 0, 1.6]}
sources:
  - {name: a, file: a.wav, position: [2, 0.5, 1.6]}
output: {format: stereo}
"""
SUMMARY = re.compile(r": ([\d.]+) s of audio, .* rendered in ([\d.]+) s \(([\d.]+)x real time\)"
                     r"(?: \(\+([\d.]+) s compiling kernels once\))?")


def _render(tmp_path, env):
    r = subprocess.run([sys.executable, "-m", "spatial", "render", "tiny.yaml", "-o", "t.wav"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_cold_cache_says_it_compiles_and_keeps_it_out_of_the_rtf(tmp_path):
    noise_file(tmp_path / "a.wav", 0.5)
    (tmp_path / "tiny.yaml").write_text(TINY)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               SPATIAL_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cold = _render(tmp_path, env)
    assert warmup.NOTICE in cold.stderr
    m = SUMMARY.search(cold.stdout)
    assert m and m.group(4), cold.stdout
    duration, render_s, rtf, compile_s = map(float, m.groups())
    assert compile_s > 0.1  # the kernels were compiled: not in the render's time
    assert rtf == pytest.approx(duration / render_s, rel=0.1, abs=0.15)
    warm = _render(tmp_path, env)
    assert warmup.NOTICE not in warm.stderr and "compiling" not in warm.stdout
    assert SUMMARY.search(warm.stdout).group(4) is None
    quiet = subprocess.run([sys.executable, "-m", "spatial", "render", "tiny.yaml", "-o",
                            "q.wav", "-q"], cwd=tmp_path, capture_output=True, text=True,
                           env=dict(env, NUMBA_CACHE_DIR=str(tmp_path / "numba2")), timeout=300)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_the_first_binaural_render_prepares_the_hrtf_once_and_keeps_it_out_of_the_rtf(
        tmp_path):
    """A new cache (as after an install) processes the HRTF set first: said on stderr,
    its seconds shown apart and not in the real-time factor; the next render finds it."""
    from spatial.filters import hrtf_warmup

    noise_file(tmp_path / "a.wav", 0.5)
    (tmp_path / "tiny.yaml").write_text(TINY.replace("format: stereo", "format: binaural"))
    env = dict(os.environ, SPATIAL_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    first = _render(tmp_path, env)
    assert hrtf_warmup.NOTICE in first.stderr
    m = re.search(r"rendered in ([\d.]+) s \(([\d.]+)x real time\).*"
                  r"\(\+([\d.]+) s preparing the HRTF set once\)", first.stdout)
    assert m, first.stdout
    render_s, rtf, hrtf_s = map(float, m.groups())
    assert hrtf_s > 0.3 and rtf == pytest.approx(0.5 / render_s, rel=0.1, abs=0.15)
    second = _render(tmp_path, env)
    assert hrtf_warmup.NOTICE not in second.stderr and "preparing" not in second.stdout


def _spatial_dispatchers() -> dict:
    return {v: len(v.signatures) for m in list(sys.modules) if m.startswith("spatial")
            for v in vars(sys.modules[m]).values()
            if isinstance(v, CPUDispatcher) and v.py_func.__module__ == m}


@pytest.mark.parametrize("name, fmt, seconds", [("demo", "binaural", 1.0), ("demo", "5.1", 1.0),
                                               ("car-pass", "binaural", None),
                                               ("car-pass", "foa", 3.0)])
def test_the_render_calls_the_kernels_prepare_compiled(tmp_path, capsys, name, fmt, seconds):
    """No kernel gets a signature during the render that prepare() did not compile (the
    listed types are the render's: a changed call site fails here)."""
    scene = load_scene(ROOT / "scenes" / f"{name}.yaml")
    changes = {"output": dataclasses.replace(scene.output, format=fmt)}
    if seconds:
        changes["duration"] = seconds
    scene = dataclasses.replace(scene, **changes)
    warmup.prepare(scene)
    listed = {(k, sig) for k, sig in warmup.kernels_for(scene)}
    before = _spatial_dispatchers()
    with warmup.CompileClock() as clock:
        stats = render_to_file(scene, tmp_path / "x.wav")
    after = _spatial_dispatchers()
    assert clock.seconds == 0.0 and stats["compile_s"] == 0.0
    grew = sorted(k.py_func.__name__ for k, n in after.items() if n != before.get(k, 0))
    assert grew == []
    assert all(sig in k.overloads for k, sig in listed)
    assert capsys.readouterr().err == ""  # not a terminal: no notice from the API


def test_cached():
    scene = load_scene(ROOT / "scenes" / "demo.yaml")
    warmup.prepare(scene)
    kernel, sig = warmup.kernels_for(scene)[0]
    assert warmup.cached(kernel, sig) is True  # compiled (or loaded) in this process
    kernel.overloads.pop(sig)  # as in a new process: then numba's disk cache answers
    try:
        assert warmup.cached(kernel, sig) is True
    finally:
        kernel.compile(sig)
