"""Hostile input (issue 18): every broken scene and audio file of the corpus in
tests/data/hostile/ (written by its make_corpus.py; the audio files are bytes, their
headers lie) gives its one-line message naming file, line and key, exit status 2,
no traceback, and leaves the folder exactly as it was, an existing output of the
same name included. Plus the inputs made at run time (a long file with a late NaN,
300 sources, a FIFO, a full disk), the limits (refused within a second, before
allocating), and spatial.safety's checks on their own."""
from __future__ import annotations

import os
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spatial import cli
from spatial.errors import SceneError

CORPUS = Path(__file__).resolve().parent / "data" / "hostile"
OLD = b"the user's previous render, which must survive"

# case -> (arguments after the command name, the command, expected exit, substrings of
# stderr). "out.wav" exists before every run (OLD) and must be unchanged after a failure.
R, V = "render", "validate"
CASES = {
    # audio files whose headers lie or whose samples are bad
    "rate 1 Hz": (V, ["audio-rate-1hz.yaml"], 2,
                  ["audio-rate-1hz.yaml:5: sources[0].file", "sample rate 1 Hz",
                   "outside 8000..384000 Hz"]),
    "rate 2 GHz": (R, ["audio-rate-2ghz.yaml"], 2,
                   ["audio-rate-2ghz.yaml:5: sources[0].file", "sample rate 2000000000 Hz"]),
    "NaN sample": (V, ["audio-nan.yaml"], 2,
                   ["audio-nan.yaml:5: sources[0].file", "nan.wav", "a NaN sample at 0.015 s",
                    "frame 123"]),
    "NaN sample, render": (R, ["audio-nan.yaml", "--format", "mono"], 2,
                           ["audio-nan.yaml:5: sources[0].file", "NaN sample at 0.015 s"]),
    "infinite sample": (V, ["audio-inf.yaml"], 2, ["an infinite sample at 0.025 s"]),
    "3.3e38 samples": (V, ["audio-huge.yaml"], 2, ["huge.wav", "3.3e+38 at 0.000 s",
                                                    "+120 dBFS"]),
    "3.3e38 samples, render": (R, ["audio-huge.yaml", "--format", "mono"], 2,
                               ["audio-huge.yaml:5: sources[0].file", "3.3e+38"]),
    "-3e38 samples": (V, ["audio-minus-huge.yaml"], 2, ["-3e+38 at 0.050 s (frame 399)"]),
    "cut FLAC": (V, ["audio-cut-flac.yaml"], 2,
                 ["audio-cut-flac.yaml:5: sources[0].file", "cut.flac", "truncated or damaged",
                  "header says 1.00 s"]),
    "cut FLAC, render": (R, ["audio-cut-flac.yaml"], 2, ["truncated or damaged"]),
    "0-byte audio": (V, ["audio-empty.yaml"], 2, ["sources[0].file", "cannot read audio file"]),
    "text as audio": (V, ["audio-text.yaml"], 2, ["cannot read audio file", "text.wav"]),
    "RIFF header only": (V, ["audio-riff-only.yaml"], 2, ["riff-only.wav", "No 'data' chunk"]),
    "folder as audio": (V, ["audio-folder.yaml"], 2, ["sources[0].file", "is not a file"]),
    "missing audio": (R, ["audio-missing.yaml"], 2, ["audio file not found: missing.wav"]),
    "200 channels": (V, ["audio-channels-200.yaml"], 2,
                     ["200 channels: at most 128 are supported"]),
    "bed of 3 channels": (R, ["bed-channels.yaml"], 2,
                          ["bed-channels.yaml:5: sources[0].file", "a bed with 3 channels"]),
    # rooms
    "3 cm room": (V, ["room-3cm.yaml"], 2,
                  ["room-3cm.yaml:2: room.dimensions", "cannot hold a listener's head",
                   "at least 0.5 m", "room.unphysical"]),
    "1 km room, rt60 0.4 s": (R, ["room-1km.yaml"], 2,
                              ["room-1km.yaml:2: room.rt60", "mean absorption of 67.1",
                               "shortest rt60 is 26.9 s"]),
    "image order 31": (R, ["room-order-31.yaml"], 2,
                       ["room.max_order: must be between 0 and 30, got 31"]),
    "image sources": (R, ["room-images.yaml"], 2,
                      ["room.dimensions", "227,286 image sources", "MAX_IMAGE_SOURCES",
                       "--allow-large"]),
    "image sources, validate": (V, ["room-images.yaml"], 2, ["MAX_IMAGE_SOURCES"]),
    "30 s tail in hoa3": (R, ["room-tail-hoa3.yaml"], 2,
                          ["room-tail-hoa3.yaml:2: room.rt60", "16 channels x 35.1 s",
                           "MAX_TAIL_VALUES"]),
    "listener outside": (V, ["listener-outside.yaml"], 2,
                         ["listener.position: the listener is outside the room"]),
    # the scene file itself
    "format: list of lists": (V, ["format-list-of-list.yaml"], 2,
                              ["output.format[0]: expected the name of an output format",
                               "got a list of 2"]),
    "format: mapping": (V, ["format-mapping.yaml"], 2,
                        ["output.format: expected the name of an output format",
                         "got a mapping"]),
    "format twice": (V, ["format-twice.yaml"], 2, ["format 'mono' is listed twice"]),
    "format twice, flag": (R, ["good.yaml", "--format", "mono,mono"], 2,
                           ["--format: output.format: format 'mono' is listed twice"]),
    "extends cycle": (V, ["extends-cycle-a.yaml"], 2, ["extends: extends cycle"]),
    "extends missing": (V, ["extends-missing.yaml"], 2,
                        ["extends-missing.yaml:1: extends: base scene not found"]),
    "billion laughs": (V, ["laughs.yaml"], 2, ["expands to more than 200000 values"]),
    "!!python tag": (V, ["python-tag.yaml"], 2, ["python-tag.yaml:7: seed"]),
    "duplicate key": (V, ["duplicate-key.yaml"], 2, ["duplicate key 'sample_rate'"]),
    "tabs": (V, ["tabs.yaml"], 2, ["tabs.yaml:5", "indent with spaces, not tabs"]),
    "bad UTF-8": (V, ["bad-utf8.yaml"], 2, ["bad-utf8.yaml:7", "not UTF-8"]),
    "deep nesting": (V, ["deep.yaml"], 2, ["nested too deeply"]),
    "unknown key": (V, ["unknown-key.yaml"], 2, ["did you mean 'position'?"]),
    "sample rate 1": (V, ["sample-rate-1.yaml"], 2, ["sample_rate: must be between 8000"]),
    "24 h + 1e9 s": (V, ["duration-huge.yaml"], 2, ["duration: must be between 0 and 86400"]),
    "NaN position": (V, ["position-nan.yaml"], 2, ["sources[0].position[0]: expected a finite"]),
    "gain 1000 dB": (V, ["gain-1000.yaml"], 2, ["gain_db: must be between -200 and 60 dB"]),
    "no sources": (V, ["no-sources.yaml"], 2, ["the scene has no sources"]),
    "a list, not a mapping": (V, ["not-a-mapping.yaml"], 2, ["must be a mapping of keys"]),
    "empty scene": (V, ["empty.yaml"], 2, ["the scene file is empty"]),
    "HRTF not SOFA, by symlink": (R, ["hrtf-not-sofa.yaml"], 2,
                                  ["hrtf-not-sofa.yaml:6: output.hrtf", "hrtf-link.sofa",
                                   "cannot read HRTF file"]),
    "HRTF not SOFA, flag": (R, ["good.yaml", "--hrtf", "hrtf-link.sofa", "--format",
                                "binaural"], 2, ["--hrtf", "hrtf-link.sofa: cannot read HRTF"]),
    # outputs that would overwrite an input
    "-o the source": (R, ["good.yaml", "-o", "good.wav"], 2,
                      ["--output", "would overwrite good.wav, the file of source 'a'"]),
    "-o a symlink to the source": (R, ["good.yaml", "-o", "good-link.wav"], 2,
                                   ["would overwrite good-link.wav, the file of source 'a'"]),
    "-o the source, relative": (R, ["good.yaml", "-o", "../hostile/good.wav"], 2,
                                ["would overwrite ../hostile/good.wav"]),
    "-o the scene file": (R, ["scene-named.wav", "-o", "scene-named.wav"], 2,
                          ["would overwrite scene-named.wav, the scene file"]),
    "-o the extends base": (R, ["extends-base-wav.yaml", "-o", "base.wav"], 2,
                            ["would overwrite base.wav, a file the scene is merged from"]),
    "-o the HRTF": (R, ["hrtf-not-sofa.yaml", "-o", "hrtf-link.sofa"], 2,
                    ["would overwrite hrtf-link.sofa, the HRTF file"]),
    "-o a folder": (R, ["good.yaml", "-o", "."], 2, ["unsupported output extension"]),
    "-o in a missing folder": (R, ["good.yaml", "-o", "no/such/out.wav"], 2,
                               ["output folder does not exist"]),
    # the sandbox
    "sandbox: output outside": (R, ["good.yaml", "--sandbox", "inner"], 2,
                                ["out.wav is outside the sandbox inner",
                                 "the scene file good.yaml is outside the sandbox"]),
    # valid, but said
    "header longer than the file": (R, ["audio-lying-length.yaml", "--format", "mono"], 0,
                                    ["lying-length.wav: its header announces 12.50 s",
                                     "holds 0.05 s: rendering what is there"]),
    "loudness target on silence": (R, ["silence-target.yaml"], 0,
                                   ["the loudness target -23 LUFS could not be met",
                                    "silent"]),
}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    work = tmp_path / "hostile"
    shutil.copytree(CORPUS, work, symlinks=True)
    (work / "inner").mkdir()
    (work / "out.wav").write_bytes(OLD)
    monkeypatch.chdir(work)
    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(tmp_path / "cache"))
    return work


