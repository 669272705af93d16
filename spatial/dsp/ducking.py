"""Ducking: a side-chain from one bus's own level dips other buses, block by block.

The side-chain bus is cut into 10 ms frames on the scene's timeline; a frame
is *active* when its RMS (over its samples and channels) is above
``threshold_db`` dBFS. After each frame the gain (dB) moves towards -depth_db
when the frame was active, 0 dB otherwise, by at most depth_db x 10 ms /
attack going down and depth_db x 10 ms / release coming back: linear ramps in
dB that reach the full depth in ``attack`` seconds and recover from it in
``release`` seconds. The gain applied to a sample in frame k runs linearly
from the gain after frame k-2 to that after frame k-1, so it only depends on
frames already heard (causal, any block size gives the same gains) and has no
steps: the side-chain reacts within one to two frames (10-20 ms).
"""
from __future__ import annotations

import numpy as np

FRAME_S = 0.01


class Ducker:
    """process(side (n, C)) -> (n,) linear gains for the ducked buses, block by block."""

    def __init__(self, fs: int, ducking):
        self.frame = max(1, int(round(FRAME_S * fs)))
        self.depth = float(ducking.depth_db)
        seconds = self.frame / fs
        self.down = self.depth * seconds / ducking.attack
        self.up = self.depth * seconds / ducking.release
        self.threshold = 10.0 ** (ducking.threshold_db / 10.0)  # mean square
        self.g1 = self.g2 = 0.0  # gain (dB) after the last and the one-before-last frame
        self.energy, self.count, self.filled = 0.0, 0, 0  # the frame being filled

    def _next_gain(self, mean_square: float) -> float:
        g = self.g1
        if mean_square > self.threshold:
            return max(g - self.down, -self.depth)
        return min(g + self.up, 0.0)

    def process(self, side: np.ndarray) -> np.ndarray:
        x = np.asarray(side, np.float64).reshape(side.shape[0], -1)
        n, F = x.shape[0], self.frame
        power = (x * x).sum(axis=1)
        # frame by frame only the gains' recursion; the ramps are one array expression
        # (the same arithmetic per sample: g2 + (g1 - g2) * position in the frame / F)
        pos = ((self.filled + np.arange(n)) % F) / F
        cuts, g1s, g2s = [], [], []
        i = 0
        while i < n:
            take = min(F - self.filled, n - i)
            cuts.append(take)
            g1s.append(self.g1)
            g2s.append(self.g2)
            self.energy += float(power[i:i + take].sum())
            self.count += take * x.shape[1]
            self.filled += take
            i += take
            if self.filled == F:
                self.g1, self.g2 = self._next_gain(self.energy / self.count), self.g1
                self.energy, self.count, self.filled = 0.0, 0, 0
        g1, g2 = np.repeat(g1s, cuts), np.repeat(g2s, cuts)
        out = g2 + (g1 - g2) * pos
        return (10.0 ** (out / 20.0)).astype(np.float32)
