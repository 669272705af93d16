"""Scene variations (issue 17): `spatial variations` writes the same files for the same
seed, the drawn values follow their distributions (Kolmogorov-Smirnov and chi-square
tests at a fixed seed, against scipy's distributions), a draw outside the room is drawn
again (the accepted values are the distribution limited to the room), and wrong
parameters are one-line errors naming file, line and key."""
from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf
from scipy import stats

from spatial import cli
from spatial.batch.variations import read_template, variation, write_variations
from spatial.errors import SceneError
from spatial.scene.loader import load_scene

TEMPLATE = """\
sample_rate: 48000
seed: {integer: [0, 4]}
room:
  dimensions: [6, 5, 3]
  rt60: 0.3
listener:
  position: [3, 2.5, 1.6]
sources:
  - name: a
    file: {choose: [a.wav, b.wav, c.wav]}
    position: {uniform: [[0.5, 1, 1.2], [2, 4, 1.8]]}
    gain_db: {normal: [1, 2]}
    start: {uniform: [0, 10]}
  - name: b
    file: a.wav
    path:
      - {t: 0, position: [4, 1, 1.5]}
      - {t: {uniform: [1, 3]}, position: {uniform: [[4, 0.5, 1], [8, 4.5, 2]]}}
output:
  format: binaural
"""
N = 400


@pytest.fixture
def template(tmp_path):
    for name in "abc":
        sf.write(str(tmp_path / f"{name}.wav"), np.zeros(4800), 48000)
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE)
    return path


def test_same_seed_same_files(template, tmp_path):
    one = write_variations(template, 5, 3, _mk(tmp_path / "one"))
    two = write_variations(template, 5, 3, _mk(tmp_path / "two"))
    assert [p.name for p in one] == [f"t-000{i}.yaml" for i in range(5)]
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    other = write_variations(template, 5, 4, _mk(tmp_path / "other"))
    assert all(a.read_bytes() != b.read_bytes() for a, b in zip(one, other))
    fewer = write_variations(template, 2, 3, _mk(tmp_path / "fewer"))  # i depends on i only
    assert [p.read_bytes() for p in fewer] == [p.read_bytes() for p in one[:2]]
    for p in one:  # concrete scenes: they load as they are
        scene = load_scene(p)
        assert scene.sources[0].file.name in ("a.wav", "b.wav", "c.wav")


