"""ProfileSink: the mood profile of a render (or a file) measured block by block.

One more :class:`spatial.sinks.base.Sink`: opened with the format's layout, fed
each block's :class:`~spatial.sinks.base.BusView` (the mix; dialogue and
background when the render has them), committed into a
:class:`spatial.analysis.profile.Profile`. State is bounded: one window of audio
(window_s x channels, and as much of dialogue and background), plus a few
numbers per 100 ms (the loudness meters' mean squares, the dialogue's and the
rest's octave-band powers), per 20 ms (the decay tracker) and per 250 ms (the
picture's spectrogram): about 450 floats a second (~13 MB an hour), however
long the programme.

Loudness, true peak and the short-term curve are spatial.dsp.loudness's
(BS.1770-4, EBU Tech 3342); the rest is spatial.analysis's modules: spectrum,
dynamics, width, reverb, sii. Windows start every window_s seconds (rounded to
the meters' 100 ms steps); the last one may be shorter.
"""
from __future__ import annotations

import numpy as np

from spatial.analysis import dynamics, sii as sii_mod
from spatial.analysis.profile import Profile, finite
from spatial.analysis.reverb import DecayTracker
from spatial.analysis.spectrum import BANDS, Spectrum
from spatial.analysis.width import WidthStats
from spatial.dsp.loudness import (ABSOLUTE_GATE, GATE_BLOCKS, RELATIVE_GATE,
                                  SHORT_TERM_BLOCKS, STEP_S, Meter, TruePeak, _blocks,
                                  channel_weights, dialogue_to_background, integrated,
                                  loudness_range, to_lufs)
from spatial.sinks.base import BusView

ONSET_CONTEXT_S = 0.5  # audio before a window the onset detector sees (not counted)
SPEECH_GATE_LU = -20.0  # a 100 ms step has dialogue: within 20 LU of its gated level
LONG_PIECE_S = 600.0  # short_term every 100 ms up to 10 minutes, every 1 s beyond
PICTURE_FRAME_S = 0.25  # the picture's spectrogram: 250 ms frames,
PICTURE_BANDS = 60  # in 60 log-spaced bands from 40 Hz to 20 kHz (or Nyquist)


