"""Output files (spatial.writer): block-by-block writing, atomic commit, RF64 past the
RIFF limit, channel masks, determinism, and every refusal before any work starts.

The file structure is checked by walking the RIFF / RF64 chunks here, with the
layouts of the Microsoft WAVE_FORMAT_EXTENSIBLE and EBU Tech 3306 (RF64) specs,
not with the writer's own code; libsndfile (soundfile) reads the samples back.
"""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spatial import writer
from spatial.errors import SceneError, SpatialError
from spatial.writer import check_output, open_output, write_audio

MASK_714 = 0x2D63F  # FL FR FC LFE BL BR SL SR TFL TFR TBL TBR: a 12-channel mask


def chunks(path: Path) -> tuple[bytes, dict[bytes, tuple[int, int]]]:
    """(RIFF or RF64, {chunk id: (offset of its body, size)}) of a WAVE file; RF64 sizes
    of 0xFFFFFFFF are taken from the ds64 chunk (EBU Tech 3306 section 3)."""
    data = path.read_bytes()
    kind, _, wave = struct.unpack("<4sI4s", data[:12])
    assert wave == b"WAVE"
    found, pos, ds64 = {}, 12, None
    while pos + 8 <= len(data):
        cid, size = struct.unpack("<4sI", data[pos:pos + 8])
        if cid == b"ds64":
            ds64 = struct.unpack("<QQQ", data[pos + 8:pos + 32])  # riff, data, sample count
        if size == 0xFFFFFFFF and cid == b"data":
            size = ds64[1]
        found[cid] = (pos + 8, size)
        pos += 8 + size + (size & 1)
    return kind, found, ds64


def fmt_of(path: Path) -> tuple[int, int, int]:
    """(format tag, channels, dwChannelMask or None) from the fmt chunk."""
    _, found, _ = chunks(path)
    pos, size = found[b"fmt "]
    raw = path.read_bytes()[pos:pos + size]
    tag, channels = struct.unpack("<HH", raw[:4])
    mask = struct.unpack("<I", raw[20:24])[0] if tag == 0xFFFE and size >= 40 else None
    return tag, channels, mask


def noise(frames, channels, seed=0):
    """Gaussian noise at -20 dBFS rms: within full scale (no clipping) up to 10 sigma."""
    return (0.1 * np.random.default_rng(seed).standard_normal((frames, channels))
            ).astype(np.float32)


def test_blocks_written_one_by_one_give_the_file_written_at_once(tmp_path):
    audio = noise(10_000, 12)
    write_audio(tmp_path / "once.wav", audio, 48000, channel_mask=MASK_714)
    with open_output(tmp_path / "blocks.wav", 48000, 12, channel_mask=MASK_714,
                     frames_hint=10_000) as out:
        for lo in range(0, 10_000, 999):  # ragged blocks, the last one short
            out.write(audio[lo:lo + 999])
    assert (tmp_path / "once.wav").read_bytes() == (tmp_path / "blocks.wav").read_bytes()
    back, fs = sf.read(str(tmp_path / "blocks.wav"), dtype="float32")
    assert fs == 48000 and np.array_equal(back, audio)  # float32 in, float32 out: exact


def test_same_samples_same_file_and_no_peak_chunk(tmp_path):
    audio = noise(4800, 2)
    write_audio(tmp_path / "a.wav", audio, 48000)
    write_audio(tmp_path / "b.wav", audio, 48000)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    kind, found, _ = chunks(tmp_path / "a.wav")
    assert kind == b"RIFF" and b"PEAK" not in found and b"data" in found
    assert fmt_of(tmp_path / "a.wav") == (3, 2, None)  # plain WAVE_FORMAT_IEEE_FLOAT stereo


@pytest.mark.parametrize("channels, mask", [(12, MASK_714), (16, 0), (6, 0x3F)])
def test_multichannel_wav_carries_its_channel_mask(tmp_path, channels, mask):
    write_audio(tmp_path / "m.wav", noise(480, channels), 48000, channel_mask=mask)
    assert fmt_of(tmp_path / "m.wav") == (0xFFFE, channels, mask)
    assert b"PEAK" not in chunks(tmp_path / "m.wav")[1]


