"""The HRTF stage and the binaural spatialiser, checked against physics and
independent facts: Woodworth's ITD, the minimum-phase magnitude identity, the
geometry of the measurement grid, the diffuse-field coherence of a head."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from spatial.errors import SceneError
from spatial.filters.base import Channel
from spatial.filters.binaural import MODEL_FFT, BinauralSpatialiser
from spatial.filters.hrtf import DEFAULT_HRTF, load_hrtf, minimum_phase
from spatial.geometry import unit_vectors

FS = 48000


@pytest.fixture(scope="module")
def hrtf():
    return load_hrtf("default", FS)


def woodworth_itd(azimuth_deg: float) -> float:
    a, c = 0.0875, 343.0
    th = np.deg2rad(abs(azimuth_deg))
    return a / c * (th + np.sin(th))


def third_octaves(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float):
    """Mean of power (..., K) in 1/3-octave bands centred lo..hi -> (centres, (..., B))."""
    centres = 1000.0 * 2.0 ** (np.arange(-30, 15) / 3.0)
    centres = centres[(centres >= lo * 0.99) & (centres <= hi * 1.01)]
    bands = [(freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6)) for c in centres]
    return centres, np.stack([power[..., b].mean(axis=-1) for b in bands], axis=-1)


# -- interaural time difference --------------------------------------------------
@pytest.mark.parametrize("azimuth", [30, 60, 90, -30, -60, -90])
def test_onset_itd_follows_woodworth(hrtf, azimuth):
    _, delays = hrtf.interpolate(unit_vectors(azimuth, 0.0))
    itd = delays[0, 1] - delays[0, 0]  # right minus left: > 0 when the left ear hears first
    # a source on the left (+azimuth) reaches the left ear first
    assert np.sign(itd) == np.sign(azimuth)
    # 100 us: Woodworth's sphere is a model of a head, not KEMAR; onset detection
    # on band-limited responses adds a few samples' worth of scatter (21 us each)
    assert abs(abs(itd) - woodworth_itd(azimuth)) < 100e-6, (azimuth, itd)


def test_delays_are_relative_and_non_negative(hrtf):
    assert hrtf.delays_s.min() == 0.0
    # the whole set spans about one head's worth of delay (2a/c ~ 0.5 ms, plus margin)
    assert hrtf.delays_s.max() < 1.0e-3
    _, front = hrtf.interpolate(unit_vectors(0.0, 0.0))
    # front: both ears together (the head is symmetric), about a/c after the earliest
    # onset (the near ear of a lateral source, which the sound reaches before the centre)
    assert abs(front[0, 0] - front[0, 1]) < 25e-6
    assert front[0, 0] < 0.0875 / 343.0 + 50e-6


# -- minimum phase -----------------------------------------------------------------
def test_minimum_phase_keeps_the_full_magnitude(hrtf):
    h = hrtf.hrirs[[0, 100, 355, 600]]
    mp = minimum_phase(h)
    n = mp.shape[-1]
    a = np.abs(np.fft.rfft(h, n, axis=-1))
    b = np.abs(np.fft.rfft(mp, n, axis=-1))
    seen = a > 1e-5 * a.max(axis=-1, keepdims=True)  # above the method's -120 dB log floor
    # untruncated, the cepstral method is exact up to cepstral aliasing (tiny at 8x FFT)
    assert np.max(np.abs(20 * np.log10(b[seen] / a[seen]))) < 0.01


def raw_set():
    """(directions (M, 3), responses (M, 2, N), fs) of the default SOFA file, read directly."""
    import sofar

    sofa = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    pos = sofa.SourcePosition
    return (unit_vectors(pos[:, 0], pos[:, 1]), np.asarray(sofa.Data_IR, float),
            float(np.ravel(sofa.Data_SamplingRate)[0]))


@pytest.fixture(scope="module")
def raw():
    return raw_set()


@pytest.mark.parametrize("azimuth,elevation", [(0, 0), (40, 0), (-90, 0), (150, 30), (270, -30)])
def test_raw_mode_min_phase_has_the_measured_magnitude(raw, azimuth, elevation):
    """eq 'none' keeps the measured magnitude (one overall scale) at any render rate."""
    dirs, ir, fs_in = raw
    i = int(np.argmin(np.linalg.norm(dirs - unit_vectors(azimuth, elevation), axis=1)))
    levels = []
    for fs in (32000, 48000):
        h = load_hrtf("default", fs, eq="none")
        irs, _ = h.interpolate(dirs[i:i + 1])
        f = np.fft.rfftfreq(8192, 1 / fs)
        _, mine = third_octaves(np.abs(np.fft.rfft(irs[0], 8192, axis=-1)) ** 2, f, 200, 12500)
        g = np.fft.rfftfreq(8192, 1 / fs_in)
        _, meas = third_octaves(np.abs(np.fft.rfft(ir[i], 8192, axis=-1)) ** 2, g, 200, 12500)
        ratio = 10 * np.log10(mine / meas)
        # 0.5 dB in 1/3-octave bands (the ear's resolution) 200 Hz-12.5 kHz, after one
        # overall scale: the truncation to 99.9 % energy moves deep notches a little;
        # below 200 Hz the MIT measurement is 20-30 dB down (loudspeaker roll-off)
        assert np.max(np.abs(ratio - ratio.mean())) < 0.5, (fs, ratio)
        levels.append(ratio.mean())
    assert abs(levels[0] - levels[1]) < 0.05  # the scale does not depend on the rate


def test_diffuse_field_eq_keeps_the_directional_cues(raw, hrtf):
    """Equalisation is one filter for every direction and ear above the crossover:
    the ratio of equalised to measured magnitude is the same everywhere."""
    dirs, ir, fs_in = raw
    pick = np.arange(0, len(dirs), 23)
    irs, _ = hrtf.interpolate(dirs[pick])
    f = np.fft.rfftfreq(8192, 1 / FS)
    _, mine = third_octaves(np.abs(np.fft.rfft(irs, 8192, axis=-1)) ** 2, f, 400, 12500)
    g = np.fft.rfftfreq(8192, 1 / fs_in)
    _, meas = third_octaves(np.abs(np.fft.rfft(ir[pick], 8192, axis=-1)) ** 2, g, 400, 12500)
    ratio = 10 * np.log10(mine / meas)  # (directions, ears, bands)
    spread = np.abs(ratio - np.median(ratio, axis=(0, 1)))
    # 0.5 dB: as above, for 95 % of (direction, ear, band); 2 dB everywhere: the
    # shadowed ear's deep high-frequency notches lose most to the truncation (worst
    # seen 1.6 dB, at 10 kHz, 30 dB below the ear that faces the source)
    assert np.mean(spread < 0.5) > 0.95 and np.max(spread) < 2.0, np.mean(spread < 0.5)


def test_min_phase_concentrates_energy_at_the_start(raw):
    # Among responses of equal magnitude, the minimum-phase one has the largest
    # partial energy sum_{n<k} h[n]^2 for every k (a defining property). Raw mode at
    # the measured rate: the same magnitude as the measurement, up to one scale, the
    # truncation (0.1 %) and the band limit above 17.9 kHz (where KEMAR is 25 dB down).
    _, ir, fs_in = raw
    mp = load_hrtf("default", int(fs_in), eq="none").min_phase[:710:50]
    h = ir[::50]
    e_mp = np.cumsum(mp ** 2, axis=-1)
    e_mp /= e_mp[..., -1:]
    e_h = np.cumsum(h ** 2, axis=-1)
    e_h /= e_h[..., -1:]
    k = min(e_mp.shape[-1], e_h.shape[-1])
    assert np.all(e_mp[..., :k] >= e_h[..., :k] - 2e-3)


# -- interpolation -------------------------------------------------------------------
def test_interpolation_returns_measurements_at_measured_directions(hrtf):
    irs, delays = hrtf.interpolate(hrtf.directions)
    assert np.max(np.abs(irs - hrtf.min_phase)) < 1e-9
    assert np.max(np.abs(delays - hrtf.delays_s)) < 1e-12


def test_interpolation_weights_are_a_partition_of_unity(hrtf):
    u = np.random.default_rng(3).standard_normal((5000, 3))
    idx, w = hrtf.weights_for(u)
    assert np.all(w >= 0)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-12)
    # barycentric: the weighted vertices point along the requested direction
    hit = np.einsum("nk,nkc->nc", w, hrtf.directions[idx])
    un = u / np.linalg.norm(u, axis=1, keepdims=True)
    assert np.max(np.linalg.norm(np.cross(hit, un), axis=1)) < 1e-9


def test_interpolation_is_continuous(hrtf):
    # Sweeps in 0.5 degree steps: around the horizon, across the unmeasured bottom
    # cap (below -40 degrees) and over the pole. The grid is 5-10 degrees, so a
    # 0.5 degree step moves each barycentric weight by at most ~0.1; measured worst
    # case 0.07 (over the top, where neighbours differ most). A switch between
    # facets would jump by ~1.
    paths = []
    az = np.arange(0.0, 360.01, 0.5)
    for el in (-80.0, -40.0, -5.0, 0.0, 3.0, 45.0, 87.0):
        paths.append(unit_vectors(az, np.full_like(az, el)))
    el = np.arange(-90.0, 90.01, 0.5)
    for a in (0.0, 90.0, 137.0, 180.0):
        paths.append(unit_vectors(np.full_like(el, a), el))
    for p in paths:
        irs, delays = hrtf.interpolate(p)
        step = np.linalg.norm(np.diff(irs, axis=0), axis=(1, 2))
        assert np.max(step / np.linalg.norm(irs[:-1], axis=(1, 2))) < 0.1
        # delays: Woodworth's slope is at most 2a/c per radian = 4.5 us per 0.5 degree
        assert np.max(np.abs(np.diff(delays, axis=0))) < 15e-6


# -- levels ----------------------------------------------------------------------------
def test_solid_angle_weights_follow_the_grid_geometry(hrtf):
    el = np.rad2deg(np.arcsin(hrtf.directions[:, 2]))
    assert abs(hrtf.weights.sum() - 1.0) < 1e-12
    # rings every 10 degrees: the 0-degree ring's cells span -5..5 degrees, a zone
    # of sin(5 deg) of the sphere; everything above spans 5..90 degrees
    assert abs(hrtf.weights[np.abs(el) < 0.5].sum() - np.sin(np.deg2rad(5))) < 2e-3
    assert abs(hrtf.weights[el > 0.5].sum() - (1 - np.sin(np.deg2rad(5))) / 2) < 2e-3


@pytest.mark.parametrize("fs", [44100, 48000])
def test_raw_mode_energy_is_one(fs):
    # eq 'none': the weighted mean energy over directions and ears is 1 at the set's
    # measured rate (44.1 kHz). The same magnitude response sampled at another rate
    # has energy mean_f |H|^2 over 0..fs, i.e. 44100 / fs of it (Parseval), so the
    # same sound gives the same ear signals at every rate. 0.3 %: truncation to
    # 99.9 % energy.
    h = load_hrtf("default", fs, eq="none")
    energy = np.einsum("m,mel->", h.weights, h.min_phase ** 2) / 2
    assert abs(energy * fs / 44100 - 1.0) < 3e-3
    # the rendered responses (delays included) carry the same energy
    assert abs(np.einsum("m,mel->", h.weights, h.hrirs ** 2) / 2 - energy) < 1e-6
    # Parseval: the mean diffuse power spectrum over the FFT circle is that energy
    p = h.diffuse_power(1024)
    circle = (p[:, 0] + p[:, -1] + 2 * p[:, 1:-1].sum(axis=1)) / 1024
    assert abs(circle.mean() - energy) < 2e-3


@pytest.mark.parametrize("fs", [44100, 96000])
def test_diffuse_field_power_is_flat(fs):
    # the default set is diffuse-field equalised: a diffuse field gives each ear the
    # power of an omnidirectional receiver (0 dB) in every third octave of the
    # measured bandwidth; 0.5 dB: the 1/3-octave smoothing of the equaliser, the
    # truncation; above the bandwidth (20 kHz) nothing is added (-40 dB)
    h = load_hrtf("default", fs)
    p = h.diffuse_power(8192)
    f = np.fft.rfftfreq(8192, 1 / fs)
    _, bands = third_octaves(p, f, 63, 16000)
    assert np.max(np.abs(10 * np.log10(bands))) < 0.5, 10 * np.log10(bands)
    above = p[:, f >= 20500]
    assert above.size == 0 or 10 * np.log10(above.max()) < -40


# -- diffuse field -----------------------------------------------------------------------
def test_diffuse_coherence_of_a_head(hrtf):
    rho = hrtf.diffuse_coherence(MODEL_FFT)
    f = np.fft.rfftfreq(MODEL_FFT, 1 / FS)
    # Coherent at low frequencies. The parametric model of Borss & Martin (2009),
    # sinc(f / 550 Hz) (1 - f / 2700 Hz), gives 0.83 at 150 Hz and 0.74 at 200 Hz:
    # every bin up to 150 Hz and the 0-200 Hz mean must exceed 0.8.
    assert np.all(rho[f <= 150] > 0.8)
    assert rho[f < 200].mean() > 0.8
    # decorrelated above about 1 kHz
    assert np.abs(rho[(f >= 1000) & (f <= 4000)]).mean() < 0.3
    assert np.all(np.abs(rho) <= 1.0)


@pytest.fixture(scope="module")
def tail(hrtf):
    rng = np.random.default_rng(7)
    noises = rng.standard_normal((2, 5 * FS))
    return noises, BinauralSpatialiser(hrtf).diffuse(noises)


def test_diffuse_tail_has_the_diffuse_field_coherence(hrtf, tail):
    _, out = tail
    f, pxy = signal.csd(out[0], out[1], fs=FS, nperseg=MODEL_FFT)
    _, pxx = signal.welch(out[0], fs=FS, nperseg=MODEL_FFT)
    _, pyy = signal.welch(out[1], fs=FS, nperseg=MODEL_FFT)
    _, measured = third_octaves(np.real(pxy) / np.sqrt(pxx * pyy), f, 200, 8000)
    _, target = third_octaves(hrtf.diffuse_coherence(MODEL_FFT), f, 200, 8000)
    # 0.15: ~460 Welch segments give a standard error ~0.05 per bin; the Hann
    # window smears the fast 200-500 Hz fall of rho a little
    assert np.max(np.abs(measured - target)) < 0.15, (measured, target)


def test_diffuse_tail_keeps_the_omni_power_spectrum(tail):
    noises, out = tail
    assert out.shape == noises.shape
    # a diffuse field gives each ear the power spectrum of an omnidirectional
    # receiver (diffuse-field equalisation) within the measured bandwidth; 1 dB per
    # third octave: the model's 1/3-octave smoothing and Welch's variance
    f, pin = signal.welch(noises, fs=FS, nperseg=4096)
    _, pout = signal.welch(out, fs=FS, nperseg=4096)
    _, ratio = third_octaves(pout / pin, f, 63, 16000)
    assert np.max(np.abs(10 * np.log10(ratio))) < 1.0, 10 * np.log10(ratio)


def test_diffuse_tail_does_not_wrap_around():
    # a burst at the very start of a long silent tail must stay at the start
    sp = BinauralSpatialiser(load_hrtf("default", FS))
    x = np.zeros((2, FS))
    x[:, :2000] = np.random.default_rng(1).standard_normal((2, 2000))
    y = sp.diffuse(x)
    peak = np.abs(y).max()
    assert np.abs(y[:, FS // 2:]).max() < 1e-6 * peak


def test_binaural_spatialiser_protocol(hrtf):
    sp = BinauralSpatialiser(hrtf)
    assert sp.channels == (Channel("L"), Channel("R"))
    assert sp.n_diffuse == 2
    irs, delays = sp.responses(unit_vectors([0, 90, -135], [0, 10, -60]))
    assert irs.shape == (3, 2, hrtf.min_phase.shape[-1]) and irs.dtype == np.float64
    assert delays.shape == (3, 2) and np.all(delays >= 0)
    # a left source is louder at the left ear
    assert np.sum(irs[1, 0] ** 2) > 4 * np.sum(irs[1, 1] ** 2)


# -- files ---------------------------------------------------------------------------------
def test_loading_is_cached():
    assert load_hrtf("default", FS) is load_hrtf(DEFAULT_HRTF, FS)


def test_cartesian_source_positions(tmp_path, hrtf):
    import sofar

    sofa = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    pos = sofa.SourcePosition
    sofa.SourcePosition = 1.4 * unit_vectors(pos[:, 0], pos[:, 1])
    sofa.SourcePosition_Type = "cartesian"
    sofa.SourcePosition_Units = "metre"
    sofar.write_sofa(str(tmp_path / "cart.sofa"), sofa)
    other = load_hrtf(tmp_path / "cart.sofa", FS)
    assert np.allclose(other.directions, hrtf.directions, atol=1e-12)


def _assert_names_file(err, path):
    assert str(path) in str(err.value) and "cannot read HRTF file" in str(err.value)
    assert "\n" not in str(err.value)


def test_corrupt_file_is_a_scene_error(tmp_path):
    bad = tmp_path / "x.sofa"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(SceneError) as err:
        load_hrtf(bad, FS)
    _assert_names_file(err, bad)


def test_missing_file_is_a_scene_error(tmp_path):
    with pytest.raises(SceneError) as err:
        load_hrtf(tmp_path / "nowhere.sofa", FS)
    _assert_names_file(err, tmp_path / "nowhere.sofa")


def test_wrong_convention_receivers_and_nan_are_scene_errors(tmp_path):
    import sofar

    sofar.write_sofa(str(tmp_path / "fir.sofa"), sofar.Sofa("GeneralFIR"))
    sofa = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    ir = sofa.Data_IR
    sofa.Data_IR = np.concatenate([ir, ir[:, :1]], axis=1)
    sofa.ReceiverPosition = np.zeros((3, 3, 1))
    sofa.Data_Delay = np.zeros((1, 3))
    sofar.write_sofa(str(tmp_path / "three.sofa"), sofa)
    sofa = sofar.read_sofa(str(DEFAULT_HRTF), verbose=False)
    sofa.Data_IR = np.where(np.arange(ir.shape[-1]) == 100, np.nan, ir)
    sofar.write_sofa(str(tmp_path / "nan.sofa"), sofa)
    for name, words in (("fir.sofa", "GeneralFIR"), ("three.sofa", "3 receivers"),
                        ("nan.sofa", "non-finite")):
        with pytest.raises(SceneError) as err:
            load_hrtf(tmp_path / name, FS)
        _assert_names_file(err, tmp_path / name)
        assert words in str(err.value)


def test_disk_cache_gives_the_same_set(tmp_path, monkeypatch):
    """A new process reads the processed set from disk; it must equal a fresh build."""
    from spatial.filters import hrtf as hrtf_module

    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(hrtf_module, "_CACHE", {})
    built = hrtf_module.load_hrtf("default", 32000)
    files = list((tmp_path / "cache").glob("hrtf-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(hrtf_module, "_CACHE", {})  # as in a new process
    cached = hrtf_module.load_hrtf("default", 32000)
    assert cached is not built
    for name in ("directions", "min_phase", "delays_s", "hrirs", "weights"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(built, name))
    assert cached.n_measured == built.n_measured == 710
    # the equalisation is part of the key: the raw set is another entry
    raw = hrtf_module.load_hrtf("default", 32000, eq="none")
    assert len(list((tmp_path / "cache").glob("hrtf-*.npz"))) == 2
    assert raw.eq == "none" and raw.min_phase.shape != built.min_phase.shape
    files[0].write_bytes(b"not an npz")  # a corrupt entry is rebuilt, not trusted
    monkeypatch.setattr(hrtf_module, "_CACHE", {})
    rebuilt = hrtf_module.load_hrtf("default", 32000)
    np.testing.assert_array_equal(rebuilt.min_phase, built.min_phase)


def test_processed_set_does_not_depend_on_blas_threads(tmp_path):
    """Same scene, same output, bit for bit: the processed set (which the disk cache
    then serves to every later render) is the same whether the process that built it
    ran BLAS on one thread or two (summation order differs between them)."""
    import os
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from spatial.filters.hrtf import load_hrtf\n"
            "h = load_hrtf('default', 48000)\n"
            "np.savez(sys.argv[1], min_phase=h.min_phase, delays=h.delays_s, hrirs=h.hrirs)\n")
    out = {}
    for threads in ("1", "2"):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads,
                   SPATIAL_CACHE_DIR=str(tmp_path / f"cache{threads}"))
        target = tmp_path / f"set{threads}.npz"
        subprocess.run([sys.executable, "-c", code, str(target)], env=env, check=True)
        out[threads] = np.load(target)
    for key in ("min_phase", "delays", "hrirs"):
        assert np.array_equal(out["1"][key], out["2"][key]), key


@pytest.mark.parametrize("fmt", ["binaural", "5.1", "foa", "mono"])
def test_direction_spectra_blend_to_the_responses(hrtf, fmt):
    """Every spatialiser gives the moving path blendable spectra: the blend of its
    direction_spectra is the spectrum of its responses (binaural: the measured
    min-phase spectra with the interpolation's weights, delays as interpolate's;
    other formats: their own responses, weight 1). Tolerance: complex64 spectra."""
    from scipy import fft

    from spatial.filters.speakers import make_spatialiser
    from spatial.scene.parts import Output

    sp = (BinauralSpatialiser(hrtf) if fmt == "binaural"
          else make_spatialiser(Output(format=fmt), FS))
    dirs = unit_vectors([0.0, 37.0, -120.0, 200.0], [0.0, 10.0, -30.0, 60.0])
    n_fft = 512
    S, rows, w, delays = sp.direction_spectra(dirs, n_fft)
    assert S.dtype == np.complex64 and S.shape[1:] == (len(sp.channels), n_fft // 2 + 1)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-12)
    irs, want_delays = sp.responses(dirs)
    blend = np.einsum("nj,njcf->ncf", w, S[rows])
    want = fft.rfft(irs, n=n_fft, axis=-1)
    np.testing.assert_allclose(blend, want, rtol=0, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(delays, want_delays, rtol=1e-12, atol=1e-15)
    if fmt == "binaural":  # the same stored spectra, computed once per n_fft
        assert sp.direction_spectra(dirs[:1], n_fft)[0] is S
