"""Binaural fidelity (issue 7): timbre against an omnidirectional receiver, the
same level and ITD at every sample rate, the low-frequency ITD of every measured
direction against the raw measured pair (read here with sofar, not through the
HRTF stage), and mirror symmetry below the lowest measured ring.

ITD here is the lag of the generalised cross-correlation with phase transform
(GCC-PHAT, Knapp & Carter 1976) of a pair, restricted to 0-1.5 kHz: the
interaural phase below 1.5 kHz, where ITD is the cue, independent of the
magnitudes (which equalisation changes and the interaural delay must not)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

import spatial
from helpers import fibonacci_sphere, noise_file, polar, scene
from spatial.errors import SceneError
from spatial.filters.binaural import BinauralSpatialiser
from spatial.filters.hrtf import DEFAULT_HRTF, load_hrtf
from spatial.geometry import unit_vectors

FS = 48000
RATES = (16000, 22050, 44100, 48000, 96000, 192000)
ITD_BAND_HZ = 1500.0
MAX_ITD_S = 1.2e-3


def third_octaves(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float):
    """Mean of power (..., K) in 1/3-octave bands centred lo..hi -> (centres, (..., B))."""
    centres = 1000.0 * 2.0 ** (np.arange(-30, 15) / 3.0)
    centres = centres[(centres >= lo * 0.99) & (centres <= hi * 1.01)]
    bands = [(freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6)) for c in centres]
    return centres, np.stack([power[..., b].mean(axis=-1) for b in bands], axis=-1)


def gcc_phat_itd(left_spec: np.ndarray, right_spec: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Spectra (..., K) of left and right -> (...) lag (s) of the phase-transform
    cross-correlation over 0 < f <= 1.5 kHz, on a 1 us grid within +-1.2 ms;
    > 0 when the left ear leads."""
    sel = (freqs > 0) & (freqs <= ITD_BAND_HZ)
    x = right_spec[..., sel] * np.conj(left_spec[..., sel])
    x = x / np.maximum(np.abs(x), 1e-300)
    taus = np.arange(-MAX_ITD_S, MAX_ITD_S + 1e-9, 1e-6)
    arg = 2 * np.pi * np.outer(freqs[sel], taus)
    xc = x.real @ np.cos(arg) - x.imag @ np.sin(arg)
    return taus[np.argmax(xc, axis=-1)]


@pytest.fixture(scope="module")
def raw():
    """The default set as measured: directions (M, 3) and GCC-PHAT ITD (M,) of each pair."""
    import sofar

    sofa = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    fs_in = float(np.ravel(sofa.Data_SamplingRate)[0])
    pos = sofa.SourcePosition
    n = 16384  # 2.7 Hz bins: the 512-tap responses' spectra sampled finely
    spec = np.fft.rfft(np.asarray(sofa.Data_IR, float), n, axis=-1)
    itd = gcc_phat_itd(spec[:, 0], spec[:, 1], np.fft.rfftfreq(n, 1 / fs_in))
    return unit_vectors(pos[:, 0], pos[:, 1]), itd


def rendered_spectra(sp: BinauralSpatialiser, directions: np.ndarray, fs: int):
    """What the spatialiser renders for each direction: min-phase response and its
    pure delay, as spectra (N, 2, K) on a ~5 Hz grid, and the grid."""
    irs, delays = sp.responses(directions)
    n = 2 ** int(np.ceil(np.log2(fs / 5.0)))
    f = np.fft.rfftfreq(n, 1 / fs)
    keep = f <= 2 * ITD_BAND_HZ
    spec = np.fft.rfft(irs, n, axis=-1)[..., keep] * np.exp(-2j * np.pi * f[keep] * delays[..., None])
    return spec, f[keep]


def rendered_itd(sp, directions, fs):
    out = np.empty(len(directions))
    for lo in range(0, len(directions), 100):
        spec, f = rendered_spectra(sp, directions[lo:lo + 100], fs)
        out[lo:lo + 100] = gcc_phat_itd(spec[:, 0], spec[:, 1], f)
    return out


