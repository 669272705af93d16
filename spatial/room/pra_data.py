"""pyroomacoustics' tables, without importing pyroomacoustics (~0.8 s of start-up).

- :func:`materials_absorption_table`: its materials database (after Vorlaender,
  *Auralization*, 2008), read from the package's own ``data/materials.json``
  (located with importlib, not imported), arranged exactly as
  ``pyroomacoustics.parameters.materials_absorption_table``.
- :data:`AIR_ABSORPTION`: its air attenuation table at 20 C, 30-50 % relative
  humidity (the one ``Physics().get_air_absorption()`` returns for its default
  speed of sound, 343 m/s), copied from pyroomacoustics/parameters.py
  (MIT licence, Copyright (C) 2015-2019 Robin Scheibler), values from the annex
  of Vorlaender's *Auralization*.

tests/test_room.py checks both against pyroomacoustics itself.
"""
from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

# energy attenuation of air, 1/m, at 125 Hz .. 8 kHz ("20C_30-50%" in pyroomacoustics)
AIR_ABSORPTION = {
    "coeffs": [x * 1e-3 for x in [0.1, 0.3, 0.6, 1.0, 1.9, 5.8, 20.3]],
    "center_freqs": [125, 250, 500, 1000, 2000, 4000, 8000],
}


def _package_dir() -> Path:
    spec = importlib.util.find_spec("pyroomacoustics")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyroomacoustics is not installed (its materials database is needed)")
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=1)
def materials_absorption_table() -> dict:
    """name -> {"description", "coeffs", "center_freqs"}, as pyroomacoustics builds it."""
    table = {"anechoic": {"description": "Anechoic material", "coeffs": [1.0]}}
    with open(_package_dir() / "data" / "materials.json", encoding="utf8") as f:
        data = json.load(f)
    centers = data["center_freqs"]
    for contents in data["absorption"].values():
        for name, p in contents.items():
            table[name] = {"description": p["description"], "coeffs": p["coeffs"],
                           "center_freqs": centers[:len(p["coeffs"])]}
    return table