def test_command_writes_the_variations(template, tmp_path):
    out = tmp_path / "out"
    assert cli.main(["variations", str(template), "-n", "3", "--seed", "1", "--out-dir",
                     str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["t-0000.yaml", "t-0001.yaml",
                                                     "t-0002.yaml"]
    assert (out / "t-0001.yaml").read_bytes() == write_variations(
        template, 3, 1, _mk(tmp_path / "again"))[1].read_bytes()


def test_draws_follow_their_distributions(template):
    root = read_template(template)
    scenes = [variation(root, template, 11, i) for i in range(N)]
    a = [s.sources[0] for s in scenes]
    p = 0.01
    assert stats.kstest([s.gain_db for s in a], stats.norm(1, 2).cdf).pvalue > p
    assert stats.kstest([s.start for s in a], stats.uniform(0, 10).cdf).pvalue > p
    for axis, (lo, hi) in enumerate([(0.5, 2), (1, 4), (1.2, 1.8)]):
        values = [s.position[axis] for s in a]
        assert lo <= min(values) and max(values) < hi
        assert stats.kstest(values, stats.uniform(lo, hi - lo).cdf).pvalue > p
    files = [s.file.name for s in a]
    counts = [files.count(f) for f in ("a.wav", "b.wav", "c.wav")]
    assert stats.chisquare(counts).pvalue > p
    seeds = [s.seed for s in scenes]
    assert stats.chisquare([seeds.count(k) for k in range(5)]).pvalue > p
    # a keyframe's time and position; x drawn on [4, 8) in a 6 m room: drawn again when
    # outside, so the accepted x is uniform on [4, 6)
    ends = [s.sources[1].path[1] for s in scenes]
    assert stats.kstest([k.t for k in ends], stats.uniform(1, 2).cdf).pvalue > p
    x = [k.position[0] for k in ends]
    assert max(x) < 6 and stats.kstest(x, stats.uniform(4, 2).cdf).pvalue > p


def test_a_draw_that_never_fits_is_an_error(template):
    template.write_text(TEMPLATE.replace("[[0.5, 1, 1.2], [2, 4, 1.8]]",
                                         "[[7, 1, 1.2], [8, 4, 1.8]]"))
    with pytest.raises(SceneError) as err:
        variation(read_template(template), template, 0, 0)
    text = str(err.value)
    assert "\n" not in text and "t.yaml:11: sources[0].position: every one of 100 draws" in text


@pytest.mark.parametrize("value, line, key, message", [
    ("{normal: [1, -2]}", 12, "sources[0].gain_db.normal", "standard deviation"),
    ("{normal: [1]}", 12, "sources[0].gain_db.normal", "two parameters"),
    ("{uniform: [3, 1]}", 12, "sources[0].gain_db.uniform", "low must not be above high"),
    ("{uniform: [[0, 0], [1, 1, 1]]}", 12, "sources[0].gain_db.uniform", "one length"),
    ("{integer: [0.5, 2]}", 12, "sources[0].gain_db.integer", "two integers"),
    ("{choose: []}", 12, "sources[0].gain_db.choose", "a list of values"),
    ("{uniform: [0, 1], normal: [0, 1]}", 12, "sources[0].gain_db", "one key"),
    ("{uniform: [a, 1]}", 12, "sources[0].gain_db.uniform", "numbers"),
])
def test_wrong_parameters_name_file_line_and_key(template, tmp_path, capsys, value, line,
                                                  key, message):
    template.write_text(TEMPLATE.replace("{normal: [1, 2]}", value))
    code = cli.main(["variations", str(template), "-n", "2", "--out-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"t.yaml:{line}: {key}: " in err and message in err
    assert not list((tmp_path / "o").iterdir())  # nothing written


def test_a_drawn_value_of_the_wrong_type_names_its_line(template, tmp_path):
    template.write_text(TEMPLATE.replace("{normal: [1, 2]}", "{choose: [loud, 1]}"))
    with pytest.raises(SceneError) as err:
        write_variations(template, 20, 0, _mk(tmp_path / "o"))
    assert "t.yaml:12: sources[0].gain_db: expected a number, got 'loud'" in str(err.value)


def _mk(path):
    path.mkdir(parents=True)
    return path


def test_scene_save_round_trip(template, tmp_path):
    scene = variation(read_template(template), template, 0, 1)
    scene = scene.add_source(name="door", file=str(tmp_path / "b.wav"),
                             position=[5, 4, 1.5], label="door")
    saved = scene.save(tmp_path / "saved.yaml")
    again = load_scene(saved)
    import dataclasses

    assert again == dataclasses.replace(scene, path=saved)
    assert again.source("door").label == "door"
    assert [s.name for s in again.remove_source("a").sources] == ["b", "door"]


def test_render_reads_the_scene_from_standard_input(template, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    scene = variation(read_template(template), template, 0, 0)
    text = scene.with_output(format="stereo").save(tmp_path / "v.yaml").read_text()
    env = dict(os.environ, PYTHONPATH=str(root))
    run = [sys.executable, "-m", "spatial", "render", "-", "-q"]
    r = subprocess.run(run + ["-o", "piped.wav"], input=text, cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r2 = subprocess.run([sys.executable, "-m", "spatial", "render", "v.yaml", "-q", "-o",
                         "file.wav"], cwd=tmp_path, env=env, capture_output=True, text=True,
                        timeout=300)
    assert r2.returncode == 0, r2.stderr
    assert (tmp_path / "piped.wav").read_bytes() == (tmp_path / "file.wav").read_bytes()
    r = subprocess.run(run, input=text, cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "-o" in r.stderr
