"""Make tests/data/spaudiopy_magls.npz: an independent MagLS decoder (spaudiopy's
``decoder.magls_bin``) that tests/test_decode.py decodes spatial's own ambisonic
renders with, beside spatial's decoder.

    python3 -m venv /tmp/spavenv
    /tmp/spavenv/bin/pip install spaudiopy sofar 'scipy<1.17'
    /tmp/spavenv/bin/python tests/reference/make_spaudiopy_reference.py

Why a data file: spaudiopy 0.2.0 installs beside numpy 2, but it calls
scipy.special.sph_harm, which scipy 1.17 removed (so it needs scipy < 1.17,
here 1.16.3), and it brings resampy, h5py and sounddevice; its filters are
computed once here and stored (78 kB). The script does not import spatial: it
reads the packaged SOFA file with sofar, and the AmbiX convention it converts
to is written out below from its definition.

What it does, per order N = 1, 2, 3:

1. the raw MIT KEMAR measurements (44.1 kHz, 710 directions) resampled to
   48 kHz (scipy.signal.resample_poly 160/147): spaudiopy's
   ``sig.HRIRs``; no bottom cap, no equalisation (the issue's "raw set");
2. ``spaudiopy.decoder.magls_bin(hrirs, N)`` with its defaults (transition at
   N * 600 Hz, phase continuation ``hf_cont='avg'``): (2, (N+1)^2, L) filters
   for spaudiopy's real N3D ACN spherical harmonics;
3. converted to AmbiX input (ACN, SN3D, no Condon-Shortley phase): per ACN
   channel i, spaudiopy's harmonic is c_i times the AmbiX one (c_i fitted over
   500 directions, the fit checked to be exact to 1e-9), so the AmbiX filters
   are c_i times spaudiopy's; stored as ``filters_<N>`` (C, 2, L) float32:
   ear e = sum_c conv(b_c, filters[c, e]).

Also stored: ``fs`` (48000) and ``version`` (spaudiopy's).
"""
from __future__ import annotations

from importlib.metadata import version
from math import factorial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SOFA = ROOT / "spatial" / "data" / "hrtf" / "MIT_KEMAR_normal_pinna.sofa"
OUT = ROOT / "tests" / "data" / "spaudiopy_magls.npz"
FS = 48000


def ambix(order: int, azi: np.ndarray, zen: np.ndarray) -> np.ndarray:
    """AmbiX SN3D real harmonics (Q, (order+1)^2) from the definition:
    N_n^|m| P_n^|m|(cos zen) (cos m azi | sin |m| azi), no Condon-Shortley phase."""
    from scipy.special import lpmv

    cols = []
    for n in range(order + 1):
        for m in range(-n, n + 1):
            am = abs(m)
            norm = np.sqrt((2 - (m == 0)) * factorial(n - am) / factorial(n + am))
            p = lpmv(am, n, np.cos(zen)) * (-1.0) ** am  # scipy includes (-1)^m: undo
            cols.append(norm * p * (np.cos(am * azi) if m >= 0 else np.sin(am * azi)))
    return np.stack(cols, axis=1)


def main() -> None:
    import sofar
    from scipy.signal import resample_poly
    from spaudiopy import decoder, sig, sph

    sofa = sofar.read_sofa(str(SOFA), verbose=False)
    fs_in = int(np.ravel(sofa.Data_SamplingRate)[0])
    ir = resample_poly(np.asarray(sofa.Data_IR, float), FS // 300, fs_in // 300, axis=-1)
    pos = np.asarray(sofa.SourcePosition, float)
    azi, zen = np.deg2rad(pos[:, 0]), np.pi / 2 - np.deg2rad(pos[:, 1])
    hrirs = sig.HRIRs(ir[:, 0], ir[:, 1], azi, zen, FS)
    rng = np.random.default_rng(1)
    qa, qz = rng.uniform(-np.pi, np.pi, 500), np.arccos(rng.uniform(-1, 1, 500))
    out = {"fs": np.array(FS), "version": np.array(version("spaudiopy"))}
    for order in (1, 2, 3):
        spa = sph.sh_matrix(order, qa, qz, "real")
        amb = ambix(order, qa, qz)
        c = np.sum(spa * amb, axis=0) / np.sum(amb * amb, axis=0)
        err = np.max(np.abs(spa - amb * c))
        assert err < 1e-9, f"order {order}: spaudiopy's harmonics are not scaled AmbiX ({err})"
        f = decoder.magls_bin(hrirs, order)  # (2, C, L)
        out[f"filters_{order}"] = (np.transpose(f, (1, 0, 2)) * c[:, None, None]).astype(np.float32)
        print(f"order {order}: c = {np.round(c, 4)}, filters {out[f'filters_{order}'].shape}")
    np.savez_compressed(OUT, **out)
    print(f"{OUT}: written (spaudiopy {out['version']})")


if __name__ == "__main__":
    main()