class ProfileSink:
    """A Sink that profiles the mix (module doc). commit() returns the Profile."""

    def __init__(self, window_s: float = 3.0, sii_threshold: float = sii_mod.DEFAULT_THRESHOLD,
                 piece: str | None = None):
        self.window_s, self.sii_threshold, self.piece = float(window_s), sii_threshold, piece
        self.layout = None

    # -- the Sink protocol ------------------------------------------------------
    def open(self, layout, sample_rate: int, frames: int) -> None:
        fs = self.fs = int(sample_rate)
        self.layout = layout
        n_ch = len(layout.channels)
        self.meter = Meter(fs, channel_weights(layout.channels))
        self.peak = TruePeak(n_ch)
        self.step = self.meter.step
        self.window_steps = max(1, int(round(self.window_s / STEP_S)))
        self.wlen = self.window_steps * self.step
        self.buf = np.zeros((self.wlen, n_ch), np.float32)
        self.filled, self.frames_seen, self.onsets = 0, 0, 0
        if layout.kind == "ambisonics":
            self.analysis = np.array([0])  # W: the omnidirectional signal
        else:
            idx = [i for i, c in enumerate(layout.channels) if c.name != "LFE"]
            self.analysis = np.array(idx or [0])
        self.spectrum = Spectrum(fs)
        self.width = WidthStats(layout, fs)
        self.decay = DecayTracker(fs)
        self.context = np.zeros(0, np.float32)
        self.windows: list[dict] = []
        self.speech = None  # (dialogue Meter, background Meter, dialogue buf, background buf)
        self.bands: list[tuple[np.ndarray, np.ndarray]] = []  # per window: (k, 6) each
        top = min(20000.0, 0.5 * fs)
        self.picture_edges = np.geomspace(40.0, top, PICTURE_BANDS + 1)
        self.picture: list[np.ndarray] = []  # per 250 ms frame: (PICTURE_BANDS,) power

    def write(self, view: BusView) -> None:
        mix = np.asarray(view.mix)
        n = mix.shape[0]
        self.meter.add(mix)
        self.peak.add(mix)
        d, b = view.dialogue, view.background
        if d is not None and b is not None and self.speech is None:
            self._start_speech(d.reshape(d.shape[0], -1).shape[1],
                               b.reshape(b.shape[0], -1).shape[1])
        if self.speech is not None:
            if d is None or b is None:  # no dialogue in this block
                d = np.zeros((n, self.speech[2].shape[1]), np.float32)
                b = np.zeros((n, self.speech[3].shape[1]), np.float32)
            d, b = d.reshape(n, -1), b.reshape(n, -1)
            self.speech[0].add(d)
            self.speech[1].add(b)
        i = 0
        while i < n:
            take = min(self.wlen - self.filled, n - i)
            self.buf[self.filled:self.filled + take] = mix[i:i + take]
            if self.speech is not None:
                self.speech[2][self.filled:self.filled + take] = d[i:i + take]
                self.speech[3][self.filled:self.filled + take] = b[i:i + take]
            self.filled += take
            i += take
            if self.filled == self.wlen:
                self._close_window(self.wlen)
        self.frames_seen += n

    def commit(self) -> Profile:
        if self.filled:
            self._close_window(self.filled)
        return self._profile()

    def abort(self) -> None:
        self.buf = None
        self.speech = None

    # -- windows --------------------------------------------------------------
    def _start_speech(self, cd: int, cb: int) -> None:
        """Dialogue and background meters from the first block that has them, caught up
        with silence for the frames before (so their steps line up with the mix's)."""
        dm, bm = Meter(self.fs, np.full(cd, 1.0 / cd)), Meter(self.fs, np.full(cb, 1.0 / cb))
        if self.frames_seen:
            dm.add(np.zeros((self.frames_seen, cd)))
            bm.add(np.zeros((self.frames_seen, cb)))
        self.speech = (dm, bm, np.zeros((self.wlen, cd), np.float32),
                       np.zeros((self.wlen, cb), np.float32))
        zeros = np.zeros((self.window_steps, len(sii_mod.CENTRES_HZ)))
        self.bands = [(zeros, zeros) for _ in self.windows]

    def _close_window(self, n: int) -> None:
        x = self.buf[:n].astype(np.float64)
        a = x[:, self.analysis]
        spec = Spectrum(self.fs)
        spec.add(a)
        self.spectrum.merge(spec)
        width = WidthStats(self.layout, self.fs)
        width.add(x)
        self.width.merge(width)
        self.decay.add(a)
        self._picture(a)
        peak = TruePeak(x.shape[1])
        peak.add(x)
        mono = a.mean(axis=1).astype(np.float32)
        onsets = dynamics.onset_times(np.concatenate([self.context, mono]), self.fs)
        count = int(np.count_nonzero(onsets >= self.context.size / self.fs))
        self.onsets += count
        keep = int(ONSET_CONTEXT_S * self.fs)
        self.context = np.concatenate([self.context, mono])[-keep:]
        shares, notes = width.results()
        self.windows.append({"t": len(self.windows) * self.window_steps * STEP_S,
                             "duration_s": n / self.fs, "true_peak_dbtp": finite(peak.dbtp),
                             "spectral_centroid_hz": spec.centroid(),
                             "band_balance_db": spec.balance(),
                             "onset_density_per_s": count / (n / self.fs), **shares})
        if self.speech is not None:
            k = n // self.step
            d, b = self.speech[2][:k * self.step], self.speech[3][:k * self.step]
            self.bands.append((
                np.array([sii_mod.band_powers(d[j * self.step:(j + 1) * self.step], self.fs)
                          for j in range(k)]).reshape(k, -1),
                np.array([sii_mod.band_powers(b[j * self.step:(j + 1) * self.step], self.fs)
                          for j in range(k)]).reshape(k, -1)))
        self.filled = 0

    def _picture(self, a: np.ndarray) -> None:
        """Band powers of 250 ms frames of the analysis channels, for the spectrogram."""
        m = max(1, int(round(PICTURE_FRAME_S * self.fs)))
        f = np.fft.rfftfreq(m, 1.0 / self.fs)
        idx = np.clip(np.searchsorted(self.picture_edges, f, side="right") - 1, -1,
                      PICTURE_BANDS)
        ok = (idx >= 0) & (idx < PICTURE_BANDS)
        for start in range(0, a.shape[0], m):
            frame = a[start:start + m]
            spec = np.fft.rfft(frame, m, axis=0)
            p = (spec.real ** 2 + spec.imag ** 2).mean(axis=1) / m
            self.picture.append(np.bincount(idx[ok], p[ok], PICTURE_BANDS))

    # -- the profile ------------------------------------------------------------
    def _profile(self) -> Profile:
        fs, steps = self.fs, self.meter.steps
        duration = self.frames_seen / fs
        notes: dict = {}

        def note(key, value, reason):
            if value is None:
                notes[key] = reason
            return value

        silent = not steps.size or not np.any(to_lufs(_blocks(steps, GATE_BLOCKS)) >= ABSOLUTE_GATE)
        short = steps.size < GATE_BLOCKS
        why_quiet = ("too short: under one 400 ms gating block" if short else
                     "silent: no 400 ms block above -70 LUFS")
        o = {"loudness_lufs": note("overall.loudness_lufs", finite(integrated(steps)), why_quiet)}
        if steps.size < SHORT_TERM_BLOCKS:
            o["loudness_range_lu"] = note("overall.loudness_range_lu", None,
                                          "too short: under one 3 s short-term block")
        else:
            o["loudness_range_lu"] = note("overall.loudness_range_lu", None if silent else
                                          loudness_range(steps), why_quiet)
        o["true_peak_dbtp"] = note("overall.true_peak_dbtp", finite(self.peak.dbtp),
                                   "silent: every sample is zero")
        o["spectral_centroid_hz"] = note("overall.spectral_centroid_hz",
                                         self.spectrum.centroid(), "silent")
        o["band_balance_db"] = self.spectrum.balance()
        if o["spectral_centroid_hz"] is None:
            notes["overall.band_balance_db"] = "silent"
        o["dynamic_range_db"] = note("overall.dynamic_range_db", dynamics.dynamic_range(steps),
                                     why_quiet if (silent or short) else "fewer than two "
                                     "momentary blocks above -70 LUFS")
        o["onset_density_per_s"] = note("overall.onset_density_per_s",
                                        self.onsets / duration if duration > 0 else None,
                                        "no audio")
        reverb, reason = self.decay.estimate()
        o["reverberance"] = reverb
        if reason:
            notes["overall.reverberance"] = reason
        shares, why = self.width.results()
        o.update(shares)
        o["width_measure"] = self.width.measure()
        notes.update({f"overall.{k}": v for k, v in why.items()})
        windows = [dict(w) for w in self.windows]
        for i, w in enumerate(windows):
            s = steps[i * self.window_steps:(i + 1) * self.window_steps]
            w["loudness_lufs"] = finite(integrated(s))
            w["dynamic_range_db"] = dynamics.dynamic_range(s)
        o["dialogue_to_background_lu"], o["intelligibility_sii"] = None, None
        self._speech(o, windows, notes)
        windows = [{k: w.get(k) for k in ("t", "duration_s", "loudness_lufs", "true_peak_dbtp",
                                          "spectral_centroid_hz", "band_balance_db",
                                          "dynamic_range_db", "onset_density_per_s", "width",
                                          "front_share", "back_share", "height_share",
                                          "dialogue_to_background_lu", "intelligibility_sii")}
                   for w in windows]
        low = [{"t": w["t"], "sii": w["intelligibility_sii"]} for w in windows
               if w["intelligibility_sii"] is not None
               and w["intelligibility_sii"] < self.sii_threshold]
        window_s = self.window_steps * STEP_S  # as used: whole 100 ms steps
        profile = Profile(self.piece, self.layout.format, fs, duration, round(window_s, 3), o,
                          windows, short_term(steps, duration), low, self.sii_threshold,
                          notes=notes)
        profile.spectrogram = {"frame_s": PICTURE_FRAME_S, "edges_hz": self.picture_edges,
                               "power": np.array(self.picture).reshape(-1, PICTURE_BANDS)}
        return profile

    def _speech(self, o: dict, windows: list, notes: dict) -> None:
        """Dialogue-to-background and SII, overall and per window (or the reason why not)."""
        if self.speech is None:
            reason = "no dialogue, or nothing else playing with it (or not a scene)"
            notes["overall.dialogue_to_background_lu"] = reason
            notes["overall.intelligibility_sii"] = reason
            return
        sd, sb = self.speech[0].steps, self.speech[1].steps
        n = min(sd.size, sb.size)
        sd, sb = sd[:n], sb[:n]
        o["dialogue_to_background_lu"] = finite(dialogue_to_background(sd, sb))
        if o["dialogue_to_background_lu"] is None:
            notes["overall.dialogue_to_background_lu"] = "no passage where dialogue plays"
        # the dialogue's passages: 400 ms blocks through its BS.1770 gates (as the meter)
        zd, zb = _blocks(sd, GATE_BLOCKS), _blocks(sb, GATE_BLOCKS)
        live = to_lufs(zd) >= ABSOLUTE_GATE
        level = to_lufs(zd[live].mean()) if live.any() else -np.inf
        live &= to_lufs(zd) > level + RELATIVE_GATE
        # and the 100 ms steps with dialogue, for the SII's band spectra
        with np.errstate(divide="ignore"):
            step_on = (to_lufs(sd) >= ABSOLUTE_GATE) & (to_lufs(sd) > level + SPEECH_GATE_LU)
        total_d = total_b = 0.0
        for i, w in enumerate(windows):
            a, b = i * self.window_steps, (i + 1) * self.window_steps
            on = live[a:min(b, live.size)]
            if on.any() and zb[a:a + on.size][on].mean() > 0.0:
                w["dialogue_to_background_lu"] = finite(
                    to_lufs(zd[a:a + on.size][on].mean()) - to_lufs(zb[a:a + on.size][on].mean()))
            bd, bb = self.bands[i] if i < len(self.bands) else (np.zeros((0, 6)),) * 2
            sel = step_on[a:a + bd.shape[0]]
            sel = np.concatenate([sel, np.zeros(bd.shape[0] - sel.size, bool)])
            if sel.any():
                d, bg = bd[sel].sum(axis=0), bb[sel].sum(axis=0)
                w["intelligibility_sii"] = sii_mod.sii(d, bg)
                total_d, total_b = total_d + d, total_b + bg
        if np.any(np.asarray(total_d) > 0.0):
            o["intelligibility_sii"] = sii_mod.sii(total_d, total_b)
        else:
            notes["overall.intelligibility_sii"] = "no passage where dialogue plays"


def short_term(steps: np.ndarray, duration: float) -> dict:
    """EBU short-term loudness (3 s blocks), t = each block's end (s): every 100 ms, or
    every 1 s for pieces over LONG_PIECE_S; None where silent (below -70 LUFS)."""
    st = to_lufs(_blocks(np.asarray(steps, float), SHORT_TERM_BLOCKS))
    t = (np.arange(st.size) + SHORT_TERM_BLOCKS) * STEP_S
    if duration > LONG_PIECE_S:
        hop = int(round(1.0 / STEP_S))
        st, t = st[::hop], t[::hop]
    return {"t": [round(float(v), 3) for v in t],
            "lufs": [float(v) if v >= ABSOLUTE_GATE else None for v in st]}


__all__ = ["ProfileSink", "short_term", "BANDS"]
