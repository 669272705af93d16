"""Moving sources, a moving and turning listener, Doppler (issue 9).

Physics and independent references: Doppler against f c / (c - v cos theta) at the
emission time; the delay-line kernel against its numpy twin and against exact
polynomial reads; ITD continuity of a circling source; equivalence of a circling
source and a counter-turning listener; clicks against the static render.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal
from scipy.optimize import brentq

import spatial
from spatial.engine.delay import lagrange4_reference, tap_delay_sum, tap_delay_sum_reference
from spatial.errors import SceneError
from spatial.geometry import SPEED_OF_SOUND as C
from spatial.scene.loader import load_scene
from spatial.scene.model import Scene
from spatial.scene.parts import Keyframe, Listener, Room, Source
from spatial.trajectory import Trajectory

import naive
from helpers import FS, noise_file


def tone_file(path: Path, seconds: float, freq: float = 1000.0, amp: float = 0.5) -> Path:
    t = np.arange(int(seconds * FS)) / FS
    sf.write(str(path), amp * np.sin(2 * np.pi * freq * t), FS, subtype="FLOAT")
    return path


def lowpassed_noise(path: Path, seconds: float, cutoff: float = 6000.0, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    sos = signal.butter(8, cutoff, fs=FS, output="sos")
    sf.write(str(path), 0.1 * signal.sosfilt(sos, rng.standard_normal(int(seconds * FS))), FS,
             subtype="FLOAT")
    return path


# -- the delay-line kernel -------------------------------------------------------------

@pytest.mark.parametrize("n_tap, n_grid, rows, step", [(1, 2, 1, 1), (3, 9, 4, 16),
                                                        (5, 33, 26, 32)])
def test_delay_kernel_equals_numpy_reference(n_tap, n_grid, rows, step):
    rng = np.random.default_rng(n_tap)
    buf = rng.standard_normal(4000)
    delays = rng.uniform(5.0, 1500.0, (n_tap, n_grid))
    gains = rng.uniform(-1.0, 1.0, (n_tap, n_grid, rows))
    gains[rng.uniform(size=gains.shape) < 0.5] = 0.0  # sparse rows, as panning gives
    out, ref = np.zeros((rows, (n_grid - 1) * step)), np.zeros((rows, (n_grid - 1) * step))
    tap_delay_sum(buf, 2000, delays, gains, step, out)
    tap_delay_sum_reference(buf, 2000, delays, gains, step, ref)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_delay_kernel_in_single_precision_equals_numpy_reference():
    """The render's virtual-direction feeds are float32 (gains and rows): the same reads
    as the double-precision twin to float32 rounding."""
    from spatial.engine.delay import lagrange4_coefficients, tap_delay_sum_coef

    rng = np.random.default_rng(7)
    buf = rng.standard_normal(9000)
    delays = rng.uniform(5.0, 1500.0, (6, 9)) + np.linspace(0.0, 40.0, 9)  # Doppler too
    gains = rng.uniform(0.0, 1.0, (6, 9, 26))
    gains[rng.uniform(size=gains.shape) < 0.7] = 0.0
    coef = np.zeros((4, buf.size))
    lagrange4_coefficients(buf, 1, buf.size - 2, coef)
    out = np.zeros((26, 8 * 512), np.float32)
    ref = np.zeros((26, 8 * 512))
    tap_delay_sum_coef(coef, 4000, delays, gains.astype(np.float32), 512, out)
    tap_delay_sum_reference(buf, 4000, delays, gains.astype(np.float32).astype(float), 512, ref)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("frozen", [-1.0, 0.004])
def test_direct_geometry_kernel_equals_numpy_steps(frozen):
    """Delays, gains and listener-frame directions of the direct path: the numba kernel
    against the same steps in numpy (world_to_head, 1 / r floored at 0.1 m)."""
    from spatial.engine.motion_kernels import direct_geometry
    from spatial.geometry import MIN_DISTANCE_M
    from spatial.geometry import world_to_head

    rng = np.random.default_rng(2)
    M = 33
    lis = rng.uniform(-3.0, 3.0, (M, 3))
    pos = lis + rng.uniform(-5.0, 5.0, (M, 3))
    pos[4] = lis[4]  # at the head: the front
    yaw = rng.uniform(-720.0, 720.0, M)
    tau = np.linalg.norm(pos - lis, axis=1) / C
    delays, gains, dirs = np.empty((1, M)), np.empty((1, M, 2)), np.empty((M, 3))
    direct_geometry(tau, pos, lis, yaw, frozen, 48000.0, 500.0, MIN_DISTANCE_M, C,
                    delays, gains, dirs)
    d = np.minimum((tau if frozen < 0 else np.full(M, frozen)) * 48000.0, 500.0)
    np.testing.assert_allclose(delays[0], d, rtol=1e-14)
    np.testing.assert_allclose(gains[0, :, 0], 1.0 / np.maximum(tau * C, MIN_DISTANCE_M),
                               rtol=1e-14)
    np.testing.assert_array_equal(gains[0, :, 1], 1.0)
    head = world_to_head(pos - lis, yaw)
    norm = np.linalg.norm(head, axis=1, keepdims=True)
    expected = np.where(norm > 1e-9, head / np.where(norm > 1e-9, norm, 1.0), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(dirs, expected, rtol=0, atol=1e-14)


def test_direct_spectra_kernel_equals_numpy_reference():
    """The fused direct-path kernel (blend of stored spectra x linear phase, summed over
    sources) against its numpy twin, and its blend against the FFT of the time-domain
    blend with the delay applied by shifting whole samples."""
    from spatial.engine.motion_kernels import direct_spectra, direct_spectra_reference

    rng = np.random.default_rng(5)
    L, K, C, J, Q, nf = 3, 4, 2, 3, 7, 64
    F = nf // 2 + 1
    x = rng.standard_normal((L, K, nf))
    irs = rng.standard_normal((Q, C, 16))
    X = np.fft.rfft(x, axis=-1).astype(np.complex64)
    S = np.fft.rfft(irs, n=nf, axis=-1).astype(np.complex64)
    idx = rng.integers(0, Q, (L, K, J))
    w = rng.uniform(0.0, 1.0, (L, K, J))
    delays = rng.uniform(0.0, 20.0, (L, K, C))
    out, ref = np.zeros((K, C, F), np.complex64), np.zeros((K, C, F), np.complex64)
    direct_spectra(X, S, idx, w, delays, nf, out)
    direct_spectra_reference(X, S, idx, w, delays, nf, ref)
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-6 * np.abs(ref).max())
    # integer delays: circular convolution of each frame with the blended, shifted IR
    d = np.round(delays)
    out[:] = 0.0
    direct_spectra(X, S, idx, w, d, nf, out)
    y = np.zeros((K, C, nf))
    for l in range(L):
        for k in range(K):
            h = np.einsum("j,jct->ct", w[l, k], irs[idx[l, k]])
            for c in range(C):
                hc = np.roll(np.r_[h[c], np.zeros(nf - 16)], int(d[l, k, c]))
                y[k, c] += np.real(np.fft.ifft(np.fft.fft(x[l, k]) * np.fft.fft(hc)))
    np.testing.assert_allclose(np.fft.irfft(out, n=nf, axis=-1), y, rtol=0,
                               atol=1e-5 * np.abs(y).max())


def test_hull_weights_kernel_equals_hrtf_weights_for(tmp_path):
    """The direct path's numba facet search gives HrtfSet.weights_for's measured
    directions and barycentric weights: along paths (the previous facet tried first),
    at random directions, and under the flat bottom cap (tied coplanar facets)."""
    from spatial.engine.motion_kernels import hull_weights
    from spatial.renderer import _spatialiser

    noise_file(tmp_path / "n.wav", 0.1)
    hrtf = _spatialiser(Scene(Listener((0.0, 0.0, 0.0)), (
        Source("n", tmp_path / "n.wav", (1.0, 0.0, 0.0)),))).hrtf
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 1.0, 200)[:, None]
    u = [a * (1 - t) + b * t for a, b in rng.standard_normal((30, 2, 3))]
    u += [rng.standard_normal((1000, 3)), np.c_[0.2 * rng.standard_normal((300, 2)),
                                                -np.ones(300)]]
    u = np.concatenate(u)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    idx, w = np.empty((len(u), 3), np.intp), np.empty((len(u), 3))
    hull_weights(u, *hrtf._hull, idx, w)
    ref_idx, ref_w = hrtf.weights_for(u)

    def dense(i, wt):  # weights over all directions: equal even if a tie picks another facet
        out = np.zeros((len(u), hrtf.directions.shape[0]))
        np.add.at(out, (np.arange(len(u))[:, None], i), wt)
        return out

    np.testing.assert_allclose(dense(idx, w), dense(ref_idx, ref_w), rtol=0, atol=1e-12)


@pytest.mark.parametrize("interpolation", ["spline", "linear", "static"])
def test_emission_kernel_equals_numpy_reference(interpolation):
    """The fused numba solve (spatial.engine.emission) gives emission_delay's delays and
    emission positions, for the source itself and for image sources."""
    from spatial.engine.emission import emission_solve
    from spatial.motion import emission_delay

    if interpolation == "static":
        tr = Trajectory([0.0], [[1.0, 2.0, 1.2]])
    else:
        tr = Trajectory([0, 1, 2, 3], [[1, 1, 1], [5, 2, 1], [6, 5, 2], [2, 2, 2]], None,
                        interpolation)
    t = np.linspace(-0.5, 3.5, 97)  # before, during and after the keyframes
    lis = np.c_[3 + 0.3 * t, 2 + 0.1 * t, np.full(t.size, 1.5)]
    dims = np.array([8.0, 6.0, 3.0])
    lattice = np.array([[1, 0, 0], [-1, 1, 0], [0, 0, -2], [2, 0, 0], [0, -1, -1]])
    odd = (lattice % 2) != 0
    for lat, base, sign in ((None, np.zeros((1, 3)), np.ones((1, 3))),
                            (lattice, lattice * dims + np.where(odd, dims, 0.0),
                             np.where(odd, -1.0, 1.0))):
        tau, pos = emission_delay(tr, t, lis, lat, None if lat is None else dims, tol=1e-13)
        got_tau, got_pos = np.empty(tau.shape), np.empty(pos.shape)
        x, c = tr.pieces()
        emission_solve(x, c, t, lis, base, sign, C, tr.moving, 1e-13, 20, got_tau, got_pos)
        np.testing.assert_allclose(got_tau, tau, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got_pos, pos, rtol=0, atol=1e-9)


@pytest.mark.parametrize("air, fade", [(True, 0.01), (False, 0.0)])
def test_image_weights_kernel_equals_numpy_reference(air, fade):
    """The fused numba gains and pan weights of image taps match the numpy steps."""
    from spatial.engine.emission import image_weights
    from spatial.motion import PAN_CUTOFF_DEG, VIRTUAL_DIRECTIONS
    from spatial.room.decay import air_absorption_coeffs

    rng = np.random.default_rng(3)
    n, m = 7, 9
    lis = rng.uniform(1.0, 3.0, (m, 3))
    pos = rng.uniform(-10.0, 10.0, (n, m, 3))
    pos[0, 0] = lis[0]  # an image at the head: the front
    tau = np.linalg.norm(pos - lis[None], axis=-1) / C
    tau[1, :] = np.linspace(0.0, 0.1, m)  # across the crossover's fade
    yaw = rng.uniform(-400.0, 400.0, m)
    gains = rng.uniform(0.0, 1.0, (n, 7))
    room = dataclasses.make_dataclass("R", [("crossover", float)])(0.05)
    k = air_absorption_coeffs() if air else None
    ref = naive.image_weights(tau, pos, lis, yaw, gains, k, room, fade)
    got = np.empty(ref.shape)
    image_weights(tau, pos, lis, yaw, gains, np.zeros(7) if k is None else k, 0.05, fade,
                  VIRTUAL_DIRECTIONS, float(np.cos(np.deg2rad(PAN_CUTOFF_DEG))), 0.1, C, got)
    assert np.count_nonzero(ref) > n * m  # panned onto several directions
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15 * np.abs(ref).max())


def test_lagrange_reads_cubics_exactly():
    """A 4-point Lagrange read is exact for a cubic signal, at any fractional position."""
    n = np.arange(200, dtype=float)
    buf = 1e-6 * (n - 50.0) ** 3 - 2e-4 * n ** 2 + 0.1 * n - 3.0
    p = np.random.default_rng(0).uniform(5.0, 190.0, 300)
    exact = 1e-6 * (p - 50.0) ** 3 - 2e-4 * p ** 2 + 0.1 * p - 3.0
    np.testing.assert_allclose(lagrange4_reference(buf, p), exact, rtol=0, atol=1e-9)
    out = np.zeros((1, 64))
    tap_delay_sum(buf, 100, np.array([[10.25, 30.75]]), np.ones((1, 2, 1)), 64, out)
    d = 10.25 + (30.75 - 10.25) * np.arange(64) / 64
    q = 100 + np.arange(64) - d
    np.testing.assert_allclose(out[0], 1e-6 * (q - 50) ** 3 - 2e-4 * q ** 2 + 0.1 * q - 3.0,
                               rtol=0, atol=1e-9)


# -- trajectories --------------------------------------------------------------------

def test_trajectory_linear_spline_hold_and_yaw_as_written():
    tr = Trajectory([1.0, 3.0], [(0, 0, 0), (4, 2, 0)], [0.0, -360.0], "linear")
    np.testing.assert_allclose(tr.position([0.0, 2.0, 9.0]), [[0, 0, 0], [2, 1, 0], [4, 2, 0]])
    np.testing.assert_allclose(tr.yaw([2.0, 2.5, 5.0]), [-180.0, -270.0, -360.0])  # not wrapped
    keys = [(0, 0, 1), (1, 2, 1), (2, 2.2, 1), (3, 5, 1)]
    sp = Trajectory([0, 1, 2, 3], keys, interpolation="spline")
    np.testing.assert_allclose(sp.position([0, 1, 2, 3]), keys, atol=1e-12)
    x = sp.position(np.linspace(0, 3, 301))[:, 1]
    assert np.all(np.diff(x) >= -1e-12)  # monotone keyframes: no overshoot
    assert not Trajectory.static((1, 2, 3)).moving


# -- scene keys ------------------------------------------------------------------------

SCENE = """\
room: {{dimensions: [8, 6, 3], rt60: 0.4}}
listener: {listener}
sources:
  - name: a
    file: a.wav
    {source}
