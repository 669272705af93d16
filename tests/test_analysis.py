"""spatial.analysis: the mood profile, checked against physics, the standards' own
test signals and formulas, and pyloudnorm (an independent BS.1770 meter)."""
from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass as dataclass_occurrence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import spatial
from spatial.analysis.spectrum import Spectrum
from spatial.analysis.width import WidthStats
from spatial.cli import main
from spatial.filters.layouts import get_layout
from spatial.scene.parts import Output, Room

from helpers import FS, ROOMS, noise_file, polar, scene

# ANSI S3.5-1997 table 4 (octave-band procedure), typed here from the standard
SII_IMPORTANCE = [0.0617, 0.1671, 0.2373, 0.2648, 0.2142, 0.0549]
SII_SPEECH_SPECTRUM = [34.75, 34.27, 25.01, 17.32, 9.33, 1.13]  # dB per Hz, normal effort
SII_EDGES = [(177, 355), (355, 710), (710, 1420), (1420, 2840), (2840, 5680), (5680, 11360)]


def sine(freq, seconds, dbfs, fs=FS, channels=2, phase=0.0):
    t = np.arange(int(round(seconds * fs))) / fs
    x = 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t + phase)
    return np.repeat(x[:, None], channels, axis=1)


def write(path, x, fs=FS):
    sf.write(str(path), np.asarray(x, np.float32), fs, subtype="FLOAT")
    return path


def analyze_cli(args, capsys):
    code = main(["analyze", *map(str, args)])
    return code, capsys.readouterr()


@pytest.mark.parametrize("freq", [440.0, 1000.0, 3300.0])
def test_centroid_of_a_sine_is_its_frequency(freq):
    spec = Spectrum(FS)
    spec.add(sine(freq, 2.0, -20, channels=1))
    # Hann window: the main lobe is symmetric about the tone; 2 Hz is 1/6 of a bin
    assert abs(spec.centroid() - freq) < 2.0


def test_steady_noise_loudness_matches_pyloudnorm(tmp_path):
    import pyloudnorm

    x = 0.05 * np.random.default_rng(3).standard_normal((20 * FS, 2))
    path = write(tmp_path / "noise.wav", x)
    p = spatial.analyze(path)
    want = pyloudnorm.Meter(FS).integrated_loudness(x)
    assert abs(p.overall["loudness_lufs"] - want) < 0.3  # the brief's tolerance
    assert p.overall["loudness_range_lu"] < 0.5  # steady: no range


@pytest.mark.parametrize("levels, lra", [((-20, -30), 10.0), ((-20, -15), 5.0)])
def test_ebu_tech_3342_loudness_range(tmp_path, levels, lra):
    # Tech 3342 cases 1 and 2: 20 s of a 1 kHz stereo sine at each level; +-1 LU
    x = np.concatenate([sine(1000, 20, levels[0]), sine(1000, 20, levels[1])])
    p = spatial.analyze(write(tmp_path / "lra.wav", x))
    assert abs(p.overall["loudness_range_lu"] - lra) < 1.0


def test_ebu_tech_3341_loudness_and_true_peak(tmp_path):
    # Tech 3341 case 1: a -23 dBFS 1 kHz stereo sine reads -23.0 LUFS (+-0.1 LU)
    p = spatial.analyze(write(tmp_path / "a.wav", sine(1000, 20, -23)))
    assert abs(p.overall["loudness_lufs"] + 23.0) < 0.1
    # Tech 3341 true-peak signal: fs/4 at 45 degrees: samples at 0.707 of the peak, so
    # -6.02 dBTP from a -9.03 dBFS sample peak; the spec's tolerance is +0.2/-0.4 dB
    x = sine(FS / 4, 2.0, -6.0206, phase=np.pi / 4)
    assert np.abs(x).max() < 10 ** (-9.0 / 20)
    p = spatial.analyze(write(tmp_path / "tp.wav", x))
    assert -6.42 < p.overall["true_peak_dbtp"] < -5.82


def test_hard_panned_binaural_is_narrower_than_diffuse(tmp_path):
    src = noise_file(tmp_path / "n.wav", seconds=3.0)
    panned = spatial.analyze(scene(src, polar(90.0), fmt="binaural"))
    rng = np.random.default_rng(5)
    diffuse = spatial.analyze(write(tmp_path / "diffuse.wav",
                                    0.05 * rng.standard_normal((3 * FS, 2))),
                              fmt="binaural")
    assert panned.overall["width_measure"].startswith("1 - IACC")
    # independent ears: IACC ~ 1/sqrt(N) ~ 0; one source: the ears see one signal
    assert diffuse.overall["width"] > 0.95
    assert panned.overall["width"] < 0.6
    assert panned.overall["front_share"] is None
    assert "binaural" in panned.notes["overall.front_share"]
    # and a source far away in a reverberant room: its diffuse tail reaches both ears
    dims, listener, source = ROOMS[1.5]
    far = spatial.analyze(scene(src, source, listener=listener, fmt="binaural",
                                room=Room(dims, rt60=1.5)))
    assert far.overall["width"] > panned.overall["width"] + 0.1