def test_flac_defaults_to_24_bit_and_reads_back(tmp_path):
    audio = noise(4800, 6)
    write_audio(tmp_path / "x.flac", audio, 48000)
    info = sf.info(str(tmp_path / "x.flac"))
    assert info.format == "FLAC" and info.subtype == "PCM_24" and info.frames == 4800
    back, _ = sf.read(str(tmp_path / "x.flac"), dtype="float32")
    assert np.max(np.abs(back - audio)) < 2.0 ** -22  # 24-bit quantisation: half an LSB


def test_flac_takes_only_its_own_channel_order(tmp_path):
    """FLAC's order is fixed by the channel count (6: FL FR FC LFE SL SR, 8: FL FR FC
    LFE BL BR SL SR): a mask it cannot carry is refused, not silently dropped."""
    for channels, mask in ((2, 0x3), (6, 0x60F), (8, 0x63F), (4, 0)):
        write_audio(tmp_path / f"ok{channels}.flac", noise(480, channels), 48000,
                    channel_mask=mask)
    with pytest.raises(SceneError, match=r"mask 0x3f is not FLAC's 6-channel order \(0x60f\)"):
        write_audio(tmp_path / "back.flac", noise(480, 6), 48000, channel_mask=0x3F)
    assert not (tmp_path / "back.flac").exists()
    with pytest.raises(SceneError, match="mask 0x63f labels 8 channels, the file has 6"):
        write_audio(tmp_path / "six.wav", noise(480, 6), 48000, channel_mask=0x63F)


def test_a_file_over_the_riff_limit_is_rf64_and_reads_back_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "RIFF_LIMIT_BYTES", 64_000)  # instead of 4 GiB
    frames, channels = 20_000, 12  # 960 kB of float32: over the lowered limit
    audio = noise(frames, channels, seed=1)
    with open_output(tmp_path / "big.wav", 48000, channels, channel_mask=MASK_714,
                     frames_hint=frames) as out:
        for lo in range(0, frames, 4096):
            out.write(audio[lo:lo + 4096])
    path = tmp_path / "big.wav"
    kind, found, ds64 = chunks(path)
    assert kind == b"RF64" and b"ds64" in found and b"PEAK" not in found
    riff_size, data_size, _ = ds64
    assert riff_size == path.stat().st_size - 8  # 64-bit sizes in ds64, per Tech 3306
    assert data_size == frames * channels * 4
    assert fmt_of(path) == (0xFFFE, channels, MASK_714)  # the mask survives in RF64
    info = sf.info(str(path))
    assert info.format == "RF64" and info.frames == frames
    back, _ = sf.read(str(path), dtype="float32")
    assert np.array_equal(back, audio)
    write_audio(tmp_path / "again.wav", audio, 48000, channel_mask=MASK_714)
    assert (tmp_path / "again.wav").read_bytes() == path.read_bytes()  # deterministic
    # just under the limit: an ordinary RIFF file
    small = 64_000 // (channels * 4) - 100
    write_audio(tmp_path / "small.wav", audio[:small], 48000, channel_mask=MASK_714)
    assert chunks(tmp_path / "small.wav")[0] == b"RIFF"
    assert sf.info(str(tmp_path / "small.wav")).frames == small


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe (ffmpeg)")
def test_ffprobe_reads_the_rf64_length_and_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "RIFF_LIMIT_BYTES", 64_000)
    write_audio(tmp_path / "big.wav", noise(20_000, 12), 48000, channel_mask=MASK_714)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=channels,channel_layout,duration_ts", "-of", "compact",
                          str(tmp_path / "big.wav")], capture_output=True, text=True).stdout
    assert "channels=12" in out and "duration_ts=20000" in out
    assert "FL+FR+FC+LFE+BL+BR+SL+SR+TFL+TFR+TBL+TBR" in out  # ffmpeg's names for the mask


