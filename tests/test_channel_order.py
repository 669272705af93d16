"""Loudspeaker files as ffmpeg reads them: the layout ffprobe reports, and a source
at each speaker's position loudest in the channel ffmpeg names for that speaker.

The speakers, their positions and their WAVE / ffmpeg labels are written out
here, not taken from spatial's layouts, and the channels are picked out of the
file by ffmpeg's ``pan`` filter by name (FL, SL, TBR ...), so a file whose mask
or order is wrong fails however our own code labels it.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess

import numpy as np
import pytest

import spatial
from helpers import noise_file, polar, scene

# format -> ffmpeg label -> (azimuth, elevation) in degrees (BS.2051 nominal positions),
# in the order a WAVE file holds them; LFE has no position
SPEAKERS = {
    "stereo": {"FL": (30, 0), "FR": (-30, 0)},
    "5.1": {"FL": (30, 0), "FR": (-30, 0), "FC": (0, 0), "LFE": None,
            "SL": (110, 0), "SR": (-110, 0)},
    "7.1": {"FL": (30, 0), "FR": (-30, 0), "FC": (0, 0), "LFE": None,
            "BL": (135, 0), "BR": (-135, 0), "SL": (90, 0), "SR": (-90, 0)},
    "5.1.4": {"FL": (30, 0), "FR": (-30, 0), "FC": (0, 0), "LFE": None,
              "SL": (110, 0), "SR": (-110, 0), "TFL": (30, 30), "TFR": (-30, 30),
              "TBL": (110, 30), "TBR": (-110, 30)},
    "7.1.4": {"FL": (30, 0), "FR": (-30, 0), "FC": (0, 0), "LFE": None,
              "BL": (135, 0), "BR": (-135, 0), "SL": (90, 0), "SR": (-90, 0),
              "TFL": (45, 30), "TFR": (-45, 30), "TBL": (135, 30), "TBR": (-135, 30)},
}
# the layout names ffprobe may print (an unnamed layout prints as "N channels (A+B+...)")
NAMES = {"stereo": {"stereo"}, "5.1": {"5.1(side)"}, "7.1": {"7.1"},
         "5.1.4": set(), "7.1.4": {"7.1.4"}}  # "7.1.4": ffmpeg 6 and later
FLAC_MAX_CHANNELS = 8  # the FLAC format's limit: 5.1.4 and 7.1.4 are WAV only


@pytest.fixture(scope="module", autouse=True)
def ffmpeg():
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not on PATH: cannot check how ffmpeg reads the files"
        print(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    return noise_file(tmp_path_factory.mktemp("order") / "noise.wav", seconds=0.3)


@functools.lru_cache(maxsize=None)
def ffmpeg_layouts() -> dict[str, tuple[str, ...]]:
    """ffmpeg's own table of standard layouts: name -> channel names."""
    out = subprocess.run(["ffmpeg", "-hide_banner", "-layouts"], capture_output=True,
                         text=True, check=True).stdout
    table = out.split("Standard channel layouts:", 1)[1]
    return {m.group(1): tuple(m.group(2).split("+"))
            for m in re.finditer(r"^(\S+)\s+([A-Z0-9]+(?:\+[A-Z0-9]+)*)\s*$", table, re.M)}


def ffprobe_layout(path) -> tuple[str, int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "stream=channels,channel_layout", "-of", "default=nw=1", str(path)],
                         capture_output=True, text=True, check=True).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return fields.get("channel_layout", "unknown"), int(fields["channels"])


def ffmpeg_channel_names(layout: str) -> tuple[str, ...]:
    """The channels ffmpeg sees in a file whose layout ffprobe prints as `layout`."""
    m = re.fullmatch(r"\d+ channels \((.+)\)", layout)
    if m:
        return tuple(m.group(1).split("+"))
    return ffmpeg_layouts().get(layout, ())


def channels_by_ffmpeg_name(path, names) -> np.ndarray:
    """(n, len(names)) samples: ffmpeg's pan filter picks each channel by its name,
    one mono output per name (a "12c" output layout is not valid in every ffmpeg)."""
    graph = f"[0:a]asplit={len(names)}" + "".join(f"[a{i}]" for i in range(len(names)))
    graph += "".join(f";[a{i}]pan=mono|c0={n}[o{i}]" for i, n in enumerate(names))
    raw = [path.with_name(f"{path.name}.{n}.f32") for n in names]
    outputs = []
    for i, file in enumerate(raw):
        outputs += ["-map", f"[o{i}]", "-f", "f32le", "-acodec", "pcm_f32le", str(file)]
    run = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path),
                          "-filter_complex", graph, *outputs], capture_output=True)
    assert run.returncode == 0, run.stderr.decode()
    return np.stack([np.fromfile(file, dtype="<f4") for file in raw], axis=1)