def listing(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink()
                                         else os.readlink(p) if p.is_symlink() else None)
            for p in sorted(folder.rglob("*"))}


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_the_corpus_is_large_and_every_file_is_tiny():
    files = [p for p in CORPUS.iterdir() if p.name != "make_corpus.py"]
    assert len(CASES) >= 40 and len(files) >= 40
    assert max(p.lstat().st_size for p in files) < 20_000  # bytes, not megabytes


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input(case, corpus, capsys):
    command, args, expected, needles = CASES[case]
    before = listing(corpus)
    if command == R and "-o" not in args:
        args = args + ["-o", "out.wav"]
    code, err = run([command, *args] + (["-q"] if command == R and expected else []), capsys)
    assert code == expected, err
    for needle in needles:
        assert needle in err, (needle, err)
    if expected:
        lines = [l for l in err.splitlines() if l]
        assert all(l.startswith("spatial: error: ") for l in lines), err
        assert listing(corpus) == before  # nothing left, the old output unchanged
    else:
        data, _ = sf.read(corpus / "out.wav")
        assert np.isfinite(data).all()
        after = listing(corpus)
        after.pop("out.wav")
        before.pop("out.wav")
        assert after == before


def test_a_late_nan_is_named_with_its_time(corpus, capsys):
    x = np.zeros(8000 * 6, np.float32)
    x[8000 * 5 + 800] = np.nan  # 5.1 s: many blocks into the render
    sf.write(corpus / "late.wav", x, 8000, subtype="FLOAT")
    (corpus / "late.yaml").write_text((corpus / "good.yaml").read_text()
                                      .replace("good.wav", "late.wav"))
    before = listing(corpus)
    code, err = run(["render", "late.yaml", "-o", "out.wav", "-q", "--format", "mono"], capsys)
    assert code == 2 and "late.yaml:5: sources[0].file" in err
    assert "a NaN sample at 5.100 s" in err
    assert listing(corpus) == before
    code, err = run(["validate", "late.yaml"], capsys)
    assert code == 2 and "a NaN sample at 5.100 s" in err
    code, out = run(["validate", "late.yaml", "--quick"], capsys)  # headers only
    assert code == 0


