"""Inputs through short filters, each set of routes on transforms sized to its filters.

The engine's transforms are 2B points, so that filters of any length can be cut into
partitions of B taps. A filter much shorter than the block wastes most of them: the
moving sources' 26 head-locked filters (~800 taps) at the render's B = 8192 need
transforms of B + 800 points, not 16384. :class:`SizedEngines` holds the same inputs in
one :class:`~spatial.engine.convolver.BlockConvolver` per transform size: every key (a
format) gets the smallest fast size that fits its longest filter (at most 2B, where
longer filters keep their partitions), and keys of one size share an engine, and so
each input's forward transform. The size depends on a key's own filters only, so a
format's channels are the same, bit for bit, whichever other keys (formats) are
rendered beside it.
"""
from __future__ import annotations

import numpy as np
import scipy.fft

from spatial.engine.convolver import BlockConvolver


def fft_size(block: int, taps: int) -> int:
    """The transform size for filters of up to `taps` taps at block `block`: the smallest
    fast size N >= B + taps - 1 (scipy.fft.next_fast_len), and >= B + 1 as BlockConvolver
    needs, or 2B (partitioned) if none below it."""
    block, taps = int(block), max(2, int(taps))
    n = scipy.fft.next_fast_len(block + taps - 1, real=True)
    return n if n < 2 * block else 2 * block


class SizedEngines:
    """`n_inputs` inputs of B-sample blocks into `n_outputs` channels, through routes
    added with `add_route(input, filt, offset, key)`; `process(rows, out)` then adds,
    per block, each route's output into out's channels (routes of one key into a
    channel are summed in the order they were added, as in one BlockConvolver)."""

    def __init__(self, block: int, n_inputs: int, n_outputs: int, dtype=np.float32):
        self.B, self.n_inputs, self.n_outputs = int(block), int(n_inputs), int(n_outputs)
        self.dtype = dtype
        self._routes: dict = {}  # key -> [(input, filter, offset)]
        self._engines = None  # [(engine, lo, [(offset, width)])], made on first use

    def add_route(self, index: int, filt, offset: int, key=0) -> None:
        if not 0 <= index < self.n_inputs:
            raise IndexError(f"no input {index}")
        if self._engines is not None:
            raise RuntimeError("routes are added before the first block")
        self._routes.setdefault(key, []).append((int(index), np.asarray(filt), int(offset)))

    def sizes(self) -> dict:
        """key -> the transform size of its routes."""
        return {key: fft_size(self.B, max(f.shape[1] for _, f, _ in routes))
                for key, routes in self._routes.items()}

    def _build(self) -> list:
        by_size: dict[int, list] = {}
        for key, n in self.sizes().items():
            by_size.setdefault(n, []).extend(self._routes[key])
        engines = []
        for n, routes in by_size.items():
            lo = min(o for _, _, o in routes)
            hi = max(o + f.shape[0] for _, f, o in routes)
            eng = BlockConvolver(self.B, hi - lo, dtype=self.dtype,
                                 fft_size=None if n == 2 * self.B else n)
            for _ in range(self.n_inputs):
                eng.add_input()
            for s, f, o in routes:
                eng.add_route(s, f, o - lo)
            used = np.zeros(hi - lo, bool)  # the channels some route reaches, as runs
            for _, f, o in routes:
                used[o - lo:o - lo + f.shape[0]] = True
            edges = np.flatnonzero(np.diff(np.concatenate([[0], used.view(np.int8), [0]])))
            groups = [(lo + int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2])]
            engines.append((eng, lo, groups))
        return engines

    def process(self, rows: np.ndarray, out: np.ndarray) -> None:
        """One (n_inputs, B) block of every input; each route's output added into out
        (n_outputs, B), channel group by channel group (channels no route reaches are
        not touched)."""
        if self._engines is None:
            self._engines = self._build()
        for eng, lo, groups in self._engines:
            y = eng.process(rows)
            for o, w in groups:
                out[o:o + w] += y[o - lo:o - lo + w]

    def close(self) -> None:
        for eng, _, _ in self._engines or ():
            eng.close()