# -- timbre ------------------------------------------------------------------------------
def test_diffuse_field_matches_an_omnidirectional_receiver():
    # uncorrelated unit-power noise from 4000 evenly spread directions: each ear's
    # expected power spectrum is the mean |H|^2 over them; an omnidirectional
    # receiver gets 1 (0 dB). Issue 7: within 3 dB in every third octave 63 Hz-12.5 kHz.
    sp = BinauralSpatialiser(load_hrtf("default", FS))
    irs, _ = sp.responses(fibonacci_sphere(4000))
    n = 16384
    power = np.zeros((2, n // 2 + 1))
    for lo in range(0, len(irs), 500):
        power += np.sum(np.abs(np.fft.rfft(irs[lo:lo + 500], n, axis=-1)) ** 2, axis=0)
    power /= len(irs)
    _, bands = third_octaves(power, np.fft.rfftfreq(n, 1 / FS), 63, 12500)
    db = 10 * np.log10(bands)
    assert np.max(np.abs(db)) < 3.0, db


def test_raw_set_is_not_neutral():
    # the same measurement with eq 'none' fails it: the MIT KEMAR set carries the
    # loudspeaker's bass roll-off and the ear-canal resonance (issue 7: -23 dB at
    # 63 Hz, +10 dB at 2.5 kHz against the diffuse-field average)
    sp = BinauralSpatialiser(load_hrtf("default", FS, eq="none"))
    irs, _ = sp.responses(fibonacci_sphere(1000))
    n = 16384
    power = np.mean(np.abs(np.fft.rfft(irs, n, axis=-1)) ** 2, axis=0)
    _, bands = third_octaves(power, np.fft.rfftfreq(n, 1 / FS), 63, 2500)
    db = 10 * np.log10(bands)
    assert db[..., -1].min() - db[..., 0].max() > 15.0, db


@pytest.fixture(scope="module")
def noise(tmp_path_factory):
    return noise_file(tmp_path_factory.mktemp("src") / "noise.wav", seconds=2.0)


def test_low_frequencies_reach_each_ear_as_an_omni_at_the_head_centre(noise):
    # below 250 Hz the head is acoustically small (ka < 0.4): each ear of a frontal
    # source gets what an omnidirectional receiver at the head's centre gets.
    # Issue 7: within 2 dB per third octave. Welch over 2 s with 8192-point
    # segments: ~23 averages, +-0.4 dB of estimation scatter in the 63 Hz band.
    outs = {}
    for fmt in ("binaural", "mono"):
        out = spatial.render(scene(noise, polar(0.0, 2.0), fmt=fmt)).audio.astype(float)
        f, p = signal.welch(out, fs=FS, nperseg=8192, axis=0)
        outs[fmt] = third_octaves(p.T, f, 63, 200)[1]
    db = 10 * np.log10(outs["binaural"] / outs["mono"])  # (ears, bands)
    assert np.max(np.abs(db)) < 2.0, db


# -- sample rates ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def band_limited_noise(tmp_path_factory):
    """1.5 s of noise low-passed at 6 kHz: the same sound at every rate from 16 kHz."""
    rng = np.random.default_rng(5)
    x = signal.sosfiltfilt(signal.butter(8, 6000, fs=FS, output="sos"), rng.standard_normal(int(1.5 * FS)))
    path = tmp_path_factory.mktemp("bl") / "noise6k.wav"
    sf.write(str(path), 0.1 * x, FS, subtype="FLOAT")
    return path


@pytest.fixture(scope="module")
def renders_by_rate(band_limited_noise):
    """{fs: {azimuth: (2, n) ears}} for sources at 60 and 90 degrees, 2 m."""
    from dataclasses import replace

    out = {}
    for fs in RATES:
        out[fs] = {}
        for az in (60.0, 90.0):
            sc = replace(scene(band_limited_noise, polar(az, 2.0)), sample_rate=fs)
            out[fs][az] = spatial.render(sc).audio.astype(float).T
    return out


def test_binaural_level_is_the_same_at_every_rate(renders_by_rate):
    # the same sound (below 6 kHz) from the same place: the same ear power at every
    # rate. Issue 7: within 0.3 dB (before: +3 dB at 96 kHz, +6 dB at 192 kHz).
    for az in (60.0, 90.0):
        ref = np.mean(renders_by_rate[48000][az] ** 2, axis=1)
        for fs in RATES:
            db = 10 * np.log10(np.mean(renders_by_rate[fs][az] ** 2, axis=1) / ref)
            assert np.max(np.abs(db)) < 0.3, (fs, az, db)


def test_rendered_itd_is_the_measured_one_at_every_rate(renders_by_rate, raw):
    dirs, measured = raw
    for az in (60.0, 90.0):
        i = int(np.argmin(np.linalg.norm(dirs - unit_vectors(az, 0.0), axis=1)))
        for fs in RATES:
            ears = renders_by_rate[fs][az]
            n = 2 ** int(np.ceil(np.log2(ears.shape[1])))
            spec = np.fft.rfft(ears, n, axis=-1)
            itd = gcc_phat_itd(spec[0], spec[1], np.fft.rfftfreq(n, 1 / fs))
            # issue 7: 20 us (before: 887 against 707 us at 90 degrees, 16 kHz)
            assert abs(itd - measured[i]) < 20e-6, (fs, az, itd, measured[i])


# -- ITD at every measured direction ------------------------------------------------------------
def test_itd_at_every_measured_direction(raw):
    dirs, measured = raw
    itd = rendered_itd(BinauralSpatialiser(load_hrtf("default", FS)), dirs, FS)
    err = np.abs(itd - measured)
    # issue 7: within 20 us at every measured direction (before: 31-67 us short
    # between 90 and 110 degrees at 48 kHz)
    assert err.max() < 20e-6, (int(np.argmax(err)), err.max())


@pytest.mark.parametrize("fs", [16000, 22050, 44100, 96000, 192000])
def test_itd_at_measured_directions_at_other_rates(raw, fs):
    dirs, measured = raw
    pick = np.arange(fs % 7, len(dirs), 7)  # a different seventh of the set per rate
    itd = rendered_itd(BinauralSpatialiser(load_hrtf("default", fs)), dirs[pick], fs)
    err = np.abs(itd - measured[pick])
    assert err.max() < 20e-6, (fs, int(pick[np.argmax(err)]), err.max())


def test_raw_set_renders_the_measured_plain_cross_correlation():
    # With the measured magnitudes (eq none) the rendered pair differs from the
    # measured one only in phase, so even the plain (magnitude-weighted) cross-
    # correlation below 1.5 kHz must peak at the measured lag. (With equalisation
    # the weighting moves towards the bass, where a head's ITD is larger: Kuhn's
    # 3a/c against 2a/c; the phase-transform ITD above is the comparable one.)
    import sofar

    sofa = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    fs_in = float(np.ravel(sofa.Data_SamplingRate)[0])
    pick = np.arange(0, sofa.Data_IR.shape[0], 3)
    pos = sofa.SourcePosition[pick]
    n = 16384
    taus = np.arange(-MAX_ITD_S, MAX_ITD_S + 1e-9, 1e-6)

    def plain_itd(left, right, freqs):
        sel = (freqs > 0) & (freqs <= ITD_BAND_HZ)
        x = right[..., sel] * np.conj(left[..., sel])
        arg = 2 * np.pi * np.outer(freqs[sel], taus)
        return taus[np.argmax(x.real @ np.cos(arg) - x.imag @ np.sin(arg), axis=-1)]

    spec = np.fft.rfft(np.asarray(sofa.Data_IR, float)[pick], n, axis=-1)
    measured = plain_itd(spec[:, 0], spec[:, 1], np.fft.rfftfreq(n, 1 / fs_in))
    sp = BinauralSpatialiser(load_hrtf("default", FS, eq="none"))
    spec, f = rendered_spectra(sp, unit_vectors(pos[:, 0], pos[:, 1]), FS)
    err = np.abs(plain_itd(spec[:, 0], spec[:, 1], f) - measured)
    assert err.max() < 20e-6, (int(pick[np.argmax(err)]), err.max())


def test_itd_is_monotonic_where_the_measurement_is(raw):
    # around the horizontal plane in 1 degree steps (between measured directions too):
    # wherever the measured ITD of neighbouring measured directions rises (falls) by
    # more than the tolerance, the rendered ITD rises (falls) at every step between them
    dirs, measured = raw
    sp = BinauralSpatialiser(load_hrtf("default", FS))
    on_ring = np.flatnonzero(np.abs(dirs[:, 2]) < 1e-6)
    ring_az = np.rad2deg(np.arctan2(dirs[on_ring, 1], dirs[on_ring, 0])) % 360
    order = np.argsort(ring_az)
    ring_az, ring_itd = ring_az[order], measured[on_ring][order]
    az = np.arange(0.0, 360.0, 1.0)
    itd = rendered_itd(sp, unit_vectors(az, np.zeros_like(az)), FS)
    for k in range(len(ring_az)):
        a0, a1 = ring_az[k], ring_az[(k + 1) % len(ring_az)] + (360 if k + 1 == len(ring_az) else 0)
        rise = ring_itd[(k + 1) % len(ring_az)] - ring_itd[k]
        if abs(rise) < 20e-6:
            continue
        inside = (az >= a0) & (az <= a1)
        steps = np.diff(itd[inside])
        # 1 us: the estimator's grid
        assert np.all(np.sign(rise) * steps > -1e-6), (a0, a1, steps)


# -- the bottom cap ---------------------------------------------------------------------------------
def pair_ild_itd(sp, directions, fs=FS):
    """(ILD dB (left over right, broadband energy), GCC-PHAT ITD s) per direction."""
    irs, _ = sp.responses(directions)
    energy = np.sum(irs ** 2, axis=-1)
    return 10 * np.log10(energy[:, 0] / energy[:, 1]), rendered_itd(sp, directions, fs)


def test_below_the_lowest_ring_left_and_right_are_mirror_images():
    # the MIT KEMAR set is mirror-symmetric (its right ear is its left ear mirrored),
    # so a direction and its mirror image must get opposite ILD and ITD. Issue 7:
    # 0.5 dB / 10 us (before: +13.3 / -10.8 dB at +-90 degrees, -50).
    sp = BinauralSpatialiser(load_hrtf("default", FS))
    az = np.arange(0.0, 180.1, 2.5)
    for el in (-42.0, -45.0, -50.0, -57.0, -65.0, -75.0, -85.0, -89.0):
        e = np.full_like(az, el)
        ild_l, itd_l = pair_ild_itd(sp, unit_vectors(az, e))
        ild_r, itd_r = pair_ild_itd(sp, unit_vectors(-az, e))
        assert np.max(np.abs(ild_l + ild_r)) < 0.5, (el, np.max(np.abs(ild_l + ild_r)))
        assert np.max(np.abs(itd_l + itd_r)) < 10e-6, (el, np.max(np.abs(itd_l + itd_r)))
    ild, itd = pair_ild_itd(sp, unit_vectors(0.0, -90.0))
    assert abs(ild[0]) < 0.3 and abs(itd[0]) < 10e-6  # straight below (before: 0.76 dB)


def test_the_cap_joins_the_lowest_ring_smoothly():
    # from the measured -30 and -40 degree rings down to the nadir in 1 degree steps:
    # ILD and ITD change gradually (no jump where the measurement ends); a side
    # source's ILD shrinks towards 0 below
    sp = BinauralSpatialiser(load_hrtf("default", FS))
    el = np.arange(-30.0, -90.1, -1.0)
    for az in (0.0, 45.0, 90.0, 135.0, -120.0):
        ild, itd = pair_ild_itd(sp, unit_vectors(np.full_like(el, az), el))
        # 1.5 dB and 25 us per degree: at the steepest measured slope (between the
        # -30 and -40 rings at the side) ILD changes by ~1 dB and ITD by ~15 us a degree
        assert np.max(np.abs(np.diff(ild))) < 1.5, (az, np.diff(ild))
        assert np.max(np.abs(np.diff(itd))) < 25e-6, (az, np.diff(itd))
        assert abs(ild[-1]) < 0.3


# -- the scene key --------------------------------------------------------------------------------
def test_hrtf_eq_scene_key(tmp_path):
    from helpers import GOOD_SCENE

    noise_file(tmp_path / "a.wav", seconds=0.2)
    for value, expected in (("none", "none"), ("diffuse-field", "diffuse-field")):
        path = tmp_path / f"{value}.yaml"
        path.write_text(GOOD_SCENE.replace("format: binaural", f"format: binaural\n  hrtf_eq: {value}"))
        assert spatial.load_scene(path).output.hrtf_eq == expected
    assert spatial.load_scene(_write(tmp_path, GOOD_SCENE)).output.hrtf_eq == "diffuse-field"
    bad = _write(tmp_path, GOOD_SCENE.replace("format: binaural", "format: binaural\n  hrtf_eq: flat"))
    with pytest.raises(SceneError) as err:
        spatial.load_scene(bad)
    assert "output.hrtf_eq" in str(err.value) and "flat" in str(err.value)


def _write(folder, text):
    path = folder / f"scene{abs(hash(text)) % 10000}.yaml"
    path.write_text(text)
    return path


def test_raw_and_equalised_renders_differ_where_the_measurement_is_coloured(noise):
    # eq reaches the renderer: the raw set's bass roll-off is audible in the render
    from dataclasses import replace

    base = scene(noise, polar(30.0, 2.0))
    lows = []
    for eq in ("diffuse-field", "none"):
        sc = replace(base, output=replace(base.output, hrtf_eq=eq))
        out = spatial.render(sc).audio.astype(float)
        f, p = signal.welch(out, fs=FS, nperseg=8192, axis=0)
        _, b = third_octaves(p.T, f, 63, 1000)
        lows.append(10 * np.log10(b[:, 0] / b[:, -1]))  # 63 Hz against 1 kHz, per ear
    # raw KEMAR: the 63 Hz band is ~20 dB below 1 kHz; equalised, about level
    assert np.all(lows[0] - lows[1] > 10.0), lows
