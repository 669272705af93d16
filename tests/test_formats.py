"""Loudspeaker and ambisonic output as rendered: direction of the velocity
vector, energy preservation, a source at a speaker, ambisonic intensity
direction, channel counts and WAVE_FORMAT_EXTENSIBLE masks of written files."""
from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

import spatial
from helpers import noise_file, polar, scene
from spatial.geometry import unit_vectors

AZIMUTHS = [a for a in range(-180, 181, 15)]


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    return noise_file(tmp_path_factory.mktemp("fmt") / "noise.wav", seconds=0.5)


def angle_between(u, v) -> float:
    u, v = np.asarray(u, float), np.asarray(v, float)
    c = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return float(np.rad2deg(np.arccos(np.clip(c, -1, 1))))


def speaker_vectors(result):
    keep = [i for i, c in enumerate(result.channels) if c.azimuth_deg is not None]
    dirs = unit_vectors([result.channels[i].azimuth_deg for i in keep],
                        [result.channels[i].elevation_deg for i in keep])
    return keep, dirs


@pytest.mark.parametrize("fmt", ["5.1", "7.1.4"])
def test_velocity_vector_points_at_the_source(noise, fmt):
    energies = []
    elevations = [0] if fmt == "5.1" else [0, 20]
    for el in elevations:
        for az in AZIMUTHS:
            result = spatial.render(scene(noise, polar(az, 2.0, el), fmt=fmt))
            out = result.audio.astype(float)
            keep, dirs = speaker_vectors(result)
            rms = np.sqrt(np.mean(out[:, keep] ** 2, axis=0))
            velocity = rms @ dirs
            # 2 degrees: the bound (VBAP solves for exactly this vector)
            assert angle_between(velocity, unit_vectors(az, el)[0]) < 2.0, (fmt, az, el)
            energies.append(np.sum(rms ** 2))
    spread = 10 * np.log10(max(energies) / min(energies))
    assert spread < 0.5  # energy preserved within 0.5 dB as the source pans


def test_source_at_a_speaker_feeds_only_that_speaker(noise):
    for name, az in (("L", 30), ("C", 0), ("Rs", -110)):
        result = spatial.render(scene(noise, polar(az, 2.0), fmt="5.1"))
        rms = np.sqrt(np.mean(result.audio.astype(float) ** 2, axis=0))
        idx = result.channel_names.index(name)
        others = np.delete(rms, idx)
        assert 20 * np.log10(others.max() / rms[idx] + 1e-12) < -40, (name, rms)


@pytest.mark.parametrize("fmt", ["foa", "hoa3"])
def test_ambisonic_intensity_direction(noise, fmt):
    for el in (-45, 0, 30, 60):
        for az in (-150, -90, -20, 0, 45, 120, 180):
            out = spatial.render(scene(noise, polar(az, 2.0, el), fmt=fmt)).audio.astype(float)
            w, y, z, x = out[:, 0], out[:, 1], out[:, 2], out[:, 3]  # ACN 0..3
            intensity = np.array([np.mean(w * x), np.mean(w * y), np.mean(w * z)])
            assert angle_between(intensity, unit_vectors(az, el)[0]) < 2.0, (fmt, az, el)


EXPECTED = {  # format -> (channels, WAVE_FORMAT_EXTENSIBLE mask or None for a plain WAV)
    "binaural": (2, None), "mono": (1, None), "stereo": (2, 0x3), "5.1": (6, 0x60F),
    "7.1": (8, 0x63F), "5.1.4": (10, 0x2D60F), "7.1.4": (12, 0x2D63F),
    "foa": (4, 0), "hoa2": (9, 0), "hoa3": (16, 0),
}


