"""The meter sink: loudness, loudness range, peaks, clipping, dialogue-to-background."""
from __future__ import annotations

import numpy as np

from spatial.dsp.loudness import Meter, TruePeak, channel_weights, db, dialogue_to_background
from spatial.sinks.base import BusView


class MeterSink:
    """Measures view.mix block by block (BS.1770-4 loudness and EBU Tech 3342 range,
    :class:`spatial.dsp.loudness.Meter`; true and sample peak and the samples above
    full scale, :class:`~spatial.dsp.loudness.TruePeak`) and, when the views carry
    them, view.dialogue against view.background (the omnidirectional pressure at the
    listener, spatial.routing: every channel weighs 1). Writes no file."""

    def __init__(self):
        self.meter = self.peak = self.speech = None

    def open(self, layout, sample_rate: int, frames: int) -> None:
        self.fs, self.weights = sample_rate, channel_weights(layout.channels)
        self.meter = Meter(sample_rate, self.weights)
        self.peak = TruePeak(len(layout.channels))
        self.speech = None  # (dialogue, background) meters, from the first view with them

    def write(self, view: BusView) -> None:
        self.meter.add(view.mix)
        self.peak.add(view.mix)
        if view.dialogue is not None and view.background is not None:
            if self.speech is None:  # the meter format's channels (mono: one)
                w = np.ones(view.dialogue.shape[1])
                self.speech = (Meter(self.fs, w), Meter(self.fs, w))
            self.speech[0].add(view.dialogue)
            self.speech[1].add(view.background)

    def summary(self) -> dict:
        """loudness (LUFS), loudness_range (LU), true_peak (dBTP), sample_peak (dBFS),
        clipped (samples above full scale), so far."""
        return {"loudness": self.meter.integrated(),
                "loudness_range": self.meter.loudness_range(),
                "true_peak": self.peak.dbtp, "sample_peak": db(self.peak.sample_peak),
                "clipped": self.peak.clipped}

    def dialogue_to_background(self) -> float | None:
        """Dialogue minus background loudness (LU) where dialogue is present, or None."""
        if self.speech is None:
            return None
        return dialogue_to_background(self.speech[0].steps, self.speech[1].steps)

    def commit(self) -> dict:
        """The summary, with dialogue_to_background."""
        return self.summary() | {"dialogue_to_background": self.dialogue_to_background()}

    def abort(self) -> None:
        pass