def test_reverberance_follows_the_room(tmp_path):
    src = noise_file(tmp_path / "n.wav", seconds=1.0)
    t30 = {}
    for rt60 in (0.3, 0.8):
        dims, listener, source = ROOMS[rt60]
        sc = scene(src, source, listener=listener, fmt="stereo",
                   room=Room(dims, rt60=rt60))
        p = spatial.analyze(sc)
        t30[rt60] = p.overall["reverberance"]["t30_s"]
        # 10 %: the room's own test tolerance for T30 against its target (test_room_render)
        assert abs(t30[rt60] - rt60) < 0.10 * rt60, (rt60, t30[rt60])
        assert p.overall["reverberance"]["edt_s"] > 0.0
    assert t30[0.3] < t30[0.8]


def test_free_decay_estimate_of_a_file(tmp_path):
    # noise bursts, each followed by a free exponential decay of 0.6 s (60 dB), silence
    rng = np.random.default_rng(2)
    rt, burst = 0.6, int(0.3 * FS)
    tail = np.arange(int(1.2 * FS)) / FS
    one = np.concatenate([np.ones(burst), 10 ** (-3.0 * tail / rt)])
    x = np.concatenate([one * rng.standard_normal(one.size) for _ in range(4)]) * 0.1
    p = spatial.analyze(write(tmp_path / "decays.wav", np.stack([x, x], 1)))
    # 20 %: a noisy envelope in 20 ms frames (the method's stated accuracy)
    assert abs(p.overall["reverberance"]["t30_s"] - rt) < 0.2 * rt


def test_ambisonic_and_speaker_width():
    rng = np.random.default_rng(1)
    s = rng.standard_normal(FS)
    foa = get_layout(Output(format="foa"))
    plane = WidthStats(foa, FS)
    plane.add(np.stack([s, 0 * s, 0 * s, s], 1))  # W Y Z X: a plane wave from the front
    shares, _ = plane.results()
    assert shares["width"] < 1e-9 and shares["front_share"] == 1.0
    assert shares["height_share"] == 0.0
    diffuse = WidthStats(foa, FS)  # SN3D diffuse field: X, Y, Z each carry 1/3 of W's power
    diffuse.add(np.stack([rng.standard_normal(FS)] +
                         [rng.standard_normal(FS) / np.sqrt(3) for _ in range(3)], 1))
    shares, _ = diffuse.results()
    assert shares["width"] > 0.95 and abs(shares["height_share"] - 1 / 3) < 0.02
    assert abs(shares["front_share"] - 0.5) < 0.02
    five = get_layout(Output(format="5.1"))
    one = WidthStats(five, FS)
    x = np.zeros((FS, 6))
    x[:, 2] = s  # all in C
    one.add(x)
    assert one.results()[0]["width"] == 0.0 and one.results()[0]["front_share"] == 1.0
    even = WidthStats(five, FS)
    even.add(rng.standard_normal((FS, 6)))
    shares, _ = even.results()
    assert shares["width"] > 0.99  # five speakers (the LFE does not count) alike
    assert abs(shares["front_share"] - 0.6) < 0.02  # L R C ahead, Ls Rs (110 deg) behind


def _band_noise(levels_db, seconds, seed):
    """Noise whose octave bands (the standard's edges) have the given band levels (dB
    re 1 of mean square), flat within each band."""
    n = int(seconds * FS)
    f = np.fft.rfftfreq(n, 1 / FS)
    rng = np.random.default_rng(seed)
    spec = np.exp(2j * np.pi * rng.random(f.size))
    gain = np.zeros(f.size)
    for (lo, hi), level in zip(SII_EDGES, levels_db):
        band = (f >= lo) & (f < hi)
        gain[band] = 1.0
        # one-sided bins: mean square of the band = 2 sum |X|^2 / n^2
        gain[band] *= np.sqrt(10 ** (level / 10) * n * n / (2 * band.sum()))
    return np.fft.irfft(spec * gain, n)