def test_without_a_length_hint_a_small_file_is_riff(tmp_path):
    audio = noise(4800, 6)
    with open_output(tmp_path / "u.wav", 48000, 6, channel_mask=0x3F) as out:
        out.write(audio)
    kind, found, _ = chunks(tmp_path / "u.wav")
    assert kind == b"RIFF" and b"JUNK" in found  # libsndfile's RF64 auto-downgrade
    assert fmt_of(tmp_path / "u.wav") == (0xFFFE, 6, 0x3F)
    assert np.array_equal(sf.read(str(tmp_path / "u.wav"), dtype="float32")[0], audio)


def test_a_plain_riff_file_refuses_to_pass_its_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "RIFF_LIMIT_BYTES", 64_000)
    with pytest.raises(SpatialError, match="4 GiB"):
        with open_output(tmp_path / "lie.wav", 48000, 2, frames_hint=100) as out:
            for _ in range(10):  # far more than announced
                out.write(noise(4096, 2))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="render failed"):
        with open_output(target, 48000, 2, frames_hint=9600) as out:
            out.write(noise(4800, 2))
            raise RuntimeError("render failed")
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    with pytest.raises(ValueError, match="expected"):  # a block of the wrong width
        with open_output(target, 48000, 2) as out:
            out.write(noise(10, 3))
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]


REFUSALS = {
    "mp3": (lambda d: (d / "x.mp3", 2, None), ["unsupported output extension '.mp3'",
                                               ".wav, .flac"]),
    "no extension": (lambda d: (d / "x", 2, None), ["unsupported output extension"]),
    "subtype": (lambda d: (d / "x.flac", 2, "FLOAT"), ["FLOAT", "PCM_24"]),
    "unknown subtype": (lambda d: (d / "x.wav", 2, "PCM_99"), ["PCM_99", "FLOAT"]),
    "flac channels": (lambda d: (d / "x.flac", 9, None), ["9 channels", "at most 8"]),
    "wav channels": (lambda d: (d / "x.wav", 1025, None), ["1025 channels"]),
    "missing folder": (lambda d: (d / "no" / "x.wav", 2, None),
                       ["no: output folder does not exist"]),
    "folder is a file": (lambda d: (d / "file.txt" / "x.wav", 2, None),
                         ["output folder is not a folder"]),
    "path is a folder": (lambda d: (d / "sub.wav", 2, None), ["output path is a folder"]),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_outputs_are_refused(tmp_path, case):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "sub.wav").mkdir()
    make, needles = REFUSALS[case]
    path, channels, subtype = make(tmp_path)
    before = sorted(tmp_path.iterdir())
    with pytest.raises(SceneError) as err:
        check_output(path, 48000, channels, subtype, 48000)
    assert len(err.value.problems) == 1
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))
    with pytest.raises(SceneError):  # open_output makes the same checks, before any file
        open_output(path, 48000, channels, subtype, frames_hint=48000)
    assert sorted(tmp_path.iterdir()) == before


def test_an_unwritable_folder_is_refused(tmp_path, monkeypatch):
    # root may write anywhere (os.access says yes), so the check makes a probe file;
    # here making it fails as on a read-only folder
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(writer.tempfile, "mkstemp", denied)
    with pytest.raises(SceneError, match="not writable .Permission denied"):
        check_output(tmp_path / "x.wav", 48000, 2, None, 48000)
    assert list(tmp_path.iterdir()) == []


def test_an_output_larger_than_the_free_space_is_refused(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    frames = free // (2 * 4) + 48000  # float32 stereo: just over the free space
    with pytest.raises(SceneError, match="not enough disk space"):
        check_output(tmp_path / "x.wav", 48000, 2, None, frames)
    check_output(tmp_path / "x.wav", 48000, 2, None, 48000)  # one second fits
    assert list(tmp_path.iterdir()) == []
