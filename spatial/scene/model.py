"""The validated scene: frozen dataclasses, units in the field names.

Built by :mod:`spatial.scene.loader` from a scene file, or in code. Change a
scene with :meth:`Scene.with_source` / :meth:`Scene.move_source` /
:func:`dataclasses.replace`; each returns a new scene.

Conventions (stable contracts):
- coordinates in metres, right-handed, z up; a shoebox spans (0,0,0)..dimensions;
- listener yaw in degrees, 0 faces +x, 90 faces +y;
- faces of a shoebox: west x=0, east x=Lx, south y=0, north y=Ly, floor z=0,
  ceiling z=Lz (pyroomacoustics' names);
- per-band values are over :data:`spatial.bands.BANDS_HZ` (125 Hz .. 8 kHz).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("dialogue", "music", "ambience", "effects")
FACES = ("west", "east", "south", "north", "floor", "ceiling")
ROOM_MODELS = ("image-source", "ray-tracing")
DECAY_FORMULAS = ("eyring", "sabine")

Vec3 = tuple[float, float, float]
Bands = tuple[float, ...]  # 7 values, one per octave band 125 Hz .. 8 kHz


@dataclass(frozen=True)
class Room:
    """A shoebox room. Absorption is energy absorption per face and band."""

    dimensions: Vec3
    rt60: float | None = None  # target; when set, absorption is derived from it
    absorption: dict[str, Bands] | None = None  # face -> 7 band values in (0, 1]
    scattering: float = 0.1  # used by ray tracing only
    air_absorption: bool = True
    model: str = "image-source"  # or "ray-tracing" (tail decay from pra's ray tracer)
    decay: str = "eyring"  # decay of the tail from the absorption
    max_order: int | None = None  # image-source order; None: enough to cover crossover
    crossover: float = 0.08  # early/late crossover, seconds after emission
    tail_gain_db: float = 0.0  # tail character: level trim of the late tail
    preset: str | None = None  # name of the preset it came from, for reports

    @property
    def volume_m3(self) -> float:
        x, y, z = self.dimensions
        return x * y * z

    def contains(self, point: Vec3) -> bool:
        return all(0.0 < p < d for p, d in zip(point, self.dimensions))


@dataclass(frozen=True)
class Listener:
    position: Vec3
    yaw: float = 0.0


@dataclass(frozen=True)
class Source:
    name: str
    file: Path  # absolute, or relative to the working directory
    position: Vec3 | None = None  # None only for non-diegetic beds
    role: str = "effects"
    gain_db: float = 0.0
    start: float = 0.0
    diegetic: bool = True  # False: a bed, played straight to the output


@dataclass(frozen=True)
class Speaker:
    name: str
    azimuth: float  # counter-clockwise from the front, +90 is the left
    elevation: float = 0.0


@dataclass(frozen=True)
class Output:
    format: str = "binaural"  # binaural | mono | stereo | 5.1 | 7.1 | 5.1.4 | 7.1.4 | foa | hoa2 | hoa3 | custom
    hrtf: str = "default"  # "default" or a path to a SimpleFreeFieldHRIR SOFA file
    speakers: tuple[Speaker, ...] | None = None  # for format "custom"
    lfe: tuple[str, ...] = ()  # roles fed (low-passed at 120 Hz) to the LFE


@dataclass(frozen=True)
class Scene:
    listener: Listener
    sources: tuple[Source, ...]
    output: Output = field(default_factory=Output)
    room: Room | None = None  # None: free field, direct sound only
    sample_rate: int = 48000
    duration: float | None = None  # None: until the last source ends
    seed: int = 0
    path: Path | None = None  # the scene file, if it came from one
    # key path ("output.hrtf", "sources[0].file") -> (file, 1-based line), filled by the
    # loader so problems found later (at render time) still point into the scene file
    locations: dict = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> dict:
        """file/line/key keyword arguments for a Problem about `key`."""
        file, line = self.locations.get(key, (str(self.path) if self.path else None, None))
        return {"file": file, "line": line, "key": key}

    def source(self, name: str) -> Source:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"no source named {name!r}; the scene has {[s.name for s in self.sources]}")

    def with_source(self, name: str, **changes) -> "Scene":
        """A copy with source `name` changed, e.g. ``with_source("line1", gain_db=-3)``."""
        self.source(name)  # raises KeyError with the known names
        if "file" in changes:
            changes["file"] = Path(changes["file"])
        if "position" in changes and changes["position"] is not None:
            changes["position"] = tuple(float(v) for v in changes["position"])
        sources = tuple(dataclasses.replace(s, **changes) if s.name == name else s
                        for s in self.sources)
        return dataclasses.replace(self, sources=sources)

    def move_source(self, name: str, position) -> "Scene":
        return self.with_source(name, position=position)

    def with_output(self, **changes) -> "Scene":
        return dataclasses.replace(self, output=dataclasses.replace(self.output, **changes))
