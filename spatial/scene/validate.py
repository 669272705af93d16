"""Check a merged scene tree (:class:`~spatial.scene.yamlnodes.Node`) key by key
and build the parts (:mod:`spatial.scene.parts`) and the fields of the frozen
:class:`~spatial.scene.model.Scene`, which the model makes (so the model imports
the checks and the checks never import the model).

Every problem is collected (file, 1-based line, key path) and raised together
as one SceneError by the caller, so a sound designer fixes a file in one pass.

Scenes made in code go through the same checks:
:func:`spatial.scene.model.check_scene` turns a Scene back into the tree its scene
file would have given (:func:`spatial.scene.tree.scene_tree`) and builds it again,
so the messages are the file's, naming the key. Where the listener and sources are
in the room is checked in :mod:`spatial.scene.placement`.

Bounds (:mod:`spatial.scene.limits` for those shared with other checks) are what
the renderer can render correctly in reasonable time and memory: gains within
-200..+60 dB, rooms and positions within 1 km, rt60 within the tail's 0.05..30 s,
crossover up to 1 s, image order up to 30, times up to 24 h.
"""
from __future__ import annotations

from pathlib import Path

from spatial.errors import Problem, SceneError
from spatial.filters.formats import FORMATS
from spatial.scene.limits import GAIN_DB_RANGE, MAX_EXTENT_M, MAX_TIME_S
from spatial.scene.parts import (DECAY_FORMULAS, FACES, ROLES, ROOM_MODELS, Adm, Listener,
                                 Output, Room, Source, Speaker)
from spatial.scene.placement import geometry_problems
from spatial.scene.yamlnodes import Checker, Node, closest, show

TOP_KEYS = ("sample_rate", "duration", "seed", "extends", "room", "listener", "sources", "output",
            "mix")
ROOM_KEYS = ("preset", "dimensions", "rt60", "materials", "air_absorption", "model", "decay",
             "max_order", "crossover", "tail_gain_db", "scattering", "unphysical")
SURFACE_KEYS = ("walls",) + FACES
WALL_FACES = ("west", "east", "south", "north")
LISTENER_KEYS = ("position", "yaw", "path", "interpolation")
SOURCE_KEYS = ("name", "role", "file", "position", "gain_db", "start", "diegetic", "transitions",
               "path", "interpolation", "doppler", "label")
OUTPUT_KEYS = ("format", "hrtf", "hrtf_eq", "speakers", "lfe", "loudness", "true_peak", "stems",
               "adm")
SPEAKER_KEYS = ("name", "azimuth", "elevation")
SAMPLE_RATE_RANGE = (8000, 192000)
AIR_ABSORPTION_VOLUME_M3 = 100.0  # default: air absorption on in rooms larger than this
RT60_RANGE_S = (0.05, 30.0)  # the tail's range (spatial.room.decay clips the decays to it)
MAX_CROSSOVER_S = 1.0
MAX_ORDER = 30  # image-source order (spatial.room.image_sources.MAX_ORDER)
POSITION = dict(low=-MAX_EXTENT_M, high=MAX_EXTENT_M, unit="m")


# -- sections ----------------------------------------------------------------------------

class _Fields:
    """Reads the optional keys of one mapping, remembering whether any was invalid."""

    def __init__(self, mapping: dict, prefix: str):
        self.mapping, self.prefix, self.ok = mapping, prefix, True

    def get(self, key, fn, *args, **kw):
        if key not in self.mapping:
            return None
        value = fn(self.mapping[key], f"{self.prefix}.{key}", *args, **kw)
        self.ok = self.ok and value is not None
        return value