def test_more_sources_than_the_limit(corpus, capsys):
    text = (corpus / "good.yaml").read_text().split("sources:")[0] + "sources:\n" + "".join(
        f"  - {{name: s{i}, file: good.wav, position: [4, 2.5, {0.5 + i * 0.005:.3f}]}}\n"
        for i in range(300)) + "output: {format: mono}\n"
    (corpus / "many.yaml").write_text(text)
    code, err = run(["render", "many.yaml", "-o", "out.wav"], capsys)
    assert code == 2 and "300 sources: more than the limit of 256 sources" in err
    assert "many.yaml:4: sources" in err


def test_a_fifo_and_dev_zero_as_audio(corpus, capsys):
    os.mkfifo(corpus / "fifo.wav")
    for name in ("fifo.wav", "/dev/zero"):
        (corpus / "s.yaml").write_text((corpus / "good.yaml").read_text()
                                       .replace("good.wav", name))
        code, err = run(["validate", "s.yaml"], capsys)
        assert code == 2 and "sources[0].file" in err, err


@pytest.mark.parametrize("case, limit", [("room-order-31.yaml", "between 0 and 30"),
                                         ("room-images.yaml", "MAX_IMAGE_SOURCES"),
                                         ("room-tail-hoa3.yaml", "MAX_TAIL_VALUES"),
                                         ("room-1km.yaml", "mean absorption")])
def test_limits_fail_within_a_second_before_allocating(case, limit, corpus):
    from spatial import render
    from spatial.scene.loader import load_scene

    tracemalloc.start()
    t0 = time.perf_counter()
    with pytest.raises(SceneError) as err:
        render(load_scene(case))
    spent = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert limit in str(err.value)
    assert spent < 1.0 and peak < 20 * 2 ** 20, (spent, peak)  # no tail, no images made