def test_sii_of_speech_shaped_noise_against_a_masker():
    from spatial.analysis.sink import ProfileSink
    from spatial.sinks.base import BusView

    bandwidth_db = [10 * np.log10(hi - lo) for lo, hi in SII_EDGES]
    speech_bands = [s + b - 90.0 for s, b in zip(SII_SPEECH_SPECTRUM, bandwidth_db)]
    snr = [-20.0, -9.0, -3.0, 0.0, 6.0, 20.0]
    noise_bands = [s - r for s, r in zip(speech_bands, snr)]
    speech = _band_noise(speech_bands, 6.0, 1)
    noise = _band_noise(noise_bands, 6.0, 2)
    # the formula by hand: A_i = clip((SNR_i + 15) / 30, 0, 1), SII = sum I_i A_i
    want = sum(i * min(1.0, max(0.0, (r + 15) / 30)) for i, r in zip(SII_IMPORTANCE, snr))

    def profiled(threshold):
        sink = ProfileSink(window_s=3.0, sii_threshold=threshold)
        sink.open(get_layout(Output(format="mono")), FS, speech.size)
        for a in range(0, speech.size, 4096):
            d, b = speech[a:a + 4096, None], noise[a:a + 4096, None]
            sink.write(BusView((d + b).astype(np.float32), {}, d.astype(np.float32),
                               b.astype(np.float32)))
        return sink.commit()

    p = profiled(0.45)
    assert abs(p.overall["intelligibility_sii"] - want) < 0.02
    for w in p.windows:
        assert abs(w["intelligibility_sii"] - want) < 0.02
    assert p.low_intelligibility == []  # 0.466 is above the default threshold, 0.45
    low = profiled(0.5).low_intelligibility  # and below 0.5: both windows listed
    assert [w["t"] for w in low] == [0.0, 3.0]
    assert p.overall["dialogue_to_background_lu"] is not None


def test_compare_flags_a_louder_copy_and_not_an_identical_one(tmp_path, capsys):
    x = 0.05 * np.random.default_rng(4).standard_normal((5 * FS, 2))
    a = write(tmp_path / "a.wav", x)
    b = write(tmp_path / "b.wav", x)
    loud = write(tmp_path / "loud.wav", 2.0 * x)  # +6 dB
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "nothing flagged" in out
    assert main(["compare", str(a), str(loud), "--json", str(tmp_path / "c.json"),
                 "--plot", str(tmp_path / "c.png")]) == 1
    out = capsys.readouterr().out
    assert "loud.wav" in out and "Loudness (integrated)" in out
    data = json.loads((tmp_path / "c.json").read_text())
    row = next(r for r in data["metrics"] if r["metric"] == "loudness_lufs")
    assert row["flags"] == [True, True]
    assert abs(row["values"][1] - row["values"][0] - 6.02) < 0.05
    _check_png(tmp_path / "c.png")
    # a looser tolerance lets it pass
    assert main(["compare", str(a), str(loud), "--tolerance", "loudness_lufs=7",
                 "--tolerance", "true_peak_dbtp=7", "--tolerance", "dynamic_range_db=7"]) == 0


def test_compare_of_three_flags_the_odd_one_out(tmp_path):
    x = 0.05 * np.random.default_rng(6).standard_normal((4 * FS, 2))
    a, b = write(tmp_path / "a.wav", x), write(tmp_path / "b.wav", x)
    loud = write(tmp_path / "loud.wav", 2.0 * x)
    result = spatial.compare([a, b, loud])
    row = next(r for r in result.rows if r["metric"] == "loudness_lufs")
    assert row["flags"] == [False, False, True]
    assert spatial.compare([spatial.analyze(a), spatial.analyze(b)]).flagged is False


def test_compare_needs_two_pieces_and_good_tolerances(tmp_path, capsys):
    a = write(tmp_path / "a.wav", sine(1000, 1.0, -20))
    assert main(["compare", str(a)]) == 2
    assert "at least two pieces" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "--tolerance", "loudnes=2"]) == 2
    assert "--tolerance" in capsys.readouterr().err


def _no_nan(path):
    data = json.loads(Path(path).read_text())
    json.dumps(data, allow_nan=False)  # raises on NaN or infinity
    return data


def test_silent_and_too_short_files(tmp_path, capsys):
    silent = write(tmp_path / "silent.wav", np.zeros((4 * FS, 2)))
    code, out = analyze_cli([silent, "--json", tmp_path / "s.json", "--plot",
                             tmp_path / "s.png"], capsys)
    assert code == 0 and "silent" in out.out
    data = _no_nan(tmp_path / "s.json")
    assert data["overall"]["loudness_lufs"] is None
    assert "silent" in data["notes"]["overall.loudness_lufs"]
    assert set(data["overall"]["band_balance_db"]) == {"low", "low_mid", "presence", "air"}
    _check_png(tmp_path / "s.png")
    short = write(tmp_path / "short.wav", sine(1000, 0.2, -20))
    code, out = analyze_cli([short, "--json", tmp_path / "t.json"], capsys)
    assert code == 0 and "too short" in out.out
    data = _no_nan(tmp_path / "t.json")
    assert data["overall"]["loudness_lufs"] is None
    assert data["overall"]["spectral_centroid_hz"] > 900  # what can be measured, is


