"""Loudspeaker layouts, VBAP and ambisonic encoding, against independent references.

References: the EBU ADM Renderer (``ear`` 2.1: BS.2051 nominal positions and its
point-source panner gains, stored in tests/data/ear_reference.npz by
tests/reference/make_ear_reference.py, because ear caps numpy below 2),
scipy.special's associated Legendre functions, and the
physics of the velocity / energy / intensity vectors. For a free-field point
source the rendered per-channel RMS is proportional to these gains, so the
vectors are tested on gains here (tests/test_formats.py does it on renders).
"""
from __future__ import annotations

import math
import types
from pathlib import Path

import numpy as np
import pytest

from spatial.errors import SceneError
from spatial.filters.ambisonics import diffuse_weights, sh_matrix
from spatial.filters.base import OmniSpatialiser
from spatial.filters.formats import FORMATS
from spatial.filters.layouts import SPEAKER_BITS, channel_mask, get_layout, mask_order
from spatial.filters.speakers import (AmbisonicSpatialiser, PannerSpatialiser,
                                      make_spatialiser)
from spatial.filters.vbap import VbapPanner, vbap_gains
from spatial.geometry import unit_vectors
from spatial.scene.parts import Output, Speaker

from helpers import fibonacci_sphere

EAR = dict(np.load(Path(__file__).parent / "data" / "ear_reference.npz"))
BS2051 = {"stereo": "0+2+0", "5.1": "0+5+0", "7.1": "0+7+0", "5.1.4": "4+5+0", "7.1.4": "4+7+0"}
AZIMUTHS = np.arange(-180.0, 181.0, 15.0)  # 0..180 on both sides
ELEVATIONS = {"5.1": (0.0,), "7.1": (0.0,), "5.1.4": (0.0, 10.0, 20.0, 30.0),
              "7.1.4": (0.0, 10.0, 20.0, 30.0)}


def layout(fmt):
    return get_layout(Output(format=fmt))


def grid(azimuths, elevations):
    az, el = np.meshgrid(np.asarray(azimuths, float), np.asarray(elevations, float))
    return unit_vectors(az.ravel(), el.ravel())


def angle_deg(u, v) -> np.ndarray:
    u = np.atleast_2d(u) / np.linalg.norm(np.atleast_2d(u), axis=1, keepdims=True)
    v = np.atleast_2d(v) / np.linalg.norm(np.atleast_2d(v), axis=1, keepdims=True)
    return np.rad2deg(np.arccos(np.clip(np.sum(u * v, axis=1), -1.0, 1.0)))


def real_gains(fmt, dirs):
    lay = layout(fmt)
    return vbap_gains(lay, dirs)[:, lay.speaker_indices], lay.directions()


def ear_gains(fmt, which):
    """EAR's stored point-source gains: (directions, gains in our speaker order).

    which: "sphere" (400-point Fibonacci sphere) or "grid" (AZIMUTHS x the format's
    test elevations). The directions are in our frame (x front, y left, z up); the
    script handed them to EAR as (-y, x, z), EAR's frame having x to the right.
    """
    lay = layout(fmt)
    name = BS2051[fmt]
    names = list(EAR[f"names_{name}"])
    order = [names.index(lay.bs2051[i]) for i in lay.speaker_indices]
    dirs = EAR["sphere_dirs"] if which == "sphere" else EAR[f"grid_{name}_dirs"]
    return dirs, EAR[f"gains_{which}_{name}"][:, order]


def ear_layout(name):
    """A stored BS.2051 layout: name -> (azimuth, elevation, is_lfe) per channel."""
    keys = ("names", "azimuth", "elevation", "is_lfe")
    cols = [EAR[f"layout_{name}_{k}"] for k in keys]
    return {str(n): (float(az), float(el), bool(lfe)) for n, az, el, lfe in zip(*cols)}


# ---------------------------------------------------------------- layouts

def test_positions_match_bs2051_nominal_positions_in_ear():
    for fmt, name in BS2051.items():
        lay = layout(fmt)
        ref = ear_layout(name)
        assert sorted(b for b in lay.bs2051 if b) == sorted(ref), fmt
        for ch, bs in zip(lay.channels, lay.bs2051):
            azimuth, elevation, is_lfe = ref[bs]
            if is_lfe:
                assert ch.name == "LFE" and ch.azimuth_deg is None and ch.elevation_deg is None
            else:
                assert (ch.azimuth_deg, ch.elevation_deg) == (azimuth, elevation), bs


