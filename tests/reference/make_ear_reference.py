"""Make tests/data/ear_reference.npz: the EBU ADM Renderer's numbers that
tests/test_panning.py compares spatial's layouts and VBAP against.

    python tests/reference/make_ear_reference.py           # (re)write the file
    python tests/reference/make_ear_reference.py --check   # compare the file with ear, live

Why a data file: ``ear`` (the EBU ADM Renderer, the independent reference
implementation of ITU-R BS.2127) pins numpy below 2, so it cannot be a test
dependency without downgrading a user's numpy. Its numbers are computed once
here, in a separate environment, and stored. Needs only numpy and ear; it does
not import spatial, so nothing of ours goes into the reference. Re-run it when
``ear`` is importable, e.g.

    python3 -m venv /tmp/earvenv && /tmp/earvenv/bin/pip install ear 'numpy<2'
    /tmp/earvenv/bin/python tests/reference/make_ear_reference.py

What is stored (everything tests/test_panning.py used to take from ear, at the
same resolution):

- ``layout_<bs2051>_{names,azimuth,elevation,is_lfe}``: the channels of the
  BS.2051 layouts 0+2+0, 0+5+0, 0+7+0, 4+5+0 and 4+7+0 with their nominal
  positions (degrees), in EAR's channel order, LFE included;
- ``<set>_dirs``: unit direction vectors in spatial's frame (x front, y left,
  z up): ``sphere`` is a 400-point Fibonacci sphere; ``grid_<bs2051>`` the
  azimuths -180..180 in 15 degree steps at the elevations of the energy-vector
  test (0 for 0+5+0 and 0+7+0; 0, 10, 20, 30, -30, 45, 60, 90 for 4+5+0 and
  4+7+0);
- ``gains_<set>_<bs2051>``: EAR's point-source panner gains
  (``point_source.configure(layout.without_lfe).handle``) for those
  directions, one column per channel of ``names_<bs2051>`` (EAR's order,
  without the LFE). EAR's Cartesian frame has x to the right and y to the
  front, so a direction (x, y, z) of ours is handed to EAR as (-y, x, z).

How it was checked: made with ear 2.1.0 (numpy 1.26.4, scipy 1.17.1, Python
3.11) in a separate venv; ``--check`` then recomputed every array with ear and
found them identical (max difference 0); tests/test_panning.py, run with no ear
installed, passes against this file (spatial's gains equal these to < 1e-9),
and fails if any stored gain is changed by 1e-6; in the ear venv the earlier
tests/test_panning.py, which called ear live (commit 75dcfda), passes too
(61 tests, with this file's 62).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "ear_reference.npz"
LAYOUTS = ("0+2+0", "0+5+0", "0+7+0", "4+5+0", "4+7+0")
PANNED = ("0+5+0", "0+7+0", "4+5+0", "4+7+0")  # the layouts whose gains the tests compare
AZIMUTHS = np.arange(-180.0, 181.0, 15.0)
HEIGHTS = (0.0, 10.0, 20.0, 30.0, -30.0, 45.0, 60.0, 90.0)  # the rings' span, then beyond
GRID_ELEVATIONS = {"0+5+0": (0.0,), "0+7+0": (0.0,), "4+5+0": HEIGHTS, "4+7+0": HEIGHTS}
SPHERE_POINTS = 400


def unit_vectors(azimuth_deg, elevation_deg) -> np.ndarray:
    """Degrees (azimuth counter-clockwise from the front, x) -> (N, 3) unit vectors."""
    az = np.deg2rad(np.asarray(azimuth_deg, float))
    el = np.deg2rad(np.asarray(elevation_deg, float))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=1)


def grid(azimuths, elevations) -> np.ndarray:
    az, el = np.meshgrid(np.asarray(azimuths, float), np.asarray(elevations, float))
    return unit_vectors(az.ravel(), el.ravel())


def fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0 ** 0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def compute() -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # attrs warns about newer interpreters on import
        from ear.core import bs2051, point_source

    data: dict[str, np.ndarray] = {"ear_version": np.array(version("ear")),
                                   "sphere_dirs": fibonacci_sphere(SPHERE_POINTS)}
    for name in LAYOUTS:
        layout = bs2051.get_layout(name)
        data[f"layout_{name}_names"] = np.array(layout.channel_names)
        data[f"layout_{name}_azimuth"] = np.array(
            [c.polar_nominal_position.azimuth for c in layout.channels], float)
        data[f"layout_{name}_elevation"] = np.array(
            [c.polar_nominal_position.elevation for c in layout.channels], float)
        data[f"layout_{name}_is_lfe"] = np.array([c.is_lfe for c in layout.channels])
    for name in PANNED:
        speakers = bs2051.get_layout(name).without_lfe
        panner = point_source.configure(speakers)
        data[f"names_{name}"] = np.array(speakers.channel_names)
        data[f"grid_{name}_dirs"] = grid(AZIMUTHS, GRID_ELEVATIONS[name])
        for which in ("sphere", f"grid_{name}"):
            dirs = data[f"{which}_dirs"]
            data[f"gains_{which.split('_')[0]}_{name}"] = np.array(
                [panner.handle(np.array([-d[1], d[0], d[2]])) for d in dirs], float)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the stored file with ear instead of writing it")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = compute()
    if not args.check:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(args.out, **data)
        print(f"wrote {args.out} ({args.out.stat().st_size} bytes, ear {data['ear_version']}, "
              f"numpy {np.__version__})")
        return 0
    stored = dict(np.load(args.out))
    if sorted(stored) != sorted(data):
        print(f"different arrays: stored {sorted(stored)}, computed {sorted(data)}")
        return 1
    worst = 0.0
    for key, value in data.items():
        if value.dtype.kind == "f":
            worst = max(worst, float(np.abs(value - stored[key]).max()))
        elif not np.array_equal(value, stored[key]):
            print(f"{key}: stored {stored[key]} != ear's {value}")
            return 1
    print(f"{args.out}: stored with ear {stored['ear_version']}, checked against ear "
          f"{data['ear_version']}: max difference {worst:g}")
    return 0 if worst <= 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
