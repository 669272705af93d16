"""Surface absorption: a number, seven numbers, or a pyroomacoustics material name.

:func:`resolve_absorption` turns what a scene file says about one surface into
seven energy absorption coefficients, one per octave band of
:data:`spatial.bands.BANDS_HZ` (125 Hz .. 8 kHz), each in (0, 1].

Named materials come from pyroomacoustics' database
(``pyroomacoustics.parameters.materials_absorption_table``, after Vorlaender,
*Auralization*, 2008), read from its data file by :mod:`spatial.room.pra_data`.
Its entries are measured at 125 Hz .. 4 kHz (6 values)
or 125 Hz .. 8 kHz (7 values), a few are flat (1 value); they are read at our
band centres linearly in log frequency, and held constant beyond the last
measured band (so a 6-band material's 8 kHz value is its 4 kHz value).
"""
from __future__ import annotations

import difflib
import math
from functools import lru_cache

import numpy as np

from spatial.bands import BANDS_HZ, N_BANDS
from spatial.errors import SceneError

# Materials whose database coefficients are exactly 0 somewhere would give a
# perfectly reflecting band; such values are raised to this floor.
MIN_ABSORPTION = 1e-3


def _table() -> dict:
    from spatial.room.pra_data import materials_absorption_table  # (pra not imported)

    return materials_absorption_table()


def known_materials() -> list[str]:
    """Every material name :func:`resolve_absorption` accepts, sorted."""
    return sorted(_table())


def material_description(name: str) -> str:
    return _table()[name].get("description", name)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _coefficient(v, what: str) -> float:
    what = f" {what}" if what else ""
    if not _is_number(v):
        raise SceneError(f"expected an absorption coefficient (a number in (0, 1]){what}, "
                         f"got {v!r}")
    try:
        x = float(v)
    except OverflowError:
        x = math.inf
    if not math.isfinite(x):
        raise SceneError(f"absorption must be a finite number in (0, 1]{what}, got {v!r}")
    if not 0.0 < x <= 1.0:
        hint = " (0 would reflect everything; use a small value such as 0.01)" if x == 0 else ""
        raise SceneError(f"absorption must be in (0, 1]{what}, got {v!r}{hint}")
    return x


@lru_cache(maxsize=None)
def _named(name: str) -> tuple[float, ...]:
    entry = _table()[name]
    coeffs = np.asarray(entry["coeffs"], dtype=float)
    if coeffs.size == 1:
        values = np.full(N_BANDS, coeffs[0])
    else:
        freqs = np.asarray(entry.get("center_freqs") or BANDS_HZ[:coeffs.size], dtype=float)
        values = np.interp(np.log2(BANDS_HZ), np.log2(freqs[:coeffs.size]), coeffs)
    return tuple(float(v) for v in np.clip(values, MIN_ABSORPTION, 1.0))


def resolve_absorption(spec) -> tuple[float, ...]:
    """Seven energy absorption coefficients (125 Hz .. 8 kHz) for one surface.

    spec: a number in (0, 1] (the same in every band); a list of 7 numbers in
    (0, 1]; or a pyroomacoustics material name (see :func:`known_materials`).
    Raises SceneError (no location: the caller adds it) for anything else,
    listing close matches for a misspelt material name.
    """
    if isinstance(spec, str):
        name = spec.strip()
        if name in _table():
            return _named(name)
        lowered = {k.lower(): k for k in _table()}
        if name.lower() in lowered:
            return _named(lowered[name.lower()])
        close = difflib.get_close_matches(name, known_materials(), n=4, cutoff=0.5)
        hint = (f"did you mean {', '.join(repr(c) for c in close)}?" if close else
                "see the materials list in scenes/README.md")
        raise SceneError(f"unknown material {spec!r} ({hint})")
    if isinstance(spec, (list, tuple, np.ndarray)):
        values = list(spec)
        if len(values) != N_BANDS:
            bands = ", ".join(f"{b:g}" for b in BANDS_HZ)
            raise SceneError(f"expected {N_BANDS} absorption coefficients (one per octave band "
                             f"{bands} Hz), got {len(values)}")
        return tuple(_coefficient(v, f"in the {BANDS_HZ[i]:g} Hz band")
                     for i, v in enumerate(values))
    if _is_number(spec):
        return (_coefficient(spec, ""),) * N_BANDS
    raise SceneError("expected a material name, an absorption coefficient in (0, 1] or a "
                     f"list of {N_BANDS} coefficients, got {spec!r}")