def test_stored_ear_reference_covers_the_tested_directions():
    """The stored directions are the grids these tests are about, and EAR's gains for
    them are those of an energy-preserving panner (a truncated or mangled file fails)."""
    assert str(EAR["ear_version"]).startswith("2.")
    # to rounding: sin/cos may differ in the last bit between numpy builds
    assert np.allclose(EAR["sphere_dirs"], fibonacci_sphere(400), rtol=0, atol=1e-15)
    for fmt in ("5.1", "7.1", "5.1.4", "7.1.4"):
        extra = (-30.0, 45.0, 60.0, 90.0) if fmt in ("5.1.4", "7.1.4") else ()
        for which, dirs in (("grid", grid(AZIMUTHS, ELEVATIONS[fmt] + extra)),
                            ("sphere", fibonacci_sphere(400))):
            stored, g = ear_gains(fmt, which)
            assert np.allclose(stored, dirs, rtol=0, atol=1e-15), (fmt, which)
            assert g.shape == (len(dirs), len(layout(fmt).speaker_indices))
            assert np.allclose(np.sum(g ** 2, axis=1), 1.0) and g.min() >= 0.0


EXPECTED = {  # format -> (channel names, WAVE_FORMAT_EXTENSIBLE mask)
    "stereo": ("L R", 0x3),
    "5.1": ("L R C LFE Ls Rs", 0x60F),
    "7.1": ("L R C LFE Lrs Rrs Lss Rss", 0x63F),
    "5.1.4": ("L R C LFE Ls Rs Ltf Rtf Ltr Rtr", 0x2D60F),
    "7.1.4": ("L R C LFE Lrs Rrs Lss Rss Ltf Rtf Ltr Rtr", 0x2D63F),
    "foa": (" ".join(f"ACN{i}" for i in range(4)), None),
    "hoa2": (" ".join(f"ACN{i}" for i in range(9)), None),
    "hoa3": (" ".join(f"ACN{i}" for i in range(16)), None),
}


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_channel_names_counts_and_masks(fmt):
    names, mask = EXPECTED[fmt]
    lay = layout(fmt)
    assert " ".join(lay.names) == names
    assert channel_mask(lay) == mask
    if mask:
        assert bin(mask).count("1") == len(lay.channels)
    spat = make_spatialiser(Output(format=fmt), 48000)
    assert [c.name for c in spat.channels] == names.split()


def test_custom_layout_has_no_mask_and_keeps_the_given_order():
    spk = (Speaker("a", 10), Speaker("LFE", 0), Speaker("b", -100, 20), Speaker("c", 170))
    lay = get_layout(Output(format="custom", speakers=spk))
    assert lay.names == ("a", "LFE", "b", "c") and channel_mask(lay) is None
    assert lay.channels[1].azimuth_deg is None  # "LFE" is the LFE channel
    assert lay.channels[2].azimuth_deg == -100 and lay.channels[2].elevation_deg == 20


WAVE_NAMES = {"L": "FL", "R": "FR", "C": "FC", "LFE": "LFE", "Ls": "SL", "Rs": "SR",
              "Lss": "SL", "Rss": "SR", "Lrs": "BL", "Rrs": "BR", "Ltf": "TFL", "Rtf": "TFR",
              "Ltr": "TBL", "Rtr": "TBR"}


@pytest.mark.parametrize("fmt", ["stereo", "5.1", "7.1", "5.1.4", "7.1.4"])
def test_file_order_is_the_masks_canonical_order(fmt):
    lay = layout(fmt)
    assert tuple(WAVE_NAMES[n] for n in lay.names) == mask_order(channel_mask(lay))
    assert lay.wave == mask_order(channel_mask(lay))
    assert set(WAVE_NAMES.values()) <= set(SPEAKER_BITS)


@pytest.mark.parametrize("fmt", ["7.1", "7.1.4"])
def test_rear_surrounds_come_before_the_side_surrounds(fmt):
    """The mask's order (BL BR before SL SR), by position: the pair at +-135 degrees
    is channels 4 and 5, the pair at +-90 channels 6 and 7."""
    lay = layout(fmt)
    assert [(c.azimuth_deg, c.elevation_deg) for c in lay.channels[4:8]] == [
        (135.0, 0.0), (-135.0, 0.0), (90.0, 0.0), (-90.0, 0.0)]
    assert lay.wave[4:8] == ("BL", "BR", "SL", "SR")


