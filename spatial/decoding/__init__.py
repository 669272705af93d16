"""Decoding AmbiX (ACN, SN3D) signals: MagLS binaural (:mod:`.magls`), AllRAD
loudspeakers (:mod:`.allrad`), yaw rotation (:mod:`.rotation`), and the API and
file decoding (:mod:`.decoder`); the `spatial decode` command (:mod:`.commands`)."""
from __future__ import annotations

from spatial.filters.formats import SPEAKER_FORMATS

TARGETS = ("binaural",) + SPEAKER_FORMATS  # what `spatial decode --to` accepts
