"""Start-up of the command (issue 8): a static render imports neither scipy.signal
(nor the scipy.stats it drags in) nor pyroomacoustics, ~1.1 s of imports between
them, nor scipy.ndimage, nor scipy.spatial (the disk caches keep the convex hulls
of the HRTF directions and of the speaker layouts), nor matplotlib (`spatial plot` only). Checked on the real command in a subprocess, with python -X
importtime (every module imported, nested ones included, is listed on stderr).
The numpy stand-ins for the scipy.ndimage filters are checked against them here."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spatial.filters import vbap
from spatial.filters.layouts import get_layout
from spatial.dsp.loudness import window_max
from spatial.room.late import moving_mean
from spatial.scene.parts import Output

ROOT = Path(__file__).resolve().parents[1]
HEAVY = re.compile(r"\|\s*(scipy\.signal|scipy\.stats|pyroomacoustics|scipy\.ndimage|"
                   r"scipy\.spatial|matplotlib)(\.|\s*$)", re.M)
MOVING = re.compile(r"\|\s*(spatial\.engine\.(?:motion_kernels|emission|delay)|"
                    r"spatial\.motion_render|spatial\.mix\.limiter)\s*$", re.M)


@pytest.mark.parametrize("fmt", ["binaural", "5.1"])
def test_static_render_does_not_import_heavy_modules(tmp_path, fmt):
    out = tmp_path / "demo.wav"
    args = ["-m", "spatial", "render", str(ROOT / "scenes" / "demo.yaml"), "--format", fmt,
            "-o", str(out), "-q"]
    # a first render fills the disk caches (HRTF set, numba kernels): the second is the
    # command as it starts up every other time
    first = subprocess.run([sys.executable, *args], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    out.unlink()
    r = subprocess.run([sys.executable, "-X", "importtime", *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.exists()
    assert "import time:" in r.stderr  # the check below looks at a real import log
    heavy = sorted({m.group(1) for m in HEAVY.finditer(r.stderr)})
    assert heavy == [], f"a static render imported {heavy}"
    # nor the moving path's numba kernels (nor the limiter: the demo sets no true peak):
    # their modules are not imported, so nothing of theirs is compiled or loaded
    unused = sorted({m.group(1) for m in MOVING.finditer(r.stderr)})
    assert unused == [], f"a static render imported {unused}"


@pytest.mark.parametrize("width", [1, 2, 3, 5, 64, 480, 3072])
@pytest.mark.parametrize("n", [3072, 7001])
def test_moving_mean_is_uniform_filter1d(width, n):
    from scipy.ndimage import uniform_filter1d

    x = np.random.default_rng(width + n).standard_normal((2, n)) ** 2
    want = uniform_filter1d(x, width, axis=-1, mode="reflect")
    assert np.max(np.abs(moving_mean(x, width) - want)) <= 1e-12 * np.max(want)
    if width <= 8:  # physics: a constant stays constant, a step is smoothed over width
        assert np.allclose(moving_mean(np.full((1, 50), 2.0), width), 2.0)


def test_moving_mean_wider_than_the_signal():
    from scipy.ndimage import uniform_filter1d

    x = np.arange(10.0)[None, :]
    assert np.allclose(moving_mean(x, 31), uniform_filter1d(x, 31, axis=-1, mode="reflect"))


@pytest.mark.parametrize("taps", [1, 2, 5, 32, 33])
def test_window_max_is_maximum_filter1d(taps):
    from scipy.ndimage import maximum_filter1d

    m = np.random.default_rng(taps).standard_normal(8225).astype(np.float32)
    n = m.size - taps + 1
    want = maximum_filter1d(m, size=taps, origin=-(taps // 2))[:n]
    got = window_max(m, taps)
    assert got.dtype == m.dtype and np.array_equal(got, want)
    assert np.array_equal(got, [m[j:j + taps].max() for j in range(n)])  # the definition


@pytest.mark.parametrize("fmt", ["stereo", "5.1", "7.1.4"])
def test_vbap_hull_cache_gives_qhull_arrays(tmp_path, monkeypatch, fmt):
    from scipy.spatial import ConvexHull

    monkeypatch.setenv("SPATIAL_CACHE_DIR", str(tmp_path))
    layout = get_layout(Output(format=fmt))
    cold = vbap.VbapPanner(layout)  # computes and stores the hull
    assert len(list(tmp_path.glob("vbap-hull-*.npz"))) == 1
    warm = vbap.VbapPanner(layout)  # reads it
    d = np.random.default_rng(1).standard_normal((2000, 3))
    assert np.array_equal(cold.real_gains(d), warm.real_gains(d))
    file = next(tmp_path.glob("vbap-hull-*.npz"))
    pts = None
    for candidate in [warm.points[:k] for k in range(4, len(warm.points) + 1)]:
        if vbap._hull_file(candidate) == file:  # the points the hull was built over
            pts = candidate
    assert pts is not None
    q = ConvexHull(pts)
    cached = vbap._hull(pts)
    assert np.array_equal(cached.simplices, q.simplices)
    assert np.array_equal(cached.equations, q.equations)
    file.write_bytes(b"not an npz")  # a broken entry is recomputed, not an error
    assert np.array_equal(vbap.VbapPanner(layout).real_gains(d), cold.real_gains(d))