def test_layout_data_whose_labels_do_not_match_the_mask_is_refused(monkeypatch):
    from spatial.filters import layouts

    data = {"layouts": {"7.1": dict(layouts._data()["layouts"]["7.1"])}}
    ch = list(data["layouts"]["7.1"]["channels"])
    ch[4:8] = ch[6:8] + ch[4:6]  # the old side-before-rear order, labels kept
    data["layouts"]["7.1"]["channels"] = ch
    monkeypatch.setattr(layouts, "_data", lambda: data)
    with pytest.raises(RuntimeError, match="SL SR BL BR, but mask 0x63f holds"):
        layout("7.1")


BAD = {  # case -> (output, key, message regex)
    "unknown format": (Output(format="5.1.2"), "output.format",
                       r"unknown output format '5.1.2'; known formats: binaural, mono, stereo"),
    "one speaker": (Output(format="custom", speakers=(Speaker("a", 0), Speaker("LFE", 0))),
                    "output.speakers", r"at least 2 speakers .*got 1"),
    "no speakers": (Output(format="custom"), "output.speakers", r"at least 2 speakers"),
    "duplicate name": (Output(format="custom", speakers=(Speaker("a", 0), Speaker("a", 90))),
                       "output.speakers[1].name", r"duplicate speaker name 'a'"),
    "duplicate position": (Output(format="custom", speakers=(
        Speaker("a", 0), Speaker("b", 90), Speaker("c", 360.2))), "output.speakers[2]",
        r"speaker 'c' is at the same position as 'a'"),
    "same pole": (Output(format="custom", speakers=(
        Speaker("a", 0, 90), Speaker("b", 45, 90), Speaker("c", 0))), "output.speakers[1]",
        r"same position"),
    "elevation": (Output(format="custom", speakers=(Speaker("a", 0), Speaker("b", 90, 95))),
                  "output.speakers[1].elevation", r"elevation 95 is outside \[-90, 90\]"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_layout_errors(case):
    output, key, message = BAD[case]
    for build in (get_layout, lambda o: make_spatialiser(o, 48000)):
        with pytest.raises(SceneError, match=message) as info:
            build(output)
        assert info.value.problems[0].key == key


def test_unknown_format_lists_every_known_format():
    with pytest.raises(SceneError) as info:
        get_layout(Output(format="quad"))
    assert all(f in str(info.value) for f in FORMATS)


# ---------------------------------------------------------------- VBAP

@pytest.mark.parametrize("fmt", ["5.1", "7.1.4"])
def test_velocity_vector_points_at_the_source(fmt):
    # Every direction of these grids is within the real speakers' span (5.1: any
    # horizontal azimuth, the ring's widest gap is 140 < 180 degrees; 7.1.4: elevations
    # 0..30 between the two rings), where VBAP reproduces the velocity vector exactly.
    dirs = grid(AZIMUTHS, ELEVATIONS[fmt])
    g, spk = real_gains(fmt, dirs)
    err = angle_deg(g @ spk, dirs)
    assert err.max() < 2.0  # the bound; measured < 1e-6 degrees


@pytest.mark.parametrize("fmt", ["5.1", "7.1", "5.1.4", "7.1.4"])
def test_energy_vector_no_worse_than_ear(fmt):
    # height layouts: also below, between and above the rings (outside the span too)
    extra = (-30.0, 45.0, 60.0, 90.0) if fmt in ("5.1.4", "7.1.4") else ()
    dirs, ge = ear_gains(fmt, "grid")
    assert np.allclose(dirs, grid(AZIMUTHS, ELEVATIONS[fmt] + extra), rtol=0, atol=1e-15)
    g, spk = real_gains(fmt, dirs)
    ours, theirs = angle_deg(g ** 2 @ spk, dirs), angle_deg(ge ** 2 @ spk, dirs)
    assert np.all(ours <= theirs + 1.0)  # the margin: EAR's own error + 1 degree


@pytest.mark.parametrize("fmt", ["5.1", "7.1", "5.1.4", "7.1.4"])
def test_gains_equal_ears_over_the_sphere(fmt):
    # Same virtual speakers (copy ring at -30, nadir, zenith), same quadrilateral
    # panning: EAR's gains to rounding (1e-9 leaves room for its 1e-10 root tolerances).
    dirs, ge = ear_gains(fmt, "sphere")
    g, _ = real_gains(fmt, dirs)
    assert np.abs(g - ge).max() < 1e-9


@pytest.mark.parametrize("fmt", ["stereo", "5.1", "7.1", "5.1.4", "7.1.4"])
def test_energy_is_constant_and_lfe_silent(fmt):
    lay = layout(fmt)
    g = vbap_gains(lay, fibonacci_sphere(2000))
    energy_db = 10 * np.log10(np.sum(g ** 2, axis=1))
    assert np.ptp(energy_db) < 0.5 and abs(energy_db.mean()) < 0.01  # 0.5 dB: the issue's
    assert g.min() >= 0.0
    lfe = [i for i, c in enumerate(lay.channels) if c.name == "LFE"]
    assert np.all(g[:, lfe] == 0.0)


@pytest.mark.parametrize("fmt", ["stereo", "5.1", "7.1", "5.1.4", "7.1.4"])
def test_source_at_a_speaker_feeds_only_that_speaker(fmt):
    g, spk = real_gains(fmt, layout(fmt).directions())
    others = g[~np.eye(len(spk), dtype=bool)]
    assert np.allclose(np.diag(g), 1.0) and 20 * np.log10(others.max() + 1e-300) < -60


def test_stereo_pans_between_l_and_r_and_folds_the_rear():
    dirs = grid(np.arange(-30.0, 31.0, 5.0), [0.0])
    g, spk = real_gains("stereo", dirs)
    assert angle_deg(g @ spk, dirs).max() < 1e-6  # +-30: plain pairwise VBAP
    g, _ = real_gains("stereo", unit_vectors([90.0, -120.0, 180.0], [0.0, 0.0, 0.0]))
    # 90 and -120: folded to the nearer side only (virtual speakers at +-150 feed L / R)
    assert np.allclose(g, [[1.0, 0.0], [0.0, 1.0], [np.sqrt(0.5), np.sqrt(0.5)]])


CUSTOM = {
    "left-right": [(90, 0), (-90, 0)],
    "front-back": [(0, 0), (180, 0)],
    "one column": [(0, 0), (0, 30)],
    "quad": [(45, 0), (135, 0), (-135, 0), (-45, 0)],
    "upper ring": [(0, 30), (120, 30), (-120, 30)],
    "front three": [(30, 0), (0, 0), (-30, 0)],
    "dome": [(0, 0), (72, 0), (144, 0), (-144, 0), (-72, 0), (0, 45), (120, 45),
             (-120, 45), (0, 90)],
    "near the poles": [(0, 85), (180, -85)],
}


@pytest.mark.parametrize("case", sorted(CUSTOM))
def test_custom_layouts_pan_everywhere(case):
    spk = tuple(Speaker(f"s{i}", az, el) for i, (az, el) in enumerate(CUSTOM[case]))
    lay = get_layout(Output(format="custom", speakers=spk))
    g = VbapPanner(lay).gains(fibonacci_sphere(1000))
    assert np.all(np.isfinite(g)) and g.min() >= 0.0
    assert np.allclose(np.sum(g ** 2, axis=1), 1.0)
    at, _ = real_gains_for(lay, lay.directions())
    assert np.allclose(at, np.eye(len(spk)), atol=1e-9)


def real_gains_for(lay, dirs):
    return VbapPanner(lay).real_gains(dirs), lay.directions()


def test_custom_horizontal_ring_pans_pairwise():
    ring = [(0, 0), (60, 0), (150, 0), (-150, 0), (-60, 0)]
    lay = get_layout(Output(format="custom", speakers=tuple(
        Speaker(f"s{i}", az, el) for i, (az, el) in enumerate(ring))))
    dirs = grid(np.arange(-180.0, 180.0, 7.0), [0.0])
    g, spk = real_gains_for(lay, dirs)
    assert angle_deg(g @ spk, dirs).max() < 1e-6
    assert np.all(np.sum(g > 1e-12, axis=1) <= 2)  # never more than the adjacent pair


def test_panner_spatialiser_responses_and_diffuse():
    spat = make_spatialiser(Output(format="7.1.4"), 48000)
    assert isinstance(spat, PannerSpatialiser) and spat.n_diffuse == 11
    dirs = fibonacci_sphere(50)
    irs, delays = spat.responses(dirs)
    assert irs.shape == (50, 12, 1) and delays.shape == (50, 12) and not delays.any()
    rng = np.random.default_rng(0)
    noises = rng.standard_normal((11, 20000))
    out = spat.diffuse(noises)
    assert out.shape == (12, 20000) and not out[3].any()  # LFE silent
    # total power = one omni noise's power, as a plane wave's total gain^2 = 1
    assert np.sum(np.mean(out ** 2, axis=1)) == pytest.approx(np.mean(noises ** 2), rel=1e-12)
    coherence = np.corrcoef(out[[0, 1, 2, 4]])
    assert np.abs(coherence - np.eye(4)).max() < 0.05  # independent: |r| ~ 1/sqrt(20000)


# ---------------------------------------------------------------- ambisonics

def sn3d_reference(order, dirs):
    """Independent SN3D / ACN from scipy's associated Legendre functions."""
    from scipy.special import lpmv

    x, y, z = dirs.T
    az, sin_el = np.arctan2(y, x), np.clip(z, -1, 1)
    cols = []
    for n in range(order + 1):
        for m in range(-n, n + 1):
            a = abs(m)
            norm = math.sqrt((2 - (a == 0)) * math.factorial(n - a) / math.factorial(n + a))
            legendre = (-1) ** a * lpmv(a, n, sin_el)  # undo scipy's Condon-Shortley phase
            trig = np.cos(m * az) if m >= 0 else np.sin(a * az)
            cols.append(norm * legendre * trig)
    return np.stack(cols, axis=1)


def test_sh_matrix_matches_scipy_reference():
    dirs = fibonacci_sphere(500)
    for order in (1, 2, 3):
        y = sh_matrix(order, dirs)
        assert y.shape == (500, (order + 1) ** 2)
        assert np.abs(y - sn3d_reference(order, dirs)).max() < 1e-12


def test_first_order_components():
    az, el = np.deg2rad(40.0), np.deg2rad(-25.0)
    y = sh_matrix(3, unit_vectors(40.0, -25.0))[0]
    assert y[:4] == pytest.approx([1.0, np.sin(az) * np.cos(el), np.sin(el),
                                   np.cos(az) * np.cos(el)], abs=1e-15)
    # Y (ACN1) is positive to the left, as AmbiX: +90 is the left here
    assert sh_matrix(1, unit_vectors(90.0, 0.0))[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("fmt", ["foa", "hoa3"])
def test_intensity_vector_points_at_a_plane_wave(fmt):
    spat = make_spatialiser(Output(format=fmt), 48000)
    assert isinstance(spat, AmbisonicSpatialiser)
    dirs = grid(np.arange(-180.0, 180.0, 15.0), np.arange(-60.0, 61.0, 15.0))
    irs, delays = spat.responses(dirs)
    assert not delays.any()
    s = irs[:, :, 0]
    w, y, z, x = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    intensity = np.stack([w * x, w * y, w * z], axis=1)  # p * v for one plane wave
    assert angle_deg(intensity, dirs).max() < 2.0  # the bound; exact to rounding


def test_sn3d_orthogonality_on_a_dense_grid():
    # mean over the sphere of Y_i Y_j = delta_ij / (2n + 1); the Fibonacci grid of
    # 20000 points integrates these degree <= 6 polynomials to ~1e-5, hence 1e-3
    y = sh_matrix(3, fibonacci_sphere(20000))
    gram = y.T @ y / len(y)
    expected = np.diag(diffuse_weights(3) ** 2)
    assert np.abs(gram - expected).max() < 1e-3
    assert np.allclose(np.diag(expected), [1] + [1 / 3] * 3 + [1 / 5] * 5 + [1 / 7] * 7)


def test_ambisonic_diffuse_matches_the_diffuse_field_expectation():
    spat = AmbisonicSpatialiser(3)
    rng = np.random.default_rng(0)
    noises = rng.standard_normal((16, 4000))
    out = spat.diffuse(noises)
    power = np.mean(out ** 2, axis=1) / np.mean(noises ** 2, axis=1)
    assert np.allclose(power, diffuse_weights(3) ** 2, rtol=1e-12)
    assert power[0] == 1.0  # W keeps the omnidirectional power


def test_factory_for_every_format():
    assert isinstance(make_spatialiser(Output(format="mono"), 48000), OmniSpatialiser)
    calls = []

    def loader(spec, fs):
        calls.append((spec, fs))
        return types.SimpleNamespace(fs=fs)

    binaural = make_spatialiser(Output(format="binaural", hrtf="x.sofa"), 44100,
                                hrtf_loader=loader)
    assert calls == [("x.sofa", 44100)] and [c.name for c in binaural.channels] == ["L", "R"]
    for fmt, order in (("foa", 1), ("hoa2", 2), ("hoa3", 3)):
        spat = make_spatialiser(Output(format=fmt), 48000)
        assert spat.order == order and spat.n_diffuse == (order + 1) ** 2
    custom = make_spatialiser(Output(format="custom", speakers=(
        Speaker("a", 30), Speaker("b", -30), Speaker("LFE", 0))), 48000)
    assert isinstance(custom, PannerSpatialiser) and custom.n_diffuse == 2