def containers(fmt):
    n = len(SPEAKERS[fmt])
    return (".wav", ".flac") if n <= FLAC_MAX_CHANNELS else (".wav",)


@pytest.mark.parametrize("fmt", sorted(SPEAKERS))
def test_ffprobe_reads_the_layout(noise, tmp_path, fmt):
    result = spatial.render(scene(noise, polar(0.0), fmt=fmt))
    for ext in containers(fmt):
        path = result.write(tmp_path / f"{fmt}{ext}")
        layout, channels = ffprobe_layout(path)
        assert channels == len(SPEAKERS[fmt])
        assert ffmpeg_channel_names(layout) == tuple(SPEAKERS[fmt]), (ext, layout)
        if not re.fullmatch(r"\d+ channels \(.+\)", layout):
            assert layout in NAMES[fmt], (ext, layout)
    # the API's channels (Rendered.channels / channel_names) are in the file's order
    positions = [None if c.azimuth_deg is None else (c.azimuth_deg, c.elevation_deg)
                 for c in result.channels]
    assert positions == list(SPEAKERS[fmt].values())


@pytest.mark.parametrize("fmt", sorted(SPEAKERS))
def test_a_source_at_a_speaker_is_loudest_in_ffmpegs_channel_for_it(noise, tmp_path, fmt):
    labels = tuple(SPEAKERS[fmt])
    for label, position in SPEAKERS[fmt].items():
        if position is None:
            continue
        result = spatial.render(scene(noise, polar(position[0], 2.0, position[1]), fmt=fmt))
        for ext in containers(fmt):
            path = result.write(tmp_path / f"{fmt}-{label}{ext}")
            rms = np.sqrt(np.mean(channels_by_ffmpeg_name(path, labels).astype(float) ** 2,
                                  axis=0))
            loudest = labels[int(np.argmax(rms))]
            assert loudest == label, (ext, dict(zip(labels, rms.round(5))))
            others = np.delete(rms, labels.index(label))
            assert 20 * np.log10(others.max() / rms[labels.index(label)] + 1e-12) < -40, (
                ext, label, dict(zip(labels, rms.round(5))))


def test_ebur128_measures_a_714_wav(tmp_path):
    """ffmpeg's loudness filter refused 7.1.4 files with mask 0 ("Unknown channel
    layouts not supported"); with the mask it measures them."""
    src = noise_file(tmp_path / "n.wav", seconds=1.0)
    path = spatial.render(scene(src, polar(135.0, 2.0, 30.0), fmt="7.1.4")).write(
        tmp_path / "714.wav")
    run = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path),
                          "-af", "ebur128", "-f", "null", "-"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = run.stderr.rsplit("Summary:", 1)[1]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    assert -60.0 < integrated < 0.0  # a measurement, not the -70 LUFS of silence


def test_a_71_bed_is_read_in_the_same_order(tmp_path):
    """A bed file is read in the output format's order: an 8-channel bed's channel 6
    is the left side surround (SL, +90 degrees), and comes out there."""
    import soundfile as sf

    from spatial.scene.model import Scene
    from spatial.scene.parts import Listener, Output, Source

    bed = np.zeros((4800, 8))
    bed[:, 6] = 0.1 * np.random.default_rng(6).standard_normal(4800)
    sf.write(str(tmp_path / "bed.wav"), bed, 48000, subtype="FLOAT")
    sc = Scene(listener=Listener((0.0, 0.0, 0.0)),
               sources=(Source("bed", tmp_path / "bed.wav", None, diegetic=False),),
               output=Output(format="7.1"), sample_rate=48000)
    path = spatial.render(sc).write(tmp_path / "out.wav")
    labels = tuple(SPEAKERS["7.1"])
    rms = np.sqrt(np.mean(channels_by_ffmpeg_name(path, labels).astype(float) ** 2, axis=0))
    assert labels[int(np.argmax(rms))] == "SL" and np.count_nonzero(rms) == 1


def test_the_channel_table_in_the_docs_is_the_layouts():
    from pathlib import Path

    from spatial.filters.formats import SPEAKER_FORMATS
    from spatial.filters.layouts import get_layout
    from spatial.scene.parts import Output

    text = (Path(__file__).parents[1] / "scenes" / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\d.a-z]+)` \| (\d+) \| (\w+) \| ([\w+-]+) \| (\w+) \| ([^|]+) \|$",
                      text, re.M)
    for fmt in SPEAKER_FORMATS:
        lay = get_layout(Output(format=fmt))
        got = [(name, bs, wave) for f, _, name, bs, wave, _ in rows if f == fmt]
        assert got == list(zip(lay.names, lay.bs2051, lay.wave)), fmt
        assert [w for _, _, w in got] == list(SPEAKERS[fmt]), fmt  # and ffmpeg's order
