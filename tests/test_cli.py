"""The command line, run for real in a subprocess: success paths and every bad
input the foundation issue lists (one line naming file, line and key; exit 2;
no traceback; no output file left behind)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import GOOD_SCENE

ROOT = Path(__file__).resolve().parents[1]

GOOD = GOOD_SCENE.replace("sample_rate: 48000\n", "sample_rate: 48000\nduration: 0.5\n")


def run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "spatial", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def workdir(tmp_path):
    sf.write(str(tmp_path / "a.wav"), 0.1 * np.random.default_rng(0).standard_normal(12000),
             48000)
    return tmp_path


def write_scene(workdir, text, name="scene.yaml"):
    path = workdir / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_clean_failure(result, workdir, *needles, lines=1):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    err = result.stderr.strip().splitlines()
    assert len(err) == lines, err
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    leftovers = [p.name for p in workdir.iterdir() if p.suffix in (".wav", ".flac", ".part")
                 and p.name not in ("a.wav", "bad.wav")]
    assert leftovers == []


def test_render_validate_and_version(workdir):
    scene = write_scene(workdir, GOOD)
    r = run("render", scene, "-o", "out.wav", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "real time" in r.stdout and r.stderr == ""
    mode = (workdir / "out.wav").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # an ordinary file, not the temporary file's 0600
    info = sf.info(str(workdir / "out.wav"))
    assert info.channels == 2 and info.samplerate == 48000 and info.subtype == "FLOAT"
    assert abs(info.duration - 0.5) < 1e-3
    r = run("render", scene, "-o", "out24.wav", "--subtype", "PCM_24", "-q", cwd=workdir)
    assert r.returncode == 0 and sf.info(str(workdir / "out24.wav")).subtype == "PCM_24"
    r = run("render", scene, cwd=workdir)  # default output: <stem>.wav in the cwd
    assert r.returncode == 0 and (workdir / "scene.wav").exists()
    assert run("validate", scene, cwd=workdir).returncode == 0
    r = run("--version", cwd=workdir)
    assert r.returncode == 0 and r.stdout.startswith("spatial ")


CASES = {
    "unknown key": (GOOD.replace("    position: [4, 2.5", "    positon: [4, 2.5"),
                    ["scene.yaml:13", "sources[0].positon", "did you mean 'position'"]),
    "missing key": (GOOD.replace("listener:\n  position: [3, 2.5, 1.6]\n  yaw: 0\n", ""),
                    ["scene.yaml", "listener"]),
    "wrong type": (GOOD.replace("rt60: 0.3", "rt60: fast"), ["scene.yaml:5", "room.rt60"]),
    "vector length": (GOOD.replace("[4, 2.5, 1.6]", "[4, 2.5]"),
                      ["scene.yaml:13", "sources[0].position", "3"]),
    "listener outside": (GOOD.replace("[3, 2.5, 1.6]", "[3, 7.5, 1.6]"),
                         ["scene.yaml:7", "listener.position"]),
    "source outside": (GOOD.replace("[4, 2.5, 1.6]", "[4, 2.5, 3.5]"),
                       ["scene.yaml:13", "sources[0].position"]),
    "missing audio": (GOOD.replace("file: a.wav", "file: nothere.wav"),
                      ["nothere.wav", "sources[0].file"]),
    "unreadable audio": (GOOD.replace("file: a.wav", "file: bad.wav"),
                         ["bad.wav", "sources[0].file"]),
    "zero dimension": (GOOD.replace("[6, 5, 3]", "[6, 0, 3]"), ["scene.yaml:4", "room.dimensions"]),
    "negative rt60": (GOOD.replace("rt60: 0.3", "rt60: -0.3"), ["scene.yaml:5", "room.rt60"]),
    "not yaml": ("sources: [\n  - {name: a\nlistener: {\n", ["scene.yaml:"]),
    "not a mapping": ("- just\n- a list\n", ["scene.yaml:1"]),
    "unknown format": (GOOD.replace("format: binaural", "format: 9.1"),
                       ["scene.yaml:15", "output.format", "binaural"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_scene_fails_cleanly(workdir, case):
    text, needles = CASES[case]
    (workdir / "bad.wav").write_bytes(os.urandom(2000))
    scene = write_scene(workdir, text)
    r = run("render", scene, "-o", "out.wav", cwd=workdir)
    assert_clean_failure(r, workdir, *needles)
    r = run("validate", scene, cwd=workdir)
    assert_clean_failure(r, workdir, *needles)


def test_unreadable_sofa_fails_cleanly(workdir):
    (workdir / "bad.sofa").write_bytes(os.urandom(4000))
    scene = write_scene(workdir, GOOD.replace("format: binaural",
                                              "format: binaural\n  hrtf: bad.sofa"))
    r = run("render", scene, "-o", "out.wav", cwd=workdir)
    assert_clean_failure(r, workdir, "bad.sofa", "output.hrtf")
    r = run("render", write_scene(workdir, GOOD, "ok.yaml"), "--hrtf", "bad.sofa", "-o",
            "out.wav", cwd=workdir)
    assert_clean_failure(r, workdir, "--hrtf: output.hrtf:", "bad.sofa")
    assert "ok.yaml" not in r.stderr  # the bad file came from the flag, not the scene


def test_bad_format_flag_names_the_flag(workdir):
    r = run("render", write_scene(workdir, GOOD), "--format", "9.1", "-o", "out.wav",
            cwd=workdir)
    assert_clean_failure(r, workdir, "--format: output.format: unknown output format '9.1'")
    assert "scene.yaml" not in r.stderr


def test_several_problems_are_reported_together(workdir):
    text = GOOD.replace("rt60: 0.3", "rt60: -1").replace("positon", "x").replace(
        "    position: [4, 2.5", "    positon: [4, 2.5")
    r = run("validate", write_scene(workdir, text), cwd=workdir)
    assert_clean_failure(r, workdir, "room.rt60", "positon", lines=2)


BAD_OUTPUTS = {  # (scene text, -o, extra arguments) -> what the one error line says
    "mp3": (GOOD, "out.mp3", [], ["out.mp3", "unsupported output extension '.mp3'",
                                  "supported: .wav, .flac"]),
    "missing folder": (GOOD, "no/such/dir/out.wav", [],
                       ["no/such/dir: output folder does not exist"]),
    "flac subtype": (GOOD, "out.flac", ["--subtype", "FLOAT"], ["out.flac", "FLOAT", "PCM_24"]),
    "9 channels in flac": (GOOD, "out.flac", ["--format", "hoa2"],
                           ["out.flac: 9 channels do not fit a .flac file (at most 8)"]),
    # 24 hours (the longest scene) of hoa3 in float64 at 192 kHz: 1.06 TiB, more than a
    # test machine's free disk; a render that long could never finish within the
    # timeout, so it must be refused before it starts
    "disk space": (GOOD.replace("duration: 0.5", "duration: 86400").replace(
        "sample_rate: 48000", "sample_rate: 192000"), "out.wav",
        ["--format", "hoa3", "--subtype", "DOUBLE"], ["out.wav: not enough disk space"]),
}


@pytest.mark.parametrize("case", sorted(BAD_OUTPUTS))
def test_bad_output_is_refused_before_rendering(workdir, case):
    text, out, extra, needles = BAD_OUTPUTS[case]
    r = run("render", write_scene(workdir, text), "-o", out, *extra, cwd=workdir)
    assert_clean_failure(r, workdir, *needles)


@pytest.mark.parametrize("case", sorted(BAD_OUTPUTS))
def test_bad_output_never_reaches_the_renderer(workdir, monkeypatch, case):
    # in process, with a renderer that must not be called: the refusal comes first
    import types

    from spatial import cli

    def must_not_run(*args, **kwargs):
        raise AssertionError("the renderer ran before the output was checked")

    fake = types.ModuleType("spatial.renderer")
    fake.render = fake.render_to_file = fake.impulse_response = must_not_run
    monkeypatch.setitem(sys.modules, "spatial.renderer", fake)
    monkeypatch.chdir(workdir)
    text, out, extra, needles = BAD_OUTPUTS[case]
    assert cli.main(["render", str(write_scene(workdir, text)), "-o", out, *extra]) == 2
    if case != "disk space":  # rir is short: it checks all but the size
        assert cli.main(["rir", str(write_scene(workdir, text)), "-o", out, *extra]) == 2


def test_summary_reports_peak_memory(workdir):
    r = run("render", write_scene(workdir, GOOD), "-o", "out.wav", cwd=workdir)
    assert r.returncode == 0, r.stderr
    peak = float(re.search(r"peak memory (\d+) MiB", r.stdout).group(1))
    assert 20 < peak < 4096  # a Python process with numpy loaded, not KiB or bytes


def test_progress_bar_shows_elapsed_time_and_eta():
    import io

    from spatial.progress import TqdmProgress

    out = io.StringIO()
    bar = TqdmProgress(48000, delay=0, file=out, mininterval=0)
    for done in range(0, 480001, 48000):  # 10 s of audio in 1 s steps
        bar(done, 480000)
    bar.close()
    text = out.getvalue()
    assert "10.0/10.0 s audio" in text and re.search(r"\d\d:\d\d<\d\d:\d\d", text), text
    quiet = io.StringIO()  # a render that ends before the delay draws nothing
    bar = TqdmProgress(48000, delay=1000, file=quiet, mininterval=0)
    bar(48000, 480000)
    bar.close()
    assert quiet.getvalue() == ""


def test_command_start_up_stays_light(workdir):
    # the parser and validate must not pay for numba, scipy or pyroomacoustics
    heavy = ("numba", "scipy", "pyroomacoustics", "matplotlib", "soxr", "tqdm")
    code = ("import sys; from spatial.cli import main; main(sys.argv[1:]); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))")
    scene = write_scene(workdir, GOOD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code, "validate", str(scene)], cwd=workdir,
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_rir_writes_the_impulse_response_in_the_output_format(workdir):
    scene = write_scene(workdir, GOOD.replace("format: binaural", "format: 5.1"))
    r = run("rir", scene, "--source", "a", "-o", "rir.wav", cwd=workdir)
    assert r.returncode == 0, r.stderr
    ir, fs = sf.read(str(workdir / "rir.wav"))
    assert ir.shape[1] == 6 and fs == 48000
    assert ir.shape[0] / fs > 0.3  # the whole decay of the 0.3 s room, not truncated
    # the direct sound arrives after 1 m / 343 m/s, in the centre speaker (source ahead)
    first = np.argmax(np.abs(ir).max(axis=1) > 0.5 * np.abs(ir).max())
    assert abs(first / fs - 1.0 / 343.0) < 0.5e-3
    assert np.argmax(np.abs(ir[first])) == 2  # C
    (workdir / "rir.wav").unlink()
    r = run("rir", scene, "--source", "nobody", cwd=workdir)
    assert_clean_failure(r, workdir, "nobody", "--source")


def test_custom_layout_from_a_scene_file(workdir):
    text = GOOD.replace("format: binaural", textwrap.dedent("""\
        format: custom
          speakers:
            - {name: FL, azimuth: 45}
            - {name: FR, azimuth: -45}
            - {name: BL, azimuth: 135}
            - {name: BR, azimuth: -135}"""))
    r = run("render", write_scene(workdir, text), "-o", "quad.wav", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "FL FR BL BR" in r.stdout
    assert sf.info(str(workdir / "quad.wav")).channels == 4
    bad = text.replace("{name: BR, azimuth: -135}", "{name: BR, azimuth: 45}")
    r = run("render", write_scene(workdir, bad), "-o", "quad.wav", cwd=workdir)
    assert r.returncode == 2 and "output.speakers" in r.stderr and "Traceback" not in r.stderr


def test_numba_caches_in_the_spatial_cache_when_the_install_is_read_only(tmp_path,
                                                                       monkeypatch):
    # root can write anywhere, so the read-only install folder is simulated; the real
    # thing (a non-root user of a root-owned venv) is measured in the report
    import spatial.engine as engine

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(tmp_path / "cache"))
    install = tmp_path / "site-packages" / "spatial" / "engine"
    writable = engine._writable
    monkeypatch.setattr(engine, "_writable",
                        lambda folder: folder != install / "__pycache__" and writable(folder))
    assert engine.numba_cache_dir(install) == tmp_path / "cache" / "numba"
    assert (tmp_path / "cache" / "numba").is_dir()
    assert engine.numba_cache_dir(tmp_path / "checkout") is None  # writable: numba's __pycache__
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert engine.numba_cache_dir(install) is None  # the user's choice stands


def test_a_render_past_the_riff_limit_is_written_as_rf64(workdir, monkeypatch):
    # the whole command in process, with the RIFF limit lowered from 4 GiB to 100 kB:
    # 0.5 s of 5.1.4 float32 is 960 kB, so the file must switch to RF64 and keep its mask
    from spatial import cli, writer

    monkeypatch.setattr(writer, "RIFF_LIMIT_BYTES", 100_000)
    monkeypatch.chdir(workdir)
    scene = write_scene(workdir, GOOD.replace("format: binaural", "format: 5.1.4"))
    assert cli.main(["render", str(scene), "-o", "big.wav", "-q"]) == 0
    data = (workdir / "big.wav").read_bytes()
    assert data[:4] == b"RF64" and data[12:16] == b"ds64"
    info = sf.info(str(workdir / "big.wav"))
    assert info.format == "RF64" and info.channels == 10 and info.frames == 24000  # 0.5 s
    fmt = data.index(b"fmt ")
    assert int.from_bytes(data[fmt + 28:fmt + 32], "little") == 0x2D60F  # BS.2051 4+5+0