"""


def _load(tmp_path, source, listener="{position: [4, 3, 1.6]}"):
    sf.write(str(tmp_path / "a.wav"), np.zeros(4800), FS)
    path = tmp_path / "s.yaml"
    path.write_text(SCENE.format(source=source, listener=listener))
    return load_scene(path)


@pytest.mark.parametrize("source, key, text", [
    ("path: [{t: 0, position: [1, 1, 1]}, {t: 2, position: [2, 2, 1]}, "
     "{t: 2, position: [3, 2, 1]}]", "sources[0].path[2].t", "increase strictly"),
    ("path: [{t: 0, position: [1, 1, 1]}, {t: 1, position: [9, 2, 1]}]",
     "sources[0].path[1].position", "outside the room"),
    ("path: [{t: soon, position: [1, 1, 1]}]", "sources[0].path[0].t", "expected a number"),
    ("{position: [1, 1, 1], path: [{t: 0, position: [1, 1, 1]}]}", "sources[0].path",
     "either position or path"),
    ("path: [{t: 0, position: [1, 1, 1], yaw: 3}]", "sources[0].path[0].yaw", "unknown key"),
    ("path: [{t: 0, position: [1, 1, 1]}]\n    interpolation: cubic",
     "sources[0].interpolation", "unknown interpolation"),
    ("path: []", "sources[0].path", "list of keyframes"),
])
def test_bad_paths_name_the_keyframe(tmp_path, source, key, text):
    if source.startswith("{"):
        source = "position: [1, 1, 1]\n    path: [{t: 0, position: [1, 1, 1]}]"
    with pytest.raises(SceneError) as info:
        _load(tmp_path, source)
    lines = str(info.value).splitlines()
    assert any(f"{key}: " in line and text in line for line in lines), lines
    assert all(line.startswith(str(tmp_path / "s.yaml")) for line in lines)


def test_listener_path_keys(tmp_path):
    with pytest.raises(SceneError, match=r"listener.path\[1\].t: keyframe times"):
        _load(tmp_path, "position: [1, 1, 1]",
              "{path: [{t: 1, position: [4, 3, 1.6]}, {t: 0.5, position: [4, 3, 1.6]}]}")
    scene = _load(tmp_path, "position: [1, 1, 1]",
                  "{path: [{t: 0, position: [4, 3, 1.6], yaw: 0}, "
                  "{t: 2, position: [4, 3, 1.6], yaw: -360}], interpolation: linear}")
    assert scene.listener.path[1].yaw == -360.0 and scene.listener.position is None


def test_one_keyframe_is_a_static_position(tmp_path):
    noise_file(tmp_path / "n.wav", 0.3)
    room = Room((8.0, 6.0, 3.0), rt60=0.4)
    static = Scene(Listener((4.0, 3.0, 1.6)), (Source("a", tmp_path / "n.wav", (1.0, 2.0, 1.5)),),
                   room=room)
    one = dataclasses.replace(static, sources=(Source("a", tmp_path / "n.wav", path=(
        Keyframe(0.5, (1.0, 2.0, 1.5)),)),))
    a, b = spatial.render(static), spatial.render(one)
    assert b.stats["moving_sources"] == 0 and b.stats["control_rate_hz"] is None
    np.testing.assert_array_equal(a.audio, b.audio)


# -- Doppler ---------------------------------------------------------------------------

V, F0 = 20.0, 1000.0  # m/s, Hz: a tone passing the listener
PASS = dict(x0=-60.0, y=2.0, seconds=6.0)


def _passing_scene(tmp_path, doppler=True) -> Scene:
    tone_file(tmp_path / "tone.wav", PASS["seconds"])
    x0, y, s = PASS["x0"], PASS["y"], PASS["seconds"]
    path = (Keyframe(0.0, (x0, y, 0.0)), Keyframe(s, (x0 + V * s, y, 0.0)))
    return Scene(Listener((0.0, 0.0, 0.0)), (Source("car", tmp_path / "tone.wav", path=path,
                                                    interpolation="linear", doppler=doppler),))


def _frequency(x: np.ndarray, t: float, window: float = 0.1) -> float:
    """Mean frequency over [t - w/2, t + w/2]: slope of the analytic signal's unwrapped
    phase (least squares), the Hilbert transform taken over a wider span."""
    n0, n1 = int((t - window / 2) * FS), int((t + window / 2) * FS)
    pad = 4800
    phase = np.unwrap(np.angle(signal.hilbert(x[n0 - pad:n1 + pad])))[pad:-pad]
    return np.polyfit(np.arange(n0, n1) / FS, phase, 1)[0] / (2 * np.pi)


def _emission(t: float) -> tuple[float, float]:
    """Emission time t_e and cos theta there (theta: velocity vs the line to the listener)."""
    x0, y = PASS["x0"], PASS["y"]
    te = brentq(lambda te: np.hypot(x0 + V * te, y) - C * (t - te), t - 1.0, t)
    pos = np.array([x0 + V * te, y])
    return te, float(-pos[0] / np.linalg.norm(pos))


def test_doppler_matches_physics_at_the_emission_time(tmp_path):
    out = spatial.render(_passing_scene(tmp_path)).audio[:, 0].astype(float)
    for t in (1.5, 4.5):  # approaching, receding (the source passes at t = 3 + ~0.006 s)
        te, cos = _emission(t)
        expected = F0 * C / (C - V * cos)
        # what a delay taken from the distance at the arrival time would give:
        # f (1 - d/dt |x(t) - x_lis| / c), first order in v / c (0.3 % off here)
        x = PASS["x0"] + V * t
        arrival = F0 * (1.0 - V * x / np.hypot(x, PASS["y"]) / C)
        assert abs(arrival - expected) / expected > 2e-3  # this test tells them apart
        measured = _frequency(out, t)
        assert abs(measured - expected) / expected < 1e-3, (t, measured, expected)
        # the emission-time solution does much better than the tolerance (~1e-5 measured)
        assert abs(measured - expected) / expected < 1e-4, (t, measured, expected)


def test_doppler_off_keeps_the_pitch(tmp_path):
    out = spatial.render(_passing_scene(tmp_path, doppler=False)).audio[:, 0].astype(float)
    for t in (1.5, 4.5):
        assert abs(_frequency(out, t) - F0) / F0 < 1e-3


# -- a circling source, a turning listener ---------------------------------------------

CIRCLE_S, RADIUS, AZ0 = 18.0, 2.0, 45.0  # one turn in 18 s: 2 degrees per 100 ms frame


def _circle(start_deg: float, turns: float, seconds: float, step_deg: float = 0.5):
    n = int(round(abs(turns) * 360 / step_deg))
    t = np.linspace(0.0, seconds, n + 1)
    az = np.deg2rad(start_deg + np.linspace(0.0, 360.0 * turns, n + 1))
    return t, np.stack([RADIUS * np.cos(az), RADIUS * np.sin(az), np.zeros_like(az)], 1)


def _itd_frames(ears: np.ndarray, frame: float = 0.1) -> np.ndarray:
    """ITD (s, > 0: the left ear leads) per frame: peak of the cross-correlation of the
    ears low-passed at 1.5 kHz, lags within +-1 ms, refined by a parabola."""
    sos = signal.butter(4, 1500.0, fs=FS, output="sos")
    low = signal.sosfiltfilt(sos, ears.astype(float), axis=0)
    n, lag = int(frame * FS), int(0.001 * FS)
    out = []
    for k in range(1, int(len(low) / n) - 1):
        seg_l, seg_r = low[k * n:(k + 1) * n, 0], low[k * n - lag:(k + 1) * n + lag, 1]
        cc = signal.correlate(seg_r, seg_l, mode="valid")  # index j: right lags by j - lag
        j = int(np.argmax(cc))
        if 0 < j < cc.size - 1:
            a, b, c = cc[j - 1], cc[j], cc[j + 1]
            j = j + 0.5 * (a - c) / (a - 2 * b + c)
        out.append((j - lag) / FS)
    return np.array(out)


def _grid_itd_step(scene) -> float:
    """Largest ITD difference between neighbouring measured horizontal directions of
    the HRTF set: the jump a renderer snapping to the measured grid would make."""
    from spatial.renderer import _spatialiser

    hrtf = _spatialiser(scene).hrtf
    d = hrtf.directions[:hrtf.n_measured]
    flat = np.abs(d[:, 2]) < 1e-3
    az = np.degrees(np.arctan2(d[flat, 1], d[flat, 0]))
    itd = (hrtf.delays_s[:hrtf.n_measured][flat, 1] - hrtf.delays_s[:hrtf.n_measured][flat, 0])
    order = np.argsort(az)
    return float(np.max(np.abs(np.diff(itd[order]))))


@pytest.fixture(scope="module")
def circling(tmp_path_factory):
    folder = tmp_path_factory.mktemp("circle")
    lowpassed_noise(folder / "noise.wav", CIRCLE_S)
    t, pos = _circle(AZ0, 1.0, CIRCLE_S)
    path = tuple(Keyframe(float(a), tuple(p)) for a, p in zip(t, pos))
    moving = Scene(Listener((0.0, 0.0, 0.0)), (Source("n", folder / "noise.wav", path=path,
                                                      interpolation="linear"),))
    # the same relative motion: the source still, the listener turning the other way.
    # The circling source is heard where it was r / c earlier (emission time), so the
    # head turns that much later: then the directions heard agree at every instant
    start = tuple(_circle(AZ0, 0.0, 1.0)[1][0])
    lag = RADIUS / C
    turning = Scene(Listener(None, 0.0, path=tuple(
        Keyframe(float(a) + lag, (0.0, 0.0, 0.0), -360.0 * a / CIRCLE_S) for a in t),
        interpolation="linear"), (Source("n", folder / "noise.wav", start),))
    return moving, spatial.render(moving), spatial.render(turning)


def test_circling_source_itd_changes_side_twice_and_continuously(circling):
    scene, moving, _ = circling
    assert moving.stats["moving_sources"] == 1 and moving.stats["control_rate_hz"] == FS / 512
    itd = _itd_frames(moving.audio[:int(CIRCLE_S * FS)])
    sides = np.sign(itd[np.abs(itd) > 5e-5])  # frames clearly on one side
    assert np.count_nonzero(np.diff(sides)) == 2  # left -> right -> left
    assert itd.max() > 4e-4 and itd.min() < -4e-4  # it really went round
    step = _grid_itd_step(scene)
    # continuous: no jump between 100 ms frames beyond the static grid's own step
    # (52 us between KEMAR's 5-degree horizontal neighbours; 2 degrees per frame here)
    assert np.max(np.abs(np.diff(itd))) <= step, (np.max(np.abs(np.diff(itd))), step)


def test_turning_listener_hears_what_a_circling_source_gives(circling):
    _, moving, turning = circling
    a, b = moving.audio.astype(float), turning.audio.astype(float)
    n = min(len(a), len(b))
    err = np.sqrt(np.mean((a[:n] - b[:n]) ** 2, axis=0) / np.mean(a[:n] ** 2, axis=0))
    # the source's path is a polygon with 0.5-degree sides (its distance dips by 19 um
    # between keyframes, 0.06 us of delay): the ears agree to -50 dB
    assert np.all(err < 0.003), err  # measured 0.08 %


# -- no clicks ---------------------------------------------------------------------------

def _transient_frames(audio: np.ndarray) -> np.ndarray:
    """The click detector: the left ear high-passed at 8 kHz (4th-order Butterworth,
    zero phase), energy in 5 ms frames, relative to the median full-band frame energy.
    A 1 kHz tone (even Doppler-shifted) has nothing up there; a click or a zipper
    does. Returns that ratio per frame."""
    x = audio[:, 0].astype(float)
    hp = signal.sosfiltfilt(signal.butter(4, 8000.0, "highpass", fs=FS, output="sos"), x)
    n = int(0.005 * FS)
    k = len(x) // n
    full = np.sum(x[:k * n].reshape(k, n) ** 2, axis=1)
    high = np.sum(hp[:k * n].reshape(k, n) ** 2, axis=1)
    return high / np.median(full[full > 0])


CLICK = 1e-6  # a frame is a transient when its energy above 8 kHz is within 60 dB of the tone


def test_fast_motion_in_a_reverberant_room_adds_no_clicks(tmp_path, monkeypatch):
    tone_file(tmp_path / "tone.wav", 3.0, amp=0.3)
    keys = ((0.2, (1.0, 1.0, 1.2)), (0.9, (7.0, 2.0, 1.8)), (1.6, (6.5, 5.2, 1.2)),
            (2.3, (1.2, 4.8, 2.0)), (2.9, (3.0, 1.5, 1.5)))  # up to 13 m/s, turning
    moving = Scene(Listener((4.0, 3.0, 1.6)), (Source("t", tmp_path / "tone.wav", path=tuple(
        Keyframe(a, p) for a, p in keys)),), room=Room((8.0, 6.0, 3.0), rt60=0.6))
    static = dataclasses.replace(moving, sources=(Source("t", tmp_path / "tone.wav",
                                                         (1.0, 1.0, 1.2)),))
    still = _transient_frames(spatial.render(static).audio)  # the tone's own on/offsets
    moved = _transient_frames(spatial.render(moving).audio)
    assert np.count_nonzero(moved > CLICK) <= np.count_nonzero(still > CLICK)  # 6 and 6
    assert moved.max() <= 2 * still.max()
    # the detector does see clicks: the same motion with filters switched abruptly at
    # every control step (no crossfade) flags dozens of frames (57 measured)
    import spatial.motion_render as mr

    init = mr.MotionProcessor.__init__

    def abrupt(self, *args, **kw):
        init(self, *args, **kw)
        self.ramp = (self.ramp > 0.5).astype(float)

    monkeypatch.setattr(mr.MotionProcessor, "__init__", abrupt)
    switched = _transient_frames(spatial.render(moving).audio)
    assert np.count_nonzero(switched > CLICK) > 3 * np.count_nonzero(still > CLICK)


def test_stats_and_summary_line(tmp_path):
    scene = _passing_scene(tmp_path)
    scene = dataclasses.replace(scene, duration=0.5)
    out = spatial.render(scene)
    assert out.stats["moving_sources"] == 1
    assert out.stats["control_rate_hz"] == pytest.approx(FS / 512)
    from spatial.cli import _moving

    assert _moving(out.stats) == ", 1 moving source (filters updated at 93.8 Hz)"


def test_moving_path_of_a_still_source_matches_the_static_filters(tmp_path):
    """Two identical keyframes take the moving path: free field, it must equal the
    static render (same HRTF, 1/r, delay; the delay line's 4-point Lagrange read
    differs from the static 32-tap windowed sinc only near Nyquist: content < 6 kHz)."""
    lowpassed_noise(tmp_path / "n.wav", 1.0)
    p = (1.0, 1.5, 0.3)
    static = Scene(Listener((0.0, 0.0, 0.0), 30.0), (Source("n", tmp_path / "n.wav", p),))
    still = dataclasses.replace(static, sources=(Source("n", tmp_path / "n.wav", path=(
        Keyframe(0.0, p), Keyframe(1.0, p))),))
    ra, rb = spatial.render(static), spatial.render(still)
    assert rb.stats["moving_sources"] == 1 and ra.stats["moving_sources"] == 0
    a, b = ra.audio, rb.audio
    n = min(len(a), len(b))
    err = np.sqrt(np.mean((a[:n] - b[:n]) ** 2) / np.mean(a[:n] ** 2))
    assert err < 0.01, err  # -40 dB (measured -53 dB)


def test_impulse_response_of_a_moving_source_is_the_one_where_it_starts(tmp_path):
    noise_file(tmp_path / "n.wav", 0.2)
    room = Room((8.0, 6.0, 3.0), rt60=0.4)
    path = (Keyframe(1.0, (1.0, 2.0, 1.5)), Keyframe(3.0, (6.0, 2.0, 1.5)))
    moving = Scene(Listener((4.0, 3.0, 1.6)), (Source("a", tmp_path / "n.wav", path=path,
                                                      start=2.0),), room=room)
    static = dataclasses.replace(moving, sources=(Source("a", tmp_path / "n.wav",
                                                         (3.5, 2.0, 1.5), start=2.0),))
    a = spatial.impulse_response(moving, "a").audio
    b = spatial.impulse_response(static, "a").audio
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.abs(b).max())


def test_moving_source_in_a_mix_with_buses(tmp_path):
    """A moving source on one bus, a static one on another: every bus's loop runs the
    same blocks (the moving path lives in the loop of its own bus)."""
    from spatial.scene.parts import Mix

    noise_file(tmp_path / "a.wav", 0.5)
    noise_file(tmp_path / "b.wav", 0.5, seed=2)
    path = (Keyframe(0.0, (1.0, 1.0, 1.5)), Keyframe(0.5, (6.0, 2.0, 1.5)))
    scene = Scene(Listener((4.0, 3.0, 1.6)), (
        Source("a", tmp_path / "a.wav", path=path, role="effects"),
        Source("b", tmp_path / "b.wav", (2.0, 4.0, 1.5), role="dialogue")),
        room=Room((8.0, 6.0, 3.0), rt60=0.4), mix=Mix(buses={"effects": -6.0}))
    plain = dataclasses.replace(scene, mix=Mix())
    mixed, alone = spatial.render(scene), spatial.render(plain)
    assert mixed.stats["moving_sources"] == 1 and mixed.audio.shape == alone.audio.shape
    assert np.all(np.isfinite(mixed.audio))
    # the effects bus 6 dB down: the mix is quieter than the plain render, not silent
    assert 0.3 < np.sqrt(np.mean(mixed.audio ** 2) / np.mean(alone.audio ** 2)) < 1.0