def test_unreadable_file_is_named(tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    code, out = analyze_cli([bad, "--json", tmp_path / "b.json"], capsys)
    assert code == 2
    assert "broken.wav" in out.err and "Traceback" not in out.err
    assert not (tmp_path / "b.json").exists()
    code, out = analyze_cli([tmp_path / "missing.flac"], capsys)
    assert code == 2 and "missing.flac" in out.err
    stereo = write(tmp_path / "two.wav", sine(1000, 1.0, -20))
    code, out = analyze_cli([stereo, "--format", "5.1"], capsys)
    assert code == 2 and "two.wav" in out.err and "--format" in out.err
    code, out = analyze_cli([stereo, "--window", "0"], capsys)
    assert code == 2 and "--window" in out.err


def _check_png(path):
    from PIL import Image

    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.load()
        assert im.size[0] > 600 and im.size[1] > 400


def test_scene_profile_and_plot(tmp_path, capsys):
    root = Path(__file__).resolve().parents[1]
    code, out = analyze_cli([root / "scenes" / "demo.yaml", "--json", tmp_path / "d.json",
                             "--plot", tmp_path / "d.png"], capsys)
    assert code == 0, out.err
    data = _no_nan(tmp_path / "d.json")
    o = data["overall"]
    assert abs(o["reverberance"]["t30_s"] - 0.5) < 0.05  # the demo room's rt60: 0.5 s
    assert o["dialogue_to_background_lu"] > 3 and 0 < o["intelligibility_sii"] <= 1
    assert {e["label"] for e in data["events"]} >= {"line1 starts", "knock starts"}
    assert len(data["windows"]) == 4 and data["windows"][1]["t"] == 3.0
    assert data["short_term"]["t"][0] == 3.0
    _check_png(tmp_path / "d.png")


def test_motif_wiring(tmp_path, monkeypatch):
    from dataclasses import dataclass

    @dataclass
    class Occurrence:
        start: float
        end: float
        transposition: float
        tempo: float
        strength: float

    calls = []

    def find_occurrences(signal, fs, motif, motif_fs):
        calls.append((signal.shape, fs, motif.shape, motif_fs))
        return [Occurrence(1.0, 2.0, 0.0, 1.0, 0.9)]

    fake = types.ModuleType("spatial.analysis.motif")
    fake.find_occurrences = find_occurrences
    monkeypatch.setitem(sys.modules, "spatial.analysis.motif", fake)
    x = np.concatenate([sine(500, 1, -40), sine(2000, 1, -20), sine(500, 1, -40)])
    piece = write(tmp_path / "piece.wav", x)
    motif = write(tmp_path / "m.wav", sine(2000, 1, -20, channels=1))
    p = spatial.analyze(piece, motifs=[motif])
    assert calls == [((3 * FS,), FS, (FS,), FS)]
    (m,) = p.to_dict()["motifs"]
    (o,) = m["occurrences"]
    assert abs(o["spectral_centroid_hz"] - 2000) < 5 and o["diegetic"] is None
    import pyloudnorm

    # the loudness of its own span [1, 2] s (pyloudnorm, independent), not the piece's
    assert abs(o["loudness_lufs"] - pyloudnorm.Meter(FS).integrated_loudness(x[FS:2 * FS])) < 0.3
    from spatial.analysis.motifs import diegetic_at

    sc = scene(motif, (2.0, 0.0, 0.0))
    assert diegetic_at(sc, motif, 0.5) is True
    assert diegetic_at(sc, motif, 5.0) is None  # the source has ended


def test_motif_in_a_scene_knows_whether_it_was_diegetic(tmp_path, monkeypatch):
    @dataclass_occurrence
    class Occurrence:
        start: float
        end: float
        transposition: float = 0.0
        tempo: float = 1.0
        strength: float = 1.0

    fake = types.ModuleType("spatial.analysis.motif")
    fake.find_occurrences = lambda signal, fs, motif, motif_fs: [Occurrence(0.2, 0.8)]
    monkeypatch.setitem(sys.modules, "spatial.analysis.motif", fake)
    motif = noise_file(tmp_path / "theme.wav", seconds=1.0)
    sc = scene(motif, (2.0, 0.0, 0.0), fmt="stereo")
    (m,) = spatial.analyze(sc, motifs=[motif]).to_dict()["motifs"]
    (o,) = m["occurrences"]
    assert o["diegetic"] is True and o["loudness_lufs"] is not None
    assert 0.0 <= o["width"] <= 1.0
