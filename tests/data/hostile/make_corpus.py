"""Writes the hostile corpus of tests/test_hostile.py into this folder (run once; the files
are committed). Every audio file is tiny (bytes to a few KiB): its header lies, or it holds
a few bad samples. python3 tests/data/hostile/make_corpus.py"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
FS = 8000
GOOD = """\
sample_rate: 48000
room: {{dimensions: [6, 5, 3], rt60: 0.3}}
listener: {{position: [3, 2.5, 1.6]}}
sources:
  - {{name: a, role: dialogue, file: {file}, position: [4, 2.5, 1.6]}}
output: {{format: {fmt}}}
"""


def patch_rate(src: Path, dst: Path, rate: int) -> None:
    b = bytearray(src.read_bytes())
    i = b.find(b"fmt ")
    struct.pack_into("<I", b, i + 12, rate)
    dst.write_bytes(bytes(b))


def scene(name: str, text: str) -> None:
    (HERE / name).write_text(text)


def main() -> None:
    rng = np.random.default_rng(18)
    x = (0.1 * rng.standard_normal(400)).astype(np.float32)
    sf.write(HERE / "good.wav", x, FS, subtype="FLOAT")
    patch_rate(HERE / "good.wav", HERE / "rate-1hz.wav", 1)
    patch_rate(HERE / "good.wav", HERE / "rate-2ghz.wav", 2_000_000_000)
    for name, value, at in (("nan", np.nan, 123), ("inf", np.inf, 200), ("huge", 3.3e38, 0),
                            ("minus-huge", -3.0e38, 399)):
        y = x.copy()
        y[at] = value
        sf.write(HERE / f"{name}.wav", y, FS, subtype="FLOAT")
    # a FLAC whose STREAMINFO says 1 s but whose frames stop after ~0.5 s
    sf.write(HERE / "whole.flac", (0.1 * rng.standard_normal(FS)), FS, subtype="PCM_16")
    data = (HERE / "whole.flac").read_bytes()
    (HERE / "cut.flac").write_bytes(data[:len(data) // 2])
    (HERE / "whole.flac").unlink()
    # a WAV whose data chunk announces 400000 bytes (100000 frames, 12.5 s), holding 400 frames
    b = bytearray((HERE / "good.wav").read_bytes())
    j = b.find(b"data")
    struct.pack_into("<I", b, j + 4, 400_000)
    (HERE / "lying-length.wav").write_bytes(bytes(b))
    (HERE / "empty.wav").write_bytes(b"")
    (HERE / "text.wav").write_text("this is not audio\n")
    (HERE / "riff-only.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")
    sf.write(HERE / "channels-200.wav", np.zeros((1, 200), np.float32), FS, subtype="FLOAT")
    sf.write(HERE / "three.wav", np.zeros((40, 3), np.float32), FS, subtype="FLOAT")
    sf.write(HERE / "silence.wav", np.zeros(400, np.float32), FS, subtype="FLOAT")
    (HERE / "not-a-sofa.sofa").write_text("not a SOFA file\n")
    for link, target in (("hrtf-link.sofa", "not-a-sofa.sofa"), ("good-link.wav", "good.wav")):
        (HERE / link).unlink(missing_ok=True)
        (HERE / link).symlink_to(target)  # relative: the corpus can move
    for name in ("rate-1hz", "rate-2ghz", "nan", "inf", "huge", "minus-huge", "empty", "text",
                 "riff-only", "channels-200", "lying-length", "missing"):
        scene(f"audio-{name}.yaml", GOOD.format(file=f"{name}.wav", fmt="binaural"))
    scene("audio-cut-flac.yaml", GOOD.format(file="cut.flac", fmt="binaural"))
    scene("audio-folder.yaml", GOOD.format(file=".", fmt="binaural"))
    scene("good.yaml", GOOD.format(file="good.wav", fmt="mono"))
    base = GOOD.format(file="good.wav", fmt="mono")
    scene("room-3cm.yaml", base.replace("[6, 5, 3], rt60: 0.3", "[0.03, 0.03, 0.03], rt60: 0.4")
          .replace("[3, 2.5, 1.6]", "[0.01, 0.01, 0.01]").replace("[4, 2.5, 1.6]",
                                                                  "[0.02, 0.02, 0.02]"))
    scene("room-1km.yaml", base.replace("[6, 5, 3], rt60: 0.3", "[1000, 1000, 1000], rt60: 0.4"))
    scene("room-order-31.yaml", base.replace("rt60: 0.3", "rt60: 0.3, max_order: 31"))
    scene("room-tail-hoa3.yaml", base.replace("[6, 5, 3], rt60: 0.3", "[30, 30, 30], rt60: 30")
          .replace("format: mono", "format: hoa3"))
    scene("room-images.yaml", base.replace("[6, 5, 3], rt60: 0.3",
                                           "[2, 2, 2], rt60: 0.5, crossover: 1.0")
          .replace("[3, 2.5, 1.6]", "[1, 1, 1]").replace("[4, 2.5, 1.6]", "[1.5, 1.2, 1]")
          .replace("output: {format: mono}\n", "")
          + "".join(f"  - {{name: s{i}, file: good.wav, position: [1.5, 1.{i + 3}, 1]}}\n"
                    for i in range(5)) + "output: {format: mono}\n")
    scene("format-list-of-list.yaml", base.replace("format: mono", "format: [[mono, stereo]]"))
    scene("format-mapping.yaml", base.replace("format: mono", "format: {mono: 1}"))
    scene("format-twice.yaml", base.replace("format: mono", "format: [mono, mono]"))
    scene("hrtf-not-sofa.yaml", GOOD.format(file="good.wav", fmt="binaural, hrtf: hrtf-link.sofa"))
    scene("bed-channels.yaml", base.replace(
        "{name: a, role: dialogue, file: good.wav, position: [4, 2.5, 1.6]}",
        "{name: a, role: music, file: three.wav, diegetic: false}").replace("mono", "5.1"))
    scene("silence-target.yaml", GOOD.format(file="silence.wav", fmt="mono, loudness: -23"))
    scene("extends-cycle-a.yaml", "extends: extends-cycle-b.yaml\n")
    scene("extends-cycle-b.yaml", "extends: extends-cycle-a.yaml\n")
    scene("extends-missing.yaml", "extends: no-such-base.yaml\n")
    scene("base.wav", base)  # a base scene whose name ends in .wav
    scene("extends-base-wav.yaml", "extends: base.wav\nduration: 0.2\n")
    scene("scene-named.wav", base.replace("sample_rate: 48000", "sample_rate: 48000\nduration: 0.2"))
    scene("laughs.yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")))
    scene("python-tag.yaml", base + "seed: !!python/object/apply:os.system ['echo pwned']\n")
    scene("duplicate-key.yaml", base.replace("sample_rate: 48000",
                                             "sample_rate: 48000\nsample_rate: 44100"))
    scene("tabs.yaml", base.replace("  - {name", "\t- {name"))
    (HERE / "bad-utf8.yaml").write_bytes(base.encode() + b"# caf\xe9\n")
    scene("deep.yaml", "mix: " + "[" * 100 + "]" * 100 + "\n" + base)
    scene("unknown-key.yaml", base.replace("position: [4, 2.5, 1.6]", "positon: [4, 2.5, 1.6]"))
    scene("sample-rate-1.yaml", base.replace("sample_rate: 48000", "sample_rate: 1"))
    scene("duration-huge.yaml", base.replace("sample_rate: 48000",
                                             "sample_rate: 48000\nduration: 1.0e+9"))
    scene("position-nan.yaml", base.replace("[4, 2.5, 1.6]", "[.nan, 2.5, 1.6]"))
    scene("gain-1000.yaml", base.replace("position: [4, 2.5, 1.6]",
                                         "position: [4, 2.5, 1.6], gain_db: 1000"))
    scene("listener-outside.yaml", base.replace("[3, 2.5, 1.6]", "[3, 7.5, 1.6]"))
    scene("no-sources.yaml", base.split("sources:")[0] + "sources: []\noutput: {format: mono}\n")
    scene("not-a-mapping.yaml", "- just\n- a list\n")
    scene("empty.yaml", "")


if __name__ == "__main__":
    main()
