"""The validated scene: a frozen dataclass whose field names are the scene-file keys;
its parts (Room, Listener, Source, ...) are in :mod:`spatial.scene.parts`.

Built by :mod:`spatial.scene.loader` from a scene file (:func:`build`), or in code.
Change a scene with :meth:`Scene.with_source` / :meth:`Scene.move_source` /
:meth:`Scene.with_output` / :func:`dataclasses.replace`; each returns a new scene.

Every Scene is checked when it is made, however it is made: the scene is turned
back into the tree a scene file would give and run through the file's own checks
(:func:`check_scene`, with :mod:`spatial.scene.validate`), so a bad value set in
code raises the same :class:`~spatial.errors.SceneError` a scene file would, naming
the key (``sources[0].gain_db: expected a number, got 'loud'``). The parts are
checked when they are put in a Scene. Values are normalised on the way (tuples of
floats, absolute paths: relative paths resolve against the scene file's folder, or
the working directory for a scene built from scratch).

The checks build parts, never the Scene (they return its fields): the Scene is
made here, so this module imports the checks and not the other way round.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from spatial.errors import Problem, SceneError
from spatial.scene import tree, validate
from spatial.scene.parts import Listener, Mix, Output, Room, Source, checked, checking
from spatial.scene.yamlnodes import Node, closest, locations

NOT_A_KEY = {"scene_key": False}  # field metadata: not a scene-file key (tree.plain)


@dataclass(frozen=True)
class Scene:
    listener: Listener
    sources: tuple[Source, ...]
    output: Output = field(default_factory=Output)
    room: Room | None = None  # None: free field, direct sound only
    sample_rate: int = 48000  # Hz
    duration: float | None = None  # s; None: until the last source ends
    seed: int = 0
    path: Path | None = field(default=None, metadata=NOT_A_KEY)  # the scene file, if any
    # key path ("output.hrtf", "sources[0].file") -> (file, 1-based line), filled by the
    # loader so problems found later (at render time) still point into the scene file;
    # the with_* methods point the keys they change at their call instead
    locations: dict = field(default_factory=dict, compare=False, repr=False, metadata=NOT_A_KEY)
    # key path -> (value, location) as loaded: a key changed in code since (e.g. with
    # dataclasses.replace) no longer takes the blame from its line in the file
    loaded: dict = field(default_factory=dict, compare=False, repr=False, metadata=NOT_A_KEY)
    mix: Mix = field(default_factory=Mix)  # buses, ducking, dialogue (spatial.mix)

    def __post_init__(self):
        if not checking():
            return
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

    def add_source(self, source: Source | None = None, /, **keys) -> "Scene":
        """A copy with one more source, last: a Source, or its keys as for with_source
        (name and file required), e.g. ``add_source(name="door", file="door.wav",
        position=[1, 2, 1.5])``. Raises SceneError naming the argument."""
        if source is None:
            _check_keywords("add_source()", Source, keys)
            try:
                with checked():
                    source = Source(**keys)
            except TypeError as err:
                raise SceneError(Problem(f"{err}".replace("__init__()", "a source"),
                                         "add_source()")) from None
        elif keys:
            raise SceneError(Problem("give a Source or its keys, not both", "add_source()"))
        i = len(self.sources)
        calls = {f"sources[{i}]": "add_source(...)"}
        locations = dict(self.locations) | {k: (v, None) for k, v in calls.items()}
        return dataclasses.replace(self, sources=self.sources + (source,), locations=locations)

    def remove_source(self, name: str, /) -> "Scene":
        """A copy without source `name` (the scene must keep at least one)."""
        names = [s.name for s in self.sources]
        if name not in names:
            guess = closest(name, names) if isinstance(name, str) else None
            hint = f"did you mean {guess!r}? " if guess else ""
            raise SceneError(Problem(f"no source named {name!r} ({hint}the scene has "
                                     f"{', '.join(map(repr, names))})",
                                     f"remove_source({name!r})"))
        i = names.index(name)
        with checked():  # the key paths of the sources after it move up one
            scene = dataclasses.replace(
                self, sources=self.sources[:i] + self.sources[i + 1:],
                locations=_shifted(self.locations, i), loaded=_shifted(self.loaded, i))
        return dataclasses.replace(scene)  # checked, with the shifted locations

    def save(self, path) -> Path:
        """Write the scene as a YAML scene file (its paths absolute); loading that file
        gives a scene equal to this one but for `path` (spatial.scene.tree.save)."""
        return tree.save(self, path)

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


def _shifted(keyed: dict, removed: int) -> dict:
    """Key paths of a dict with source `removed` gone: sources[j] -> sources[j-1] after it."""
    import re

    out = {}
    for key, value in keyed.items():
        m = re.match(r"sources\[(\d+)\]", key)
        if m is None:
            out[key] = value
        elif int(m.group(1)) != removed:
            j = int(m.group(1))
            out[f"sources[{j - 1 if j > removed else j}]{key[m.end():]}"] = value
    return out


def _check_keywords(call: str, cls, changes: dict) -> None:
    known = [f.name for f in dataclasses.fields(cls)]
    problems = []
    for key in changes:
        if key not in known:
            guess = closest(key, known)
            hint = f"did you mean {guess!r}?" if guess else f"known: {', '.join(known)}"
            problems.append(Problem(f"unknown keyword {key!r} ({hint})", call))
    if problems:
        raise SceneError(problems)


def build(root: Node, problems: list[Problem], path: Path | None,
          room_complete: bool = True, complete: bool = True) -> Scene | None:
    """Validate the merged tree; returns the Scene, or None if problems were found.
    room_complete=False: the room's preset (or base) failed, do not ask for its keys;
    complete=False: the base scene failed, do not ask for required keys at all."""
    locs = locations(root)
    default_file = str(path) if path is not None else root.file
    fields = validate.scene_fields(root, problems, path, locs, default_file, room_complete,
                                   complete)
    if fields is None:
        return None
    with checked():
        scene = Scene(**fields)
    # remember what was loaded, to tell keys changed in code later
    values = tree.flat(tree.plain(scene))
    object.__setattr__(scene, "loaded", {k: (v, locs.get(k)) for k, v in values.items()})
    return scene


def check_scene(scene: Scene) -> Scene:
    """The scene with its values checked and normalised exactly as a scene file's would
    be (tuples of floats, absolute paths, materials per face and band).

    For scenes made or changed in code; raises SceneError naming each bad key, at
    its call (with_source, ...), its line in the scene file if it still has the value
    it was loaded with, or no location."""
    locs = tree.fresh_locations(scene)
    if scene.path is not None:
        base_dir = Path(scene.path).expanduser().resolve().parent
    else:
        base_dir = Path.cwd()
    root = tree.scene_tree(scene, locs, base_dir)
    problems: list[Problem] = []
    fields = validate.scene_fields(root, problems, scene.path, locs, None)
    if problems or fields is None:
        raise SceneError(problems or [Problem("invalid scene")])
    with checked():
        return Scene(**{**fields, "path": scene.path, "locations": locs, "loaded": scene.loaded})