def test_allow_large_lifts_a_limit(corpus):
    from spatial import resources
    from spatial.scene.loader import load_scene

    scene = load_scene("room-images.yaml")
    with pytest.raises(SceneError):
        resources.check(scene)
    resources.check(scene, allow_large=True)  # and the render would go on


def test_render_in_memory_past_the_free_memory_says_render_to_file(corpus, monkeypatch):
    from spatial import render, resources
    from spatial.scene.loader import load_scene

    monkeypatch.setattr(resources, "free_memory", lambda: 10 * 2 ** 20)  # 10 MiB free
    scene = load_scene("good.yaml")
    scene = scene.__class__(**{**scene.__dict__, "duration": 120.0})  # 23 MiB of result
    with pytest.raises(SceneError, match="use render_to_file"):
        render(scene)


def test_a_full_disk_is_said_and_cleaned_up(corpus, capsys, monkeypatch):
    import soundfile

    import spatial.writer as writer

    def full(self, data):
        raise RuntimeError("System error.")  # what libsndfile says for ENOSPC

    real = writer.shutil.disk_usage
    monkeypatch.setattr(soundfile.SoundFile, "write", full)
    before = listing(corpus)
    # the check before rendering sees room; the write then finds the disk full
    monkeypatch.setattr(writer.shutil, "disk_usage", lambda p: real(p)._replace(free=4096)
                        if full.armed else real(p))
    full.armed = False
    orig_open = writer.OutputWriter.__init__

    def arm(self, *a, **k):
        orig_open(self, *a, **k)
        full.armed = True

    monkeypatch.setattr(writer.OutputWriter, "__init__", arm)
    code, err = run(["render", "good.yaml", "-o", "out.wav", "-q"], capsys)
    assert code == 2 and "out.wav: cannot write output: the disk is full" in err, err
    assert listing(corpus) == before


def test_safety_refuses_two_outputs_on_one_file_and_hard_links(corpus):
    from spatial.safety import refuse_unsafe_outputs
    from spatial.scene.loader import load_scene

    scene = load_scene("good.yaml")
    with pytest.raises(SceneError, match="the stem and the mono would both be written to .*x.wav"):
        refuse_unsafe_outputs(scene, [("mono", Path("x.wav")), ("stem", Path("./x.wav"))])
    os.link(corpus / "good.wav", corpus / "hard.wav")
    with pytest.raises(SceneError, match="would overwrite hard.wav, the file of source 'a'"):
        refuse_unsafe_outputs(scene, [("mono", Path("hard.wav"))])
    refuse_unsafe_outputs(scene, [("mono", Path("fine.wav"))], sandbox=corpus)


def test_render_to_file_refuses_to_overwrite_a_source(corpus):
    from spatial import render_to_file
    from spatial.scene.loader import load_scene

    before = listing(corpus)
    with pytest.raises(SceneError, match="path: the mono would overwrite .*good-link.wav"):
        render_to_file(load_scene("good.yaml"), corpus / "good-link.wav")
    assert listing(corpus) == before


def test_one_and_many_are_grammatical(corpus, capsys):
    from spatial.master import clip_warning

    assert cli.main(["validate", "good.yaml"]) == 0
    assert "(1 source, room" in capsys.readouterr().out
    assert cli.main(["validate", "room-images.yaml", "--allow-large"]) == 0
    assert "(6 sources, room" in capsys.readouterr().out
    one = {"clipped": 1, "sample_peak": 0.5, "true_peak": 0.7}
    assert clip_warning(one).startswith("1 sample above full scale")
    assert clip_warning({**one, "clipped": 2}).startswith("2 samples above full scale")


def test_batch_sandbox_fails_a_scene_reaching_outside(corpus, capsys, tmp_path):
    inner = corpus / "inner"
    (inner / "good.wav").write_bytes((corpus / "good.wav").read_bytes())
    (inner / "inside.yaml").write_text((corpus / "good.yaml").read_text())
    (inner / "outside.yaml").write_text((corpus / "good.yaml").read_text()
                                        .replace("good.wav", "../good.wav"))
    code = cli.main(["batch", str(inner / "outside.yaml"), "--out-dir", str(inner / "out"),
                     "--sandbox", str(inner), "-q"])
    err = capsys.readouterr().err
    assert code != 0 and "is outside the sandbox" in err and "good.wav" in err, err
    assert not list((inner / "out").glob("*.wav"))