def _room(ck: Checker, node: Node, complete: bool = True) -> Room | None:
    """The room; None if it has problems. complete=False: keys may be missing
    because the preset could not be read (that is reported already)."""
    m = ck.mapping(node, "room", ROOM_KEYS, required=("dimensions",) if complete else ())
    if m is None:
        return None
    fields = _Fields(m, "room")
    get = fields.get

    dims = get("dimensions", ck.vector3, "[x, y, z] in metres", positive=True, low=0.0,
               high=MAX_EXTENT_M, unit="m")
    # the name of the preset the loader applied (and checked); in code only a label
    preset = m["preset"].value if "preset" in m and isinstance(m["preset"].value, str) else None
    rt60 = get("rt60", ck.number, positive=True, low=RT60_RANGE_S[0], high=RT60_RANGE_S[1],
               unit="s")
    materials = _materials(ck, m["materials"]) if "materials" in m else None
    fields.ok = fields.ok and ("materials" not in m or materials is not None)
    if "rt60" not in m and "materials" not in m and complete:
        ck.add(node, "room", "give rt60 or materials (or a preset that has them); "
                             "omit room altogether for free field")
        fields.ok = False
    air = get("air_absorption", ck.boolean)
    model = get("model", ck.choice, ROOM_MODELS, "room model")
    decay = get("decay", ck.choice, DECAY_FORMULAS, "decay formula")
    max_order = get("max_order", ck.number, integer=True, nonnegative=True, low=0,
                    high=MAX_ORDER)
    crossover = get("crossover", ck.number, positive=True, low=0.0, high=MAX_CROSSOVER_S,
                    unit="s")
    tail = get("tail_gain_db", ck.number, low=GAIN_DB_RANGE[0], high=GAIN_DB_RANGE[1],
               unit="dB")
    scattering = get("scattering", ck.number, low=0.0, high=1.0)
    unphysical = get("unphysical", ck.boolean)
    if not fields.ok or dims is None:
        return None
    from spatial.scene.physical import physical

    if not unphysical and not physical(ck, m, dims, rt60):
        return None
    volume = dims[0] * dims[1] * dims[2]
    kw = dict(air_absorption=volume > AIR_ABSORPTION_VOLUME_M3 if air is None else air)
    for name, value in (("model", model), ("decay", decay), ("max_order", max_order),
                        ("crossover", crossover), ("tail_gain_db", tail),
                        ("scattering", scattering), ("unphysical", unphysical)):
        if value is not None:
            kw[name] = value
    return Room(dimensions=dims, rt60=rt60, materials=materials, preset=preset, **kw)


def _materials(ck: Checker, node: Node) -> dict | None:
    from spatial.room.materials import resolve_absorption

    m = ck.mapping(node, "room.materials", SURFACE_KEYS)
    if m is None:
        return None
    per_surface, ok = {}, True
    for key, value in m.items():
        if key not in SURFACE_KEYS:
            ok = False
            continue
        try:
            per_surface[key] = resolve_absorption(value.plain())
        except SceneError as err:
            ok = False
            for p in err.problems:
                ck.add(value, f"room.materials.{key}", p.message)
    faces = {}
    for face in FACES:
        if face in per_surface:
            faces[face] = per_surface[face]
        elif face in WALL_FACES and "walls" in per_surface:
            faces[face] = per_surface["walls"]
    missing = [f for f in FACES if f not in faces and not (
        f in m or (f in WALL_FACES and "walls" in m))]
    if missing:
        ck.add(node, "room.materials", f"no material for {', '.join(missing)}: give "
                                       "walls, floor and ceiling (or every face)")
        ok = False
    return faces if ok else None


def _listener(ck: Checker, node: Node) -> Listener | None:
    from spatial.scene import paths  # path, interpolation (a moving listener)

    m = ck.mapping(node, "listener", LISTENER_KEYS,
                   required=() if node.is_map and "path" in node.value else ("position",))
    if m is None:
        return None
    if paths.both_given(ck, m, "listener"):
        return None
    pos = ck.vector3(m["position"], "listener.position", **POSITION) if "position" in m else None
    yaw = ck.number(m["yaw"], "listener.yaw", unit="degrees") if "yaw" in m else 0.0
    path = paths.keyframes(ck, m["path"], "listener.path", True) if "path" in m else None
    interp = paths.interpolation(ck, m["interpolation"], "listener.interpolation") \
        if "interpolation" in m else "spline"
    if (pos is None and path is None) or yaw is None or interp is None:
        return None
    return Listener(pos, yaw, path=path, interpolation=interp)


def _sources(ck: Checker, node: Node) -> list[Source | None] | None:
    if not node.is_list:
        ck.add(node, "sources", f"expected a list of sources (lines starting with '- '), "
                                f"got {show(node.value)}")
        return None
    if not node.value:
        ck.add(node, "sources", "the scene has no sources: give at least one")
        return None
    names: dict[str, int] = {}
    out = []
    for i, item in enumerate(node.value):
        out.append(_source(ck, item, i, names))
    return out


def _suggests(m: dict, known, key: str) -> bool:
    """Whether an unknown key of m is a likely misspelling of `key` (reported already)."""
    return any(k not in known and closest(k, known) == key for k in m)


