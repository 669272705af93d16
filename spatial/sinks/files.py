"""The mix, or one bus, to a WAV/RF64 or FLAC file (spatial.writer's atomic writer)."""
from __future__ import annotations

from pathlib import Path

from spatial.sinks.base import BusView


class FileSink:
    """Writes view.mix (bus=None) or view.buses[bus] to path, atomically.

    subtype: the sample format (None: the extension's default, see
    :data:`spatial.writer.WRITE_FORMATS`). The WAVE channel mask is the layout's
    (``layout.mask``: None for binaural, mono and ambisonics). The file appears
    at path only on commit(); abort() leaves path as it was.
    """

    def __init__(self, path, subtype: str | None = None, bus: str | None = None):
        self.path, self.subtype, self.bus = Path(path), subtype, bus
        self._out = None

    def open(self, layout, sample_rate: int, frames: int) -> None:
        from spatial.writer import open_output

        self._out = open_output(self.path, sample_rate, len(layout.channels), self.subtype,
                                layout.mask, frames_hint=frames)

    def write(self, view: BusView) -> None:
        self._out.write(view.mix if self.bus is None else view.buses[self.bus])

    def commit(self) -> str:
        """Rename the file into place; returns its path."""
        out, self._out = self._out, None
        return str(out.commit())

    def abort(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.abort()
