"""Decoding AmbiX recordings (ACN, SN3D) to headphones or loudspeakers.

    import spatial
    out = spatial.decode(audio, 48000, "hoa3", "binaural", yaw=30)  # -> Decoded
    out.write("review.wav")
    spatial.decode_file("take.wav", "take-714.wav", "hoa3", "7.1.4")

- binaural: MagLS filters built from an HRTF set (:mod:`spatial.decoding.magls`;
  default the packaged MIT KEMAR set with its bottom cap filled, diffuse-field
  equalised like a binaural render), aligned with the input (the filters' 5 ms
  lead is dropped). The output is longer than the input by the filters' ring-out
  (taps - 1 - lead: 16 ms at 48 kHz), which is kept.
- stereo, 5.1, 7.1, 5.1.4, 7.1.4: an AllRAD matrix (:mod:`spatial.decoding.allrad`),
  in the layout's channel order (LFE silent); the output has the input's length.
- yaw: the sound field is first turned as for a listener turned by yaw degrees
  (counter-clockwise, as the scene's listener yaw): a source at azimuth a is heard
  at a - yaw (:mod:`spatial.decoding.rotation`).

Files are decoded block by block (any length, bounded memory) and written
atomically (:mod:`spatial.writer`): a bad input gives one SceneError naming the
file or the flag, and no output file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatial.errors import SceneError
from spatial.decoding import TARGETS
from spatial.filters.formats import AMBISONIC_FORMATS

ORDERS = {"foa": 1, "hoa2": 2, "hoa3": 3}
BLOCK = 1 << 15  # frames per block (bounds memory: BLOCK x 16 channels x a few copies)


@dataclass
class Decoded:
    """Decoded audio (n, C) float32 at sample_rate; format: the target; layout its
    channels (names, and the channel mask a file gets)."""

    audio: np.ndarray
    sample_rate: int
    format: str
    layout: object

    @property
    def channel_names(self) -> tuple[str, ...]:
        return self.layout.names

    def write(self, path, subtype: str | None = None) -> Path:
        """Write atomically to .wav (float32 default) or .flac, with the layout's mask."""
        from spatial.writer import write_audio

        return write_audio(path, self.audio, self.sample_rate, subtype, self.layout.mask)


def _order(source: str, key: str = "from_") -> int:
    if source not in ORDERS:
        raise SceneError.at(f"unknown ambisonic format {source!r}; known: "
                            f"{', '.join(AMBISONIC_FORMATS)}", key=key)
    return ORDERS[source]


def _target_layout(target: str, key: str = "to"):
    from spatial.filters.layouts import get_layout
    from spatial.scene.parts import Output

    if target not in TARGETS:
        raise SceneError.at(f"unknown decoding target {target!r}; known: {', '.join(TARGETS)}",
                            key=key)
    return get_layout(Output(format=target))


class Decoder:
    """The decoding of one (source format, target, rate, yaw, HRTF): built once, then
    fed blocks (n, C_in) -> blocks (n, C_out), carrying the convolution's overlap."""

    def __init__(self, source: str, target: str, sample_rate: int, hrtf="default",
                 yaw: float = 0.0, hrtf_eq: str = "diffuse-field", covariance: bool = False,
                 keys: dict | None = None):
        keys = {"from": "from_", "to": "to", "yaw": "yaw", "hrtf": "hrtf", **(keys or {})}
        self.order = _order(source, keys["from"])
        self.layout = _target_layout(target, keys["to"])
        self.target = target
        self.fs = int(sample_rate)
        if not math.isfinite(float(yaw)):
            raise SceneError.at(f"yaw must be a finite number of degrees, got {yaw}",
                                key=keys["yaw"])
        if target != "binaural" and hrtf not in (None, "default"):
            raise SceneError.at(f"an HRTF set applies only to binaural decoding, not to "
                                f"{target}", key=keys["hrtf"])
        from spatial.decoding.rotation import yaw_matrix

        self.n_in = (self.order + 1) ** 2
        rot = yaw_matrix(self.order, yaw)
        if target == "binaural":
            from spatial.decoding.magls import decoder_filters
            from spatial.filters.hrtf import load_hrtf

            filters, self.lead = decoder_filters(load_hrtf(hrtf or "default", self.fs,
                                                           eq=hrtf_eq),
                                                 self.order, covariance=covariance)
            self.filters = np.einsum("cet,cd->det", filters, rot)  # rotation first
            self.taps = self.filters.shape[-1]
            self.matrix = None
            from scipy import fft

            self._n_fft = fft.next_fast_len(BLOCK + self.taps - 1, real=True)
            self._spec = fft.rfft(self.filters, self._n_fft, axis=-1)  # (C, 2, F)
            self._tail = np.zeros((self.taps - 1, 2))
        else:
            from spatial.decoding.allrad import allrad_matrix

            self.matrix = allrad_matrix(self.layout, self.order) @ rot  # (C_out, C_in)
            self.taps, self.lead = 1, 0
        self._skip = self.lead  # output samples still to drop (the filters' lead)

    @property
    def n_out(self) -> int:
        return len(self.layout.channels)

    def process(self, block: np.ndarray) -> np.ndarray:
        """(n, C_in) float -> (n, C_out) float64 (n <= BLOCK for binaural)."""
        x = np.asarray(block, float)
        if self.matrix is not None:
            return x @ self.matrix.T
        from scipy import fft

        n = len(x)
        spec = fft.rfft(x.T, self._n_fft, axis=-1)  # (C, F)
        y = fft.irfft(np.einsum("cf,cef->ef", spec, self._spec), self._n_fft, axis=-1)
        y = y[:, :n + self.taps - 1].T  # (n + T - 1, 2)
        y[:self.taps - 1] += self._tail  # n >= 1: y is at least taps long
        self._tail = y[n:].copy()  # what is not yet due: the next block's start
        return self._drop(y[:n])

    def _drop(self, y: np.ndarray) -> np.ndarray:
        k = min(self._skip, len(y))
        self._skip -= k
        return y[k:]

    def flush(self) -> np.ndarray:
        """The ring-out after the last block (empty for speakers): in all, the output
        is the input's length + taps - 1 - lead."""
        if self.matrix is not None:
            return np.zeros((0, self.n_out))
        out, self._tail = self._tail, np.zeros((self.taps - 1, 2))
        return self._drop(out)