def _source(ck: Checker, node: Node, index: int, names: dict) -> Source | None:
    path = f"sources[{index}]"
    m = ck.mapping(node, path, SOURCE_KEYS, required=("name", "file"))
    if m is None:
        return None
    fields = _Fields(m, path)
    get = fields.get

    name = get("name", ck.text)
    if name is not None:
        if name in names:
            ck.add(m["name"], f"{path}.name", f"duplicate source name '{name}' (also "
                                               f"sources[{names[name]}]): names must be unique")
            fields.ok = False
        else:
            names[name] = index
    role = get("role", ck.choice, ROLES, "role")
    diegetic = get("diegetic", ck.boolean)
    position = get("position", ck.vector3, "[x, y, z] in metres", **POSITION)
    from spatial.scene import paths  # path, interpolation, doppler (a moving source)

    fields.ok = fields.ok and not paths.both_given(ck, m, path)
    track = get("path", lambda n, k: paths.keyframes(ck, n, k))
    interp = get("interpolation", lambda n, k: paths.interpolation(ck, n, k))
    doppler = get("doppler", ck.boolean)
    label = get("label", ck.text)  # its class in SELD labels (spatial.batch.labels)
    if "position" not in m and "path" not in m and diegetic is not False:
        fields.ok = False
        if not _suggests(m, SOURCE_KEYS, "position"):
            ck.missing(node, f"{path}.position", "position",
                       " (a source placed in the room needs one; beds have diegetic: false)")
    gain = get("gain_db", ck.number, low=GAIN_DB_RANGE[0], high=GAIN_DB_RANGE[1], unit="dB")
    start = get("start", ck.number, nonnegative=True, low=0.0, high=MAX_TIME_S, unit="s")
    from spatial.audio_check import checked_file

    file = checked_file(ck, m["file"], f"{path}.file") if "file" in m else None
    transitions = None
    if "transitions" in m:  # the mix's keys (spatial.mix.keys)
        from spatial.mix import keys as mix_keys

        transitions = mix_keys.transitions(ck, m["transitions"], path, diegetic is not False,
                                           position is not None)
        fields.ok = fields.ok and transitions is not None
    if not fields.ok or file is None:
        return None
    kw = {k: v for k, v in (("role", role), ("gain_db", gain), ("start", start),
                            ("diegetic", diegetic), ("transitions", transitions),
                            ("path", track), ("interpolation", interp), ("doppler", doppler),
                            ("label", label))
          if v is not None}
    return Source(name=name, file=file, position=position, **kw)


def _output(ck: Checker, node: Node) -> Output | None:
    m = ck.mapping(node, "output", OUTPUT_KEYS)
    if m is None:
        return None
    ok = True
    fmt = "binaural"
    if "format" in m:
        fmt = _formats(ck, m["format"])
        ok = fmt is not None
    hrtf = "default"
    if "hrtf" in m:
        if m["hrtf"].value == "default":
            pass
        else:
            p = ck.existing_file(m["hrtf"], "output.hrtf", "HRTF (SOFA) file")
            ok = ok and p is not None and p.is_file()
            hrtf = str(p)
    hrtf_eq = "diffuse-field"
    if "hrtf_eq" in m:
        hrtf_eq = ck.choice(m["hrtf_eq"], "output.hrtf_eq", ("diffuse-field", "none"),
                            "HRTF equalisation")
        ok = ok and hrtf_eq is not None
    speakers = _speakers(ck, m["speakers"]) if "speakers" in m else None
    ok = ok and ("speakers" not in m or speakers is not None)
    if "custom" in str(fmt).split(",") and "speakers" not in m:
        ck.add(node, "output.speakers", "format custom needs speakers: a list of "
                                        "{name, azimuth, elevation}")
        ok = False
    lfe = _lfe(ck, m["lfe"]) if "lfe" in m else ()
    ok = ok and lfe is not None
    from spatial.mix import keys as mix_keys  # output.loudness, true_peak, stems

    loud_ok, loudness, true_peak = mix_keys.loudness(ck, m)
    stems = ck.boolean(m["stems"], "output.stems") if "stems" in m else False
    ok = ok and loud_ok and stems is not None
    from spatial.adm.keys import adm_keys  # output.adm

    adm = adm_keys(ck, m["adm"]) if "adm" in m else Adm()
    ok = ok and adm is not None
    if not ok:
        return None
    return Output(format=fmt, hrtf=hrtf, hrtf_eq=hrtf_eq,
                  speakers=speakers if "custom" in fmt.split(",") else None, lfe=lfe,
                  loudness=loudness, true_peak=true_peak, stems=stems, adm=adm)


def _formats(ck: Checker, node: Node) -> str | None:
    """output.format: one format, or several (a list, or names joined by commas) to
    render in one pass; returned as one string, the names joined by commas."""
    if node.is_list:
        items = [(item, f"output.format[{i}]") for i, item in enumerate(node.value)]
    elif isinstance(node.value, str) and "," in node.value:
        items = [(Node(v.strip(), node.file, node.line, node.base_dir, node.key_line),
                  "output.format") for v in node.value.split(",")]
    else:
        return ck.choice(node, "output.format", FORMATS, "output format")
    if not items:
        ck.add(node, "output.format", "expected an output format or a list of them, got "
                                      "an empty list")
        return None
    names, ok = [], True
    for item, key in items:
        fmt = ck.choice(item, key, FORMATS, "output format")
        if fmt is not None and fmt in names:
            ck.add(item, key, f"format {fmt!r} is listed twice (each format is rendered once)")
            fmt = None
        ok = ok and fmt is not None
        names.append(fmt)
    return ",".join(names) if ok else None


