"""The parts of a scene (Room, Listener, Source, Output, Mix ...) and the key
vocabularies (roles, faces, room models): frozen dataclasses whose field names are
the scene-file keys, checked when they are put in a :class:`~spatial.scene.model.Scene`.

Below both the checks (:mod:`spatial.scene.validate`, which builds these) and the
Scene (:mod:`spatial.scene.model`, which runs the checks), so the two need not
import each other.

Conventions (stable contracts):
- coordinates in metres, right-handed, z up; a shoebox spans (0,0,0)..dimensions;
- listener yaw in degrees, 0 faces +x, 90 faces +y;
- faces of a shoebox: west x=0, east x=Lx, south y=0, north y=Ly, floor z=0,
  ceiling z=Lz (pyroomacoustics' names);
- per-band values are over :data:`spatial.bands.BANDS_HZ` (125 Hz .. 8 kHz).
"""
from __future__ import annotations

import contextlib
import dataclasses
import contextvars
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("dialogue", "music", "ambience", "effects")
FACES = ("west", "east", "south", "north", "floor", "ceiling")
ROOM_MODELS = ("image-source", "ray-tracing")
DECAY_FORMULAS = ("eyring", "sabine")

Vec3 = tuple[float, float, float]
Bands = tuple[float, ...]  # 7 values, one per octave band 125 Hz .. 8 kHz

# set while the validator builds scenes from values it has just checked
_CHECKED = contextvars.ContextVar("spatial_scene_checked", default=False)


@contextlib.contextmanager
def checked():
    """Build scenes without checking them again (for the validator only)."""
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def checking() -> bool:
    """Whether scenes made now should be checked (not inside :func:`checked`)."""
    return not _CHECKED.get()


@dataclass(frozen=True)
class Room:
    """A shoebox room. Materials are energy absorption per face and band."""

    dimensions: Vec3  # m, (x, y, z)
    rt60: float | None = None  # s; target; when set, absorption is derived from it
    # face -> 7 band values in (0, 1]; in code also a material name or one coefficient,
    # per face or for "walls", as in a scene file
    materials: dict[str, Bands] | None = None
    scattering: float = 0.1  # used by ray tracing only
    air_absorption: bool = True
    model: str = "image-source"  # or "ray-tracing" (tail decay from pra's ray tracer)
    decay: str = "eyring"  # decay of the tail from the absorption
    max_order: int | None = None  # image-source order; None: enough to cover crossover
    crossover: float = 0.08  # s; early/late crossover, after emission
    tail_gain_db: float = 0.0  # dB; tail character: level trim of the late tail
    preset: str | None = None  # name of the preset it came from (a label, for reports)
    unphysical: bool = False  # allow a room smaller than a head, or an impossible rt60

    @property
    def volume_m3(self) -> float:
        x, y, z = self.dimensions
        return x * y * z

    def contains(self, point: Vec3) -> bool:
        return all(0.0 < p < d for p, d in zip(point, self.dimensions))


@dataclass(frozen=True)
class Keyframe:
    """One keyframe of a path (spatial.trajectory): where an object is at time t."""

    t: float  # s, on the scene's timeline
    position: Vec3  # m
    yaw: float | None = None  # degrees (listener keyframes only); None: the listener's yaw


@dataclass(frozen=True)
class Listener:
    position: Vec3 | None = None  # m; None when `path` gives it
    yaw: float = 0.0  # degrees; 0 faces +x, 90 faces +y
    path: tuple[Keyframe, ...] | None = None  # moving/turning listener (spatial.trajectory)
    interpolation: str = "spline"  # between keyframes: "linear" | "spline"


@dataclass(frozen=True)
class Source:
    name: str
    file: Path  # made absolute when the scene is built (see the module doc)
    position: Vec3 | None = None  # m; None only for non-diegetic beds
    role: str = "effects"
    gain_db: float = 0.0  # dB
    start: float = 0.0  # s, on the scene's timeline
    diegetic: bool = True  # False: a bed, played straight to the output
    path: tuple[Keyframe, ...] | None = None  # a moving source, instead of position
    interpolation: str = "spline"  # between keyframes: "linear" | "spline"
    doppler: bool = True  # False: propagation delay frozen at its starting value
    # passages between the room and a head-locked bed (spatial.mix.transitions)
    transitions: tuple["Transition", ...] = ()
    label: str | None = None  # its class in SELD labels (spatial.batch.labels); None: role


@dataclass(frozen=True)
class Transition:
    """A source passing between diegetic (in the room) and non-diegetic (a bed)."""

    at: float  # s, start of the crossfade on the scene's timeline
    to: str  # "diegetic" | "non-diegetic"
    over: float = 1.0  # s, length of the equal-power crossfade


@dataclass(frozen=True)
class Speaker:
    name: str
    azimuth: float  # degrees, counter-clockwise from the front, +90 is the left
    elevation: float = 0.0  # degrees


@dataclass(frozen=True)
class Adm:
    """output.adm: an ADM BW64 master's own keys (format adm, spatial.adm)."""

    room: str = "hoa3"  # the room's reflections and tail as one bed: hoa3 | 7.1.4 | none


@dataclass(frozen=True)
class Output:
    format: str = "binaural"  # one of spatial.filters.formats.FORMATS, or several: "a,b"
    hrtf: str = "default"  # "default" or a path to a SimpleFreeFieldHRIR SOFA file
    hrtf_eq: str = "diffuse-field"  # HRTF equalisation: "diffuse-field" | "none" (raw set)
    speakers: tuple[Speaker, ...] | None = None  # for format "custom"
    lfe: tuple[str, ...] = ()  # roles fed (low-passed at 120 Hz) to the LFE
    loudness: float | None = None  # LUFS integrated target (a preset sets it and true_peak)
    true_peak: float | None = None  # dBTP ceiling of the look-ahead limiter
    stems: bool = False  # also write one file per bus (out.<role>.wav)
    adm: "Adm" = field(default_factory=lambda: Adm())  # an ADM master's keys (spatial.adm)

    @property
    def adm_room(self) -> str:
        """output.adm.room: the room bed of an ADM master (hoa3 | 7.1.4 | none)."""
        return self.adm.room

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats rendered (several in one pass: "binaural,5.1" or a list in the file)."""
        return tuple(self.format.split(","))

    def single(self, fmt: str) -> "Output":
        """This output with one of its formats only."""
        return dataclasses.replace(self, format=fmt,
                                   speakers=self.speakers if fmt == "custom" else None)


@dataclass(frozen=True)
class Ducking:
    """Buses `duck` dip by depth_db while the `under` bus is above threshold_db (RMS)."""

    under: str = "dialogue"
    duck: tuple[str, ...] = ("music", "ambience")
    depth_db: float = 8.0  # dB
    attack: float = 0.05  # s to reach the full depth
    release: float = 0.5  # s to recover from it
    threshold_db: float = -50.0  # dBFS, RMS of the side-chain bus in 10 ms frames


@dataclass(frozen=True)
class Mix:
    """Buses by role after spatialisation, before the master (spatial.mix)."""

    buses: dict[str, float] = field(default_factory=dict)  # role -> gain dB
    ducking: Ducking | None = None
    dialogue_enhancement: float = 0.0  # dB on the dialogue bus against the rest
    dialogue_center: float = 0.0  # 0..1: share of dialogue's direct path in C
