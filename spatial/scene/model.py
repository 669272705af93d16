"""The validated scene: frozen dataclasses whose field names are the scene-file keys.

Built by :mod:`spatial.scene.loader` from a scene file, or in code. Change a
scene with :meth:`Scene.with_source` / :meth:`Scene.move_source` /
:meth:`Scene.with_output` / :func:`dataclasses.replace`; each returns a new scene.

Every Scene is checked when it is made, however it is made: the scene is turned
back into the tree a scene file would give and run through the file's own checks
(:func:`spatial.scene.validate.check_scene`), so a bad value set in code raises
the same :class:`~spatial.errors.SceneError` a scene file would, naming the key
(``sources[0].gain_db: expected a number, got 'loud'``). The parts (Room, Source,
...) are checked when they are put in a Scene. Values are normalised on the way
(tuples of floats, absolute paths: relative paths resolve against the scene
file's folder, or the working directory for a scene built from scratch).

Conventions (stable contracts):
- coordinates in metres, right-handed, z up; a shoebox spans (0,0,0)..dimensions;
- listener yaw in degrees, 0 faces +x, 90 faces +y;
- faces of a shoebox: west x=0, east x=Lx, south y=0, north y=Ly, floor z=0,
  ceiling z=Lz (pyroomacoustics' names);
- per-band values are over :data:`spatial.bands.BANDS_HZ` (125 Hz .. 8 kHz).
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
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
class Output:
    format: str = "binaural"  # binaural | mono | stereo | 5.1 | 7.1 | 5.1.4 | 7.1.4 | foa | hoa2 | hoa3 | custom
    hrtf: str = "default"  # "default" or a path to a SimpleFreeFieldHRIR SOFA file
    hrtf_eq: str = "diffuse-field"  # HRTF equalisation: "diffuse-field" | "none" (raw set)
    speakers: tuple[Speaker, ...] | None = None  # for format "custom"
    lfe: tuple[str, ...] = ()  # roles fed (low-passed at 120 Hz) to the LFE
    loudness: float | None = None  # LUFS integrated target (a preset sets it and true_peak)
    true_peak: float | None = None  # dBTP ceiling of the look-ahead limiter
    stems: bool = False  # also write one file per bus (out.<role>.wav)

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


@dataclass(frozen=True)
class Scene:
    listener: Listener
    sources: tuple[Source, ...]
    output: Output = field(default_factory=Output)
    room: Room | None = None  # None: free field, direct sound only
    sample_rate: int = 48000  # Hz
    duration: float | None = None  # s; None: until the last source ends
    seed: int = 0
    path: Path | None = None  # the scene file, if it came from one
    # key path ("output.hrtf", "sources[0].file") -> (file, 1-based line), filled by the
    # loader so problems found later (at render time) still point into the scene file;
    # the with_* methods point the keys they change at their call instead
    locations: dict = field(default_factory=dict, compare=False, repr=False)
    # key path -> (value, location) as loaded: a key changed in code since (e.g. with
    # dataclasses.replace) no longer takes the blame from its line in the file
    loaded: dict = field(default_factory=dict, compare=False, repr=False)
    mix: Mix = field(default_factory=Mix)  # buses, ducking, dialogue (spatial.mix)

    def __post_init__(self):
        if _CHECKED.get():
            return
        from spatial.scene.validate import check_scene

        good = check_scene(self)  # raises SceneError
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, getattr(good, f.name))

    def where(self, key: str) -> dict:
        """file/line/key keyword arguments for a Problem about `key`."""
        file, line = self.locations.get(key, (str(self.path) if self.path else None, None))
        return {"file": file, "line": line, "key": key}

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r}; the scene has {[s.name for s in self.sources]}")

    def with_source(self, name: str, /, **changes) -> "Scene":
        """A copy with source `name` changed: keywords are the source keys of a scene
        file (name, file, position, role, gain_db, start, diegetic), e.g.
        ``with_source("line1", gain_db=-3, start=2.5)``. A relative `file` resolves
        against the scene file's folder. Raises SceneError naming the argument."""
        return self._change_source("with_source", name, changes)

    def move_source(self, name: str, /, position) -> "Scene":
        """A copy with source `name` at `position` ([x, y, z] in metres)."""
        return self._change_source("move_source", name, {"position": position})

    def with_output(self, **changes) -> "Scene":
        """A copy with output keys changed (format, hrtf, speakers, lfe, ...), e.g.
        ``with_output(format="5.1", lfe=["effects"])``."""
        _check_keywords("with_output()", Output, changes)
        calls = {f"output.{k}": f"with_output({k}=...)" for k in changes}
        output = dataclasses.replace(self.output, **changes)
        return dataclasses.replace(self, output=output,
                                   locations=self._pointed(calls, "output", changes))

    def _change_source(self, method: str, name: str, changes: dict) -> "Scene":
        names = [s.name for s in self.sources]
        if name not in names:
            from spatial.errors import Problem, SceneError
            from spatial.scene.yamlnodes import closest

            guess = closest(name, names) if isinstance(name, str) else None
            hint = f"did you mean {guess!r}? " if guess else ""
            raise SceneError(Problem(f"no source named {name!r} ({hint}the scene has "
                                     f"{', '.join(map(repr, names))})", f"{method}({name!r})"))
        _check_keywords(f"{method}({name!r}, ...)", Source, changes)
        i = names.index(name)
        calls = {f"sources[{i}].{k}": f"{method}({name!r}, {k}=...)" for k in changes}
        sources = tuple(dataclasses.replace(s, **changes) if j == i else s
                        for j, s in enumerate(self.sources))
        return dataclasses.replace(self, sources=sources,
                                   locations=self._pointed(calls, f"sources[{i}]", changes))

    def _pointed(self, calls: dict, parent: str, changes: dict) -> dict:
        """Locations with each changed key (and the keys below it) pointing at its call;
        a key set to None is reported at its parent (e.g. a missing position), so the
        parent points at that call too."""
        out = {k: v for k, v in self.locations.items()
               if not any(k == c or k.startswith((c + ".", c + "[")) for c in calls)}
        out.update({k: (call, None) for k, call in calls.items()})
        for key, value in changes.items():
            if value is None:
                out[parent] = calls[f"{parent}.{key}"], None
        return out


def _check_keywords(call: str, cls, changes: dict) -> None:
    from spatial.errors import Problem, SceneError
    from spatial.scene.yamlnodes import closest

    known = [f.name for f in dataclasses.fields(cls)]
    problems = []
    for key in changes:
        if key not in known:
            guess = closest(key, known)
            hint = f"did you mean {guess!r}?" if guess else f"known: {', '.join(known)}"
            problems.append(Problem(f"unknown keyword {key!r} ({hint})", call))
    if problems:
        raise SceneError(problems)
