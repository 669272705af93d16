"""spatial.compare: pieces' profiles side by side, and where one departs from the rest.

For each metric, each piece's value is compared with the median of the other
pieces' values (those that have one): it is flagged when it departs by more
than the metric's tolerance, absolute (in the metric's unit) or relative (a
fraction of that median). With two pieces each is compared with the other, so
a difference beyond the tolerance flags both. With three or more, a piece is
flagged only if it also departs by more than the tolerance from the median of
all the pieces: with A, A and A + 6 dB the odd one out is flagged, not the two
A's (whose "others" median, of A and A + 6, is A + 3). A piece without a value
for a metric (None: silent, no dialogue ...) is not flagged on it.

Default tolerances (TOLERANCES): loudness 2 LU, loudness range 3 LU, true peak
2 dB, centroid 20 %, band balance 3 dB per band, dynamic range 4 dB, onset
density 50 %, T30 and EDT 25 %, width and the shares 0.15, dialogue-to-
background 3 LU, SII 0.1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spatial.errors import SceneError

# metric -> (tolerance, "abs" | "rel", unit)
TOLERANCES = {
    "loudness_lufs": (2.0, "abs", "LUFS"),
    "loudness_range_lu": (3.0, "abs", "LU"),
    "true_peak_dbtp": (2.0, "abs", "dBTP"),
    "spectral_centroid_hz": (0.20, "rel", "Hz"),
    "band_balance_db.low": (3.0, "abs", "dB"),
    "band_balance_db.low_mid": (3.0, "abs", "dB"),
    "band_balance_db.presence": (3.0, "abs", "dB"),
    "band_balance_db.air": (3.0, "abs", "dB"),
    "dynamic_range_db": (4.0, "abs", "dB"),
    "onset_density_per_s": (0.50, "rel", "/s"),
    "reverberance.t30_s": (0.25, "rel", "s"),
    "reverberance.edt_s": (0.25, "rel", "s"),
    "width": (0.15, "abs", ""),
    "front_share": (0.15, "abs", ""),
    "back_share": (0.15, "abs", ""),
    "height_share": (0.15, "abs", ""),
    "dialogue_to_background_lu": (3.0, "abs", "LU"),
    "intelligibility_sii": (0.10, "abs", ""),
}


@dataclass
class Comparison:
    """pieces: their names; rows: one per metric, {metric, unit, tolerance, kind,
    values, medians (of the others, per piece), flags}."""

    pieces: list
    rows: list
    profiles: list = field(default_factory=list, repr=False)

    @property
    def flagged(self) -> bool:
        return any(any(r["flags"]) for r in self.rows)

    def flags(self) -> list:
        """[(metric, piece, value, median of the others)] of every flag."""
        return [(r["metric"], self.pieces[i], r["values"][i], r["medians"][i])
                for r in self.rows for i, f in enumerate(r["flags"]) if f]

    def to_dict(self) -> dict:
        from spatial.analysis.profile import clean

        return clean({"pieces": self.pieces, "flagged": self.flagged, "metrics": self.rows})


def parse_tolerance(text: str) -> tuple[str, tuple]:
    """'metric=value' (absolute, the metric's unit) or 'metric=20%' (relative)."""
    name, sep, value = str(text).partition("=")
    name = name.strip()
    if not sep or name not in TOLERANCES:
        raise SceneError.at(f"{text!r}: expected METRIC=VALUE with METRIC one of "
                            + ", ".join(TOLERANCES), key="--tolerance")
    v = value.strip()
    rel = v.endswith("%")
    try:
        number = float(v[:-1] if rel else v)
    except ValueError:
        number = float("nan")
    if not (np.isfinite(number) and number >= 0.0):
        raise SceneError.at(f"{text!r}: the tolerance must be a number >= 0 (or a "
                            "percentage, e.g. 20%)", key="--tolerance")
    return name, ((number / 100.0, "rel") if rel else (number, "abs")) + (TOLERANCES[name][2],)


def tolerances_of(given) -> dict:
    """The defaults updated by `given`: {metric: number (absolute) or "20%"} or
    ["metric=value", ...]."""
    out = dict(TOLERANCES)
    if not given:
        return out
    items = given.items() if isinstance(given, dict) else [(None, g) for g in given]
    for k, v in items:
        name, tol = parse_tolerance(f"{k}={v}" if k is not None else v)
        out[name] = tol
    return out


def compare(profiles_or_paths, tolerances=None, *, window: float = 3.0,
            fmt: str | None = None) -> Comparison:
    """Compare two or more pieces (Profiles, or files/scenes to analyze); see the
    module doc. Raises SceneError for fewer than two pieces or a bad tolerance."""
    from spatial.analysis.profile import Profile

    items = list(profiles_or_paths)
    if len(items) < 2:
        raise SceneError.at(f"compare needs at least two pieces, got {len(items)}")
    tol = tolerances_of(tolerances)
    profiles = []
    for item in items:
        if isinstance(item, Profile):
            profiles.append(item)
        else:
            from spatial.analysis.profiling import analyze

            profiles.append(analyze(item, window, fmt=fmt))
    names = _names(profiles)
    rows = []
    for metric, (value, kind, unit) in tol.items():
        values = [p.metric(metric) for p in profiles]
        present = [x for x in values if x is not None]
        everyone = float(np.median(present)) if present else None
        medians, flags = [], []
        for i, v in enumerate(values):
            others = [x for j, x in enumerate(values) if j != i and x is not None]
            med = float(np.median(others)) if others else None
            medians.append(med)
            if v is None or med is None:
                flags.append(False)
                continue
            flag = _departs(v, med, value, kind)
            if flag and len(present) >= 3:
                flag = _departs(v, everyone, value, kind)
            flags.append(flag)
        rows.append({"metric": metric, "unit": unit, "tolerance": value, "kind": kind,
                     "values": values, "medians": medians, "flags": flags})
    return Comparison(names, rows, profiles)


def _departs(v: float, reference: float, tolerance: float, kind: str) -> bool:
    limit = tolerance * abs(reference) if kind == "rel" else tolerance
    return bool(abs(v - reference) > limit + 1e-12)


def _names(profiles) -> list:
    names = [Path(p.piece).name if p.piece else f"piece {i + 1}" for i, p in enumerate(profiles)]
    if len(set(names)) < len(names):  # two files of one name in different folders
        names = [p.piece or f"piece {i + 1}" for i, p in enumerate(profiles)]
    return names
