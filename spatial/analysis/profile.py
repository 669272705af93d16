"""The mood profile of a piece: a dataclass of plain numbers, and its JSON form.

Every figure is a float, a list or dict of them, or None; a None has its reason
in ``notes`` (key -> sentence, e.g. ``"overall.loudness_lufs": "silent: ..."``).
:func:`clean` is the last guard: no NaN or infinity reaches a report or a JSON
file (it turns any into None, and ``to_dict`` is checked with
``json.dumps(..., allow_nan=False)`` by the tests).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

OVERALL_KEYS = ("loudness_lufs", "loudness_range_lu", "true_peak_dbtp", "spectral_centroid_hz",
                "band_balance_db", "dynamic_range_db", "onset_density_per_s", "reverberance",
                "width", "width_measure", "front_share", "back_share", "height_share",
                "dialogue_to_background_lu", "intelligibility_sii")
WINDOW_KEYS = ("t", "duration_s", "loudness_lufs", "true_peak_dbtp", "spectral_centroid_hz",
               "band_balance_db", "dynamic_range_db", "onset_density_per_s", "width",
               "front_share", "back_share", "height_share", "dialogue_to_background_lu",
               "intelligibility_sii")


@dataclass
class Profile:
    """What a piece sounds like, overall and window by window (spatial.analyze)."""

    piece: str | None
    format: str
    sample_rate: int
    duration_s: float
    window_s: float
    overall: dict
    windows: list = field(default_factory=list)
    short_term: dict = field(default_factory=lambda: {"t": [], "lufs": []})
    low_intelligibility: list = field(default_factory=list)
    sii_threshold: float = 0.45
    events: list = field(default_factory=list)
    motifs: list = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    target_lufs: float | None = None  # the delivery target (a scene's output.loudness)
    # for the picture only (not in the JSON): {frame_s, edges_hz (B + 1,), power (T, B)}
    spectrogram: dict | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """The JSON form: plain floats, lists and dicts, None for missing (never NaN)."""
        return clean({"piece": self.piece, "format": self.format,
                      "sample_rate": int(self.sample_rate), "duration_s": self.duration_s,
                      "window_s": self.window_s, "target_lufs": self.target_lufs,
                      "overall": self.overall, "windows": self.windows,
                      "short_term": self.short_term,
                      "low_intelligibility": self.low_intelligibility,
                      "sii_threshold": self.sii_threshold, "events": self.events,
                      "motifs": self.motifs, "notes": self.notes})

    @classmethod
    def from_dict(cls, d: dict) -> "Profile":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    def metric(self, name: str):
        """An overall figure by its flat name (``band_balance_db.air``, ``reverberance.t30_s``)."""
        value = self.overall
        for part in name.split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value


def clean(value):
    """value with numpy scalars as Python numbers, tuples as lists and any non-finite
    float as None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()  # a numpy scalar
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def finite(x) -> float | None:
    """float(x), or None if it is None, NaN or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