def _check_channels(n: int, source: str, order: int, what, key: str) -> None:
    want = (order + 1) ** 2
    if n != want:
        raise SceneError.at(f"{n} channel{'s' if n != 1 else ''}, but {source} has {want} "
                            f"(AmbiX order {order})", file=what, key=key)


def decode(audio, sample_rate: int, from_: str, to: str, hrtf="default", yaw: float = 0.0,
           hrtf_eq: str = "diffuse-field", covariance: bool = False) -> Decoded:
    """AmbiX audio (n, (order+1)^2) of format `from_` (foa, hoa2, hoa3) -> Decoded to
    `to` (binaural, stereo, 5.1, 7.1, 5.1.4, 7.1.4). hrtf: "default" or a SOFA file
    (binaural only); yaw: degrees the listener's head is turned (+ = to the left);
    covariance: MagLS's diffuse-field covariance constraint (off by default)."""
    x = np.asarray(audio, float)
    x = x[:, None] if x.ndim == 1 else x
    dec = Decoder(from_, to, sample_rate, hrtf, yaw, hrtf_eq, covariance)
    _check_channels(x.shape[1], from_, dec.order, None, "audio")
    parts = [dec.process(x[i:i + BLOCK]) for i in range(0, len(x), BLOCK)] + [dec.flush()]
    out = np.concatenate(parts).astype(np.float32)
    return Decoded(out, int(sample_rate), to, dec.layout)


def decode_file(infile, outfile, from_: str, to: str, hrtf="default", yaw: float = 0.0,
                subtype: str | None = None, hrtf_eq: str = "diffuse-field",
                covariance: bool = False, keys: dict | None = None) -> dict:
    """Decode an AmbiX file to `outfile` (.wav or .flac), block by block, atomically.
    Returns {"path", "frames", "sample_rate", "channels" (names), "format"}.
    keys: the names problems are reported under (the CLI passes its flags)."""
    import soundfile as sf

    from spatial.writer import check_output, open_output

    keys = {"from": "from_", "to": "to", "output": "outfile", **(keys or {})}
    infile, outfile = Path(infile), Path(outfile)
    order = _order(from_, keys["from"])
    layout = _target_layout(to, keys["to"])
    if not infile.is_file():
        raise SceneError.at("cannot read audio file: "
                            + ("it is a folder" if infile.is_dir() else "no such file"),
                            file=infile)
    try:
        info = sf.info(str(infile))
    except Exception as err:  # libsndfile's messages: unknown format, ...
        reason = str(err).replace(str(infile), "").replace("Error opening ''", "")
        reason = " ".join(reason.split()).strip(" :'\".")
        raise SceneError.at(f"cannot read audio file ({reason or type(err).__name__})",
                            file=infile) from None
    _check_channels(info.channels, from_, order, infile, keys["from"])
    try:
        same = outfile.resolve() == infile.resolve()
    except OSError:
        same = False
    if same:
        raise SceneError.at(f"the output would overwrite the input {infile}",
                            key=keys["output"])
    fs = int(info.samplerate)
    check_output(outfile, fs, len(layout.channels), subtype, info.frames)  # before any work
    dec = Decoder(from_, to, fs, hrtf, yaw, hrtf_eq, covariance, keys)
    total = info.frames + dec.taps - 1 - dec.lead
    frames = 0
    with open_output(outfile, fs, dec.n_out, subtype, layout.mask, frames_hint=total) as out:
        try:
            with sf.SoundFile(str(infile)) as f:
                for block in f.blocks(BLOCK, dtype="float64", always_2d=True):
                    y = dec.process(block)
                    out.write(y.astype(np.float32))
                    frames += len(y)
        except (RuntimeError, sf.LibsndfileError) as err:
            raise SceneError.at(f"cannot read audio file ({err})", file=infile) from None
        tail = dec.flush()
        if len(tail):
            out.write(tail.astype(np.float32))
            frames += len(tail)
    return {"path": outfile, "frames": frames, "sample_rate": fs, "channels": layout.names,
            "format": to}
