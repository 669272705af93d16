"""Reading a SimpleFreeFieldHRIR SOFA file (sofar), with every problem reported as
``SceneError("cannot read HRTF file: <reason>", file=<path>)``."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spatial.errors import SceneError
from spatial.geometry import to_spherical, unit_vectors


def fail(reason: str, path) -> SceneError:
    return SceneError.at(f"cannot read HRTF file: {reason}", file=path)


def read(path: Path):
    """SOFA file -> (ir (M, 2, N), fs_in, directions (M, 3), delay_s (M, 2))."""
    import sofar

    if not path.is_file():
        raise fail("no such file", path)
    try:
        sofa = sofar.read_sofa(str(path), verbose=False)
    except Exception as err:  # sofar / netCDF4 / h5py raise all sorts
        reason = " ".join(str(err).replace(str(path), "").split()).strip(" :'\"")
        reason = reason or type(err).__name__
        raise fail(f"not a readable SOFA file ({reason[:200]})", path) from None
    try:
        conv = str(getattr(sofa, "GLOBAL_SOFAConventions", ""))
        if conv != "SimpleFreeFieldHRIR":
            raise fail(f"SOFA convention is {conv!r}, expected 'SimpleFreeFieldHRIR'", path)
        ir = np.asarray(sofa.Data_IR, dtype=float)
        if ir.ndim != 3 or ir.shape[0] < 4 or ir.shape[2] < 2:
            raise fail(f"Data.IR has shape {ir.shape}, expected (directions, 2, taps)", path)
        if ir.shape[1] != 2:
            raise fail(f"{ir.shape[1]} receivers, expected exactly 2 ears", path)
        fs_in = float(np.asarray(sofa.Data_SamplingRate, dtype=float).ravel()[0])
        pos = np.broadcast_to(np.asarray(sofa.SourcePosition, dtype=float).reshape(-1, 3),
                              (ir.shape[0], 3))
        kind = str(getattr(sofa, "SourcePosition_Type", "spherical")).lower()
        units = str(getattr(sofa, "SourcePosition_Units", "degree")).lower()
        delay = np.asarray(getattr(sofa, "Data_Delay", 0.0), dtype=float)
        delay = np.broadcast_to(delay.reshape(-1, delay.shape[-1]) if delay.ndim else delay,
                                (ir.shape[0], 2)) / fs_in
    except SceneError:
        raise
    except Exception as err:
        raise fail(f"malformed SOFA data ({' '.join(str(err).split())[:200]})", path) from None
    for name, arr in (("Data.IR", ir), ("SourcePosition", pos), ("Data.Delay", delay)):
        if not np.all(np.isfinite(arr)):
            raise fail(f"{name} holds non-finite values", path)
    if not (np.isfinite(fs_in) and fs_in > 0):
        raise fail(f"invalid sampling rate {fs_in}", path)
    if not np.any(ir):
        raise fail("Data.IR is all zeros", path)
    if kind.startswith("cart"):
        az, el, r = to_spherical(pos)
        if np.any(r <= 0):
            raise fail("a SourcePosition lies at the listener", path)
    else:
        az, el = pos[:, 0], pos[:, 1]
        if "rad" in units.split(",")[0]:
            az, el = np.rad2deg(az), np.rad2deg(el)
    return ir, fs_in, unit_vectors(az, el), np.array(delay)
