"""The sink interface: what one block of a render is, and what a sink does with it.

Per block, the render produces for each output format one :class:`BusView`; a
:class:`~spatial.sinks.driver.deliver` driver hands it to that format's sinks.
A sink is opened once with the format's layout, written every block in order,
then committed (every file it wrote renamed into place) or aborted (every
temporary file removed). The loop never knows what kind of sink it feeds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class BusView:
    """The signals of one output format for one block, all (n, C) float32.

    mix: the programme. buses: bus name -> its signal (empty unless stems are
    rendered); they sum to the mix. dialogue, background: (n, 1), the dialogue and
    the rest at the listener as the mono rendering has them (the omnidirectional
    pressure, :mod:`spatial.routing`), the same in every format, for the
    dialogue-to-background meter; None when the scene has no dialogue or nothing else.
    sources: (inputs, n) float64, each plan input's dry block after the bus stage
    (bus gains, ducking; before any filter), for a format that taps them
    (``FormatPlan.taps``: the ADM master, spatial.adm), else None.
    The arrays may be buffers the loop reuses for the next block: a sink that keeps
    data must copy it.
    """

    mix: np.ndarray
    buses: dict = field(default_factory=dict)
    dialogue: np.ndarray | None = None
    background: np.ndarray | None = None
    sources: np.ndarray | None = None

    @property
    def frames(self) -> int:
        return self.mix.shape[0]

    def copy(self) -> "BusView":
        """A view that owns its arrays (for a sink thread while the loop goes on)."""
        return BusView(self.mix.copy(), {b: x.copy() for b, x in self.buses.items()},
                       None if self.dialogue is None else self.dialogue.copy(),
                       None if self.background is None else self.background.copy(),
                       None if self.sources is None else self.sources.copy())


@runtime_checkable
class Sink(Protocol):
    """A deliverable written block by block.

    open(layout, sample_rate, frames): before the first block; layout is the
      format's :class:`spatial.filters.layouts.Layout` (channel names in file
      order, ``bs2051`` labels, ``mask``), frames the programme's length.
    write(view): one :class:`BusView`, blocks in order.
    commit(): the render succeeded: rename every file written into place;
      returns None or a summary (a path, figures).
    abort(): the render failed: remove every temporary file; safe to call twice,
      before open or after a failed open.
    """

    def open(self, layout, sample_rate: int, frames: int) -> None: ...

    def write(self, view: BusView) -> None: ...

    def commit(self) -> Any: ...

    def abort(self) -> None: ...
