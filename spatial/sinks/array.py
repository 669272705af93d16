"""The mix (and buses) collected in memory: spatial.render()'s sink."""
from __future__ import annotations

import numpy as np

from spatial.sinks.base import BusView


class ArraySink:
    """Collects view.mix into ``audio`` (frames, C) float32 and, for each name in
    buses, view.buses[name] into ``stems[name]``. Complete after commit()."""

    def __init__(self, buses=()):
        self.buses = tuple(buses)
        self.audio, self.stems, self.done = None, {}, 0

    def open(self, layout, sample_rate: int, frames: int) -> None:
        C = len(layout.channels)
        self.audio = np.empty((frames, C), np.float32)
        self.stems = {b: np.empty((frames, C), np.float32) for b in self.buses}
        self.done = 0

    def write(self, view: BusView) -> None:
        a, b = self.done, self.done + view.frames
        if not np.isfinite(view.mix).all():  # as spatial.writer: never NaN or infinity
            from spatial.errors import SpatialError

            raise SpatialError(f"the render produced a non-finite sample near frame {a}; "
                               "nothing returned (a bug: please report it with the scene)")
        self.audio[a:b] = view.mix  # copies: the view's arrays may be reused
        for name, x in self.stems.items():
            x[a:b] = view.buses[name]
        self.done = b

    def commit(self) -> None:
        self.audio = self.audio[:self.done]
        self.stems = {b: x[:self.done] for b, x in self.stems.items()}

    def abort(self) -> None:
        self.audio, self.stems = None, {}