def wav_mask(path):
    b = path.read_bytes()[:4096]
    i = b.find(b"fmt ")
    size, tag = struct.unpack("<IH", b[i + 4:i + 10])
    return struct.unpack("<I", b[i + 28:i + 32])[0] if tag == 0xFFFE else None


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_demo_renders_to_every_format(fmt, tmp_path):
    from dataclasses import replace

    demo = spatial.load_scene("scenes/demo.yaml")
    demo = replace(demo, duration=1.0).with_output(format=fmt)
    path = spatial.render(demo).write(tmp_path / f"demo-{fmt}.wav")
    info = sf.info(str(path))
    channels, mask = EXPECTED[fmt]
    assert info.channels == channels
    assert wav_mask(path) == mask
    data, _ = sf.read(str(path))
    assert np.all(np.isfinite(data)) and np.abs(data).max() > 1e-4


def bed_scene(tmp_path, channels: int, fmt: str, lfe=()):
    from spatial.scene.model import Scene
    from spatial.scene.parts import Listener, Output, Source

    rng = np.random.default_rng(channels)
    path = tmp_path / f"bed{channels}.wav"
    sf.write(str(path), 0.1 * rng.standard_normal((4800, channels)), 48000, subtype="FLOAT")
    return Scene(listener=Listener((0.0, 0.0, 0.0)),
                 sources=(Source("bed", path, None, role="music", diegetic=False),),
                 output=Output(format=fmt, lfe=tuple(lfe)), sample_rate=48000)


def test_stereo_bed_maps_by_channel_name(tmp_path):
    sc = bed_scene(tmp_path, 2, "5.1")
    data, _ = sf.read(str(sc.sources[0].file))
    result = spatial.render(sc)
    out = result.audio.astype(float)
    names = result.channel_names
    np.testing.assert_allclose(out[:4800, names.index("L")], data[:, 0], atol=1e-6)
    np.testing.assert_allclose(out[:4800, names.index("R")], data[:, 1], atol=1e-6)
    others = [i for i, n in enumerate(names) if n not in ("L", "R")]
    assert np.abs(out[:, others]).max() == 0.0


def test_stereo_bed_is_head_locked_in_binaural(tmp_path):
    from dataclasses import replace

    from spatial.scene.parts import Listener

    sc = bed_scene(tmp_path, 2, "binaural")
    a = spatial.render(sc).audio
    b = spatial.render(replace(sc, listener=Listener((1.0, 2.0, 0.0), 75.0))).audio
    np.testing.assert_array_equal(a, b)  # a bed ignores where the listener stands or looks
    # the left bed channel is a virtual speaker on the left: louder in the left ear
    sc_left = bed_scene(tmp_path, 2, "binaural")
    data, _ = sf.read(str(sc_left.sources[0].file))
    sf.write(str(sc_left.sources[0].file), np.stack([data[:, 0], 0 * data[:, 1]], 1), 48000,
             subtype="FLOAT")
    out = spatial.render(sc_left).audio.astype(float)
    assert np.sum(out[:, 0] ** 2) > 2 * np.sum(out[:, 1] ** 2)


def test_bed_with_unmappable_channel_count_fails_cleanly(tmp_path):
    sc = bed_scene(tmp_path, 3, "5.1")
    with pytest.raises(spatial.SceneError, match="3 channels cannot be mapped"):
        spatial.render(sc)


def test_lfe_feed_is_low_passed_direct_sound(noise):
    from dataclasses import replace

    from spatial.scene.parts import Output

    sc = scene(noise, polar(0, 2.0), fmt="5.1")
    silent = spatial.render(sc)
    lfe = silent.channel_names.index("LFE")
    assert np.abs(silent.audio[:, lfe]).max() == 0.0  # silent by default
    fed = spatial.render(replace(sc, output=Output(format="5.1", lfe=("effects",))))
    x = fed.audio[:, lfe].astype(float)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / 48000)
    below, above = spectrum[f < 100].sum(), spectrum[f > 480].sum()
    assert below > 0 and 10 * np.log10(above / below) < -40  # 4th order: -48 dB at 2 octaves