def _speakers(ck: Checker, node: Node) -> tuple[Speaker, ...] | None:
    if not node.is_list or not node.value:
        ck.add(node, "output.speakers", "expected a list of speakers {name, azimuth, "
                                        f"elevation}}, got {show(node.value)}")
        return None
    out, names, ok = [], set(), True
    for i, item in enumerate(node.value):
        path = f"output.speakers[{i}]"
        m = ck.mapping(item, path, SPEAKER_KEYS, required=("name", "azimuth"))
        if m is None:
            ok = False
            continue
        name = ck.text(m["name"], f"{path}.name") if "name" in m else None
        if name is not None and name in names:
            ck.add(m["name"], f"{path}.name", f"duplicate speaker name '{name}'")
            name = None
        names.add(name)
        az = ck.number(m["azimuth"], f"{path}.azimuth", unit="degrees") if "azimuth" in m else None
        el = (ck.number(m["elevation"], f"{path}.elevation", low=-90, high=90, unit="degrees")
              if "elevation" in m else 0.0)
        if None in (name, az, el):
            ok = False
        else:
            out.append(Speaker(name, az, el))
    return tuple(out) if ok else None


def _lfe(ck: Checker, node: Node) -> tuple[str, ...] | None:
    items = node.value if node.is_list else [node]
    if node.value is None or (not node.is_list and not isinstance(node.value, str)):
        ck.add(node, "output.lfe", f"expected a list of roles, got {show(node.value)}")
        return None
    roles = [ck.choice(item, f"output.lfe[{i}]" if node.is_list else "output.lfe", ROLES, "role")
             for i, item in enumerate(items)]
    return None if None in roles else tuple(dict.fromkeys(roles))


# -- the whole scene ---------------------------------------------------------------------

def scene_fields(root: Node, problems: list[Problem], path: Path | None, locs: dict,
                 default_file: str | None, room_complete: bool = True,
                 complete: bool = True) -> dict | None:
    """The checked fields of the Scene (keyword arguments; the Scene is made by
    :mod:`spatial.scene.model`), or None if problems were found and added to
    `problems`. room_complete=False: the room's preset (or base) failed, do not ask
    for its keys; complete=False: the base scene failed, do not ask for required keys."""
    ck = Checker(problems)
    n_before = len(problems)
    m = ck.mapping(root, "", TOP_KEYS, required=("listener", "sources") if complete else ())
    if m is None:
        return None
    kw = {}
    if "sample_rate" in m:
        kw["sample_rate"] = ck.number(m["sample_rate"], "sample_rate", integer=True,
                                      positive=True, unit="Hz")
        if kw["sample_rate"] is not None and not (
                SAMPLE_RATE_RANGE[0] <= kw["sample_rate"] <= SAMPLE_RATE_RANGE[1]):
            ck.add(m["sample_rate"], "sample_rate", "must be between 8000 and 192000 Hz, got "
                                                    f"{kw['sample_rate']}")
    if "duration" in m:
        kw["duration"] = ck.number(m["duration"], "duration", positive=True, low=0.0,
                                   high=MAX_TIME_S, unit="s")
    if "seed" in m:
        kw["seed"] = ck.number(m["seed"], "seed", integer=True, nonnegative=True)
    room = None
    if "room" in m:
        room = _room(ck, m["room"], room_complete)
    listener = _listener(ck, m["listener"]) if "listener" in m else None
    sources = _sources(ck, m["sources"]) if "sources" in m else None
    output = _output(ck, m["output"]) if "output" in m else Output()
    if "mix" in m:
        from spatial.mix import keys as mix_keys

        kw["mix"] = mix_keys.mix(ck, m["mix"])
    placed = [(i, s) for i, s in enumerate(sources or []) if s is not None]

    def where(key):
        file, line = locs.get(key, (default_file, None))
        return {"file": file, "line": line, "key": key}

    if "room" not in m or room is not None:
        problems.extend(geometry_problems(room, listener, placed, where))
    if (len(problems) > n_before or any(v is None for v in kw.values()) or listener is None
            or not sources or None in sources or output is None):
        return None
    return dict(listener=listener, sources=tuple(sources), output=output, room=room,
                path=path, locations=locs, **kw)
