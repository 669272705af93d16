"""Small builders shared by the render-level tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from spatial.scene.model import Scene

from spatial.scene.parts import Listener, Output, Room, Source

FS = 48000
ROOMS = {  # target rt60 (s) -> (dimensions, listener, source), metres: the test rooms
    0.3: ((6.0, 5.0, 3.0), (2.5, 2.0, 1.6), (4.5, 3.2, 1.4)),
    0.8: ((10.0, 7.0, 3.5), (4.0, 3.0, 1.6), (7.5, 4.5, 1.5)),
    1.5: ((20.0, 14.0, 8.0), (8.0, 6.0, 1.7), (14.0, 9.0, 2.0)),
}
GOOD_SCENE = """\
sample_rate: 48000
room:
  dimensions: [6, 5, 3]
  rt60: 0.3
listener:
  position: [3, 2.5, 1.6]
  yaw: 0
sources:
  - name: a
    role: dialogue
    file: a.wav
    position: [4, 2.5, 1.6]
output:
  format: binaural
"""


def noise_file(path: Path, seconds: float = 1.0, fs: int = FS, channels: int = 1,
               seed: int = 1, subtype: str = "FLOAT") -> Path:
    """White noise at 0.1 RMS, `channels` channels, written with libsndfile's `subtype`."""
    rng = np.random.default_rng(seed)
    sf.write(str(path), 0.1 * rng.standard_normal((int(seconds * fs), channels)), fs,
             subtype=subtype)
    return path


def impulse_file(path: Path, fs: int = FS) -> Path:
    x = np.zeros(fs // 10)
    x[0] = 1.0
    sf.write(str(path), x, fs, subtype="FLOAT")
    return path


def scene(file: Path, position, listener=(0.0, 0.0, 0.0), yaw=0.0, fmt="binaural",
          room: Room | None = None, **kw) -> Scene:
    return Scene(listener=Listener(tuple(listener), yaw),
                 sources=(Source("s", Path(file), tuple(float(v) for v in position)),),
                 output=Output(format=fmt), room=room, sample_rate=FS, **kw)


def polar(azimuth_deg: float, distance: float = 2.0, elevation_deg: float = 0.0, centre=(0, 0, 0)):
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return (centre[0] + distance * np.cos(el) * np.cos(az),
            centre[1] + distance * np.cos(el) * np.sin(az),
            centre[2] + distance * np.sin(el))


def schroeder_t30(ir: np.ndarray, fs: int, band_hz: float) -> float:
    """Reverberation time (s) from the -5..-35 dB slope of the Schroeder backward
    integral of `ir` filtered to the octave band around band_hz (ISO 3382)."""
    from scipy import signal

    lo, hi = band_hz / np.sqrt(2), band_hz * np.sqrt(2)
    sos = signal.butter(4, [lo, hi], "bandpass", fs=fs, output="sos")
    x = signal.sosfiltfilt(sos, np.asarray(ir, float))
    edc = np.cumsum((x ** 2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-300)
    i5 = int(np.argmax(edc_db <= -5.0))
    i35 = int(np.argmax(edc_db <= -35.0))
    if i35 <= i5:
        raise AssertionError("decay does not reach -35 dB: impulse response truncated?")
    t = np.arange(i5, i35) / fs
    slope = np.polyfit(t, edc_db[i5:i35], 1)[0]  # dB per second
    return -60.0 / slope


def fibonacci_sphere(n: int) -> np.ndarray:
    """n directions spread evenly (equal solid angle each) over the sphere, (n, 3)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0 ** 0.5) * i
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def planned_signal(p, inp, fs: int = FS) -> np.ndarray:
    """Planned input `inp` of plan p as one whole signal at the scene rate fs (its
    file read at once, downmixed for a point source, resampled, gained and placed at its
    start): the independent input of the whole-signal references."""
    import soxr

    st = p.streams[inp.stream]
    data, fs_in = sf.read(str(st.info.path), dtype="float64", always_2d=True)
    if st.mono:
        data = data.mean(axis=1, keepdims=True)
    if fs_in != fs:
        data = soxr.resample(data, fs_in, fs, quality="VHQ")
    x = np.zeros(p.length)
    seg = st.gain * data[:, inp.channel][:max(p.length - inp.start, 0)]
    x[inp.start:inp.start + seg.size] = seg
    return x
