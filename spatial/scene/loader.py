"""Scene files -> validated :class:`~spatial.scene.model.Scene`.

    scene = load_scene("scenes/demo.yaml")

Reading (safe YAML only; JSON is YAML too) keeps the file and line of every
value (:mod:`spatial.scene.yamlnodes`); ``extends:`` chains and ``room.preset``
are merged in with their own locations; then every key is checked
(:mod:`spatial.scene.validate`) and all problems are raised together as one
:class:`~spatial.errors.SceneError`, each naming file, line and key path.
The format is documented in ``scenes/README.md``.
"""
from __future__ import annotations

import os
from pathlib import Path

from spatial.errors import Problem, SceneError
from spatial.scene.model import Scene, build
from spatial.scene.placement import geometry_problems
from spatial.scene.validate import ROOM_KEYS
from spatial.scene.merge import drop_removes, merge
from spatial.scene.yamlnodes import Node, closest, read

PRESETS_DIR = Path(__file__).resolve().parents[1] / "room" / "presets"
# keys that are alternatives: a file giving one drops the other inherited from below
ALTERNATIVES = ("rt60", "materials")
PLACES = ("position", "path")  # a static or a moving listener or source
MERGED_ALTERNATIVES = {"room": [ALTERNATIVES], "listener": [PLACES], "sources[]": [PLACES]}
# lists that `extends` merges entry by entry, matched by this key (`remove: true` drops one)
BY_NAME = {"sources": "name"}

__all__ = ["load_scene", "load_scene_text", "load_scene_node", "list_presets", "check_geometry", "PRESETS_DIR"]


def list_presets(presets_dir: str | Path | None = None) -> list[str]:
    """Names of the room presets (``<name>.yaml`` files in presets_dir), sorted."""
    folder = Path(presets_dir) if presets_dir is not None else PRESETS_DIR
    try:
        return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())
    except OSError:
        return []


def load_scene(path: str | Path, presets_dir: str | Path | None = None) -> Scene:
    """Read, merge (extends, presets) and validate a scene file.

    Raises SceneError listing every problem found, each with file, line and key.
    """
    text = _read_text(Path(path), str(path))
    return load_scene_text(text, path, presets_dir)


def load_scene_text(text: str, path: str | Path | None = None,
                    presets_dir: str | Path | None = None) -> Scene:
    """Like :func:`load_scene` for scene text; `path` (if any) names the file for
    messages and is what relative paths and ``extends`` are relative to (else the
    current directory)."""
    if not isinstance(text, str):
        raise SceneError.at(f"scene text must be a string, got {type(text).__name__}",
                            None if path is None else str(path))
    return _load(text, None, path, presets_dir)


def load_scene_node(root: Node, path: str | Path | None = None,
                    presets_dir: str | Path | None = None) -> Scene:
    """Like :func:`load_scene_text` for a tree already read (:func:`spatial.scene.yamlnodes.read`,
    perhaps changed since: spatial.batch.variations draws its values); every value
    keeps the file and line its node has."""
    return _load(None, root, path, presets_dir)


def _load(text: str | None, given: Node | None, path, presets_dir) -> Scene:
    display = None if path is None else str(path)
    problems: list[Problem] = []
    try:
        absolute = None if path is None else Path(path).resolve()
        base_dir = absolute.parent if absolute is not None else Path.cwd()
        root = _load_tree(text, display, absolute, base_dir, problems, [], given)
        base_ok = not any(p.key == "extends" for p in problems)  # else keys may be missing
        preset_ok = _apply_preset(root, problems, presets_dir)
        scene = build(root, problems, None if path is None else Path(path),
                      room_complete=preset_ok and base_ok, complete=base_ok)
    except RecursionError:
        raise SceneError.at("the scene nests too deeply to read", display) from None
    except SceneError as err:  # a file that could not be read at all
        problems.extend(err.problems)
        scene = None
    if problems or scene is None:
        raise SceneError(_ordered(problems, display) or [Problem("invalid scene", display)])
    return scene


def check_geometry(scene: Scene) -> None:
    """Raise SceneError if the listener or a placed source is not strictly inside the
    room, or a source is less than 1 cm from the listener (for scenes changed in code)."""
    problems = geometry_problems(scene.room, scene.listener, list(enumerate(scene.sources)),
                                 scene.where)
    if problems:
        raise SceneError(problems)


# -- reading and merging -----------------------------------------------------------------

def _read_text(path: Path, display: str, what: str = "scene file",
               key_file: str | None = None, key_line: int | None = None,
               key: str | None = None) -> str:
    """A file's text; SceneError at (key_file, key_line, key) if it cannot be read."""
    where = (key_file, key_line, key) if key is not None else (display, None, None)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SceneError.at(f"{what} not found: {display}", *where) from None
    except IsADirectoryError:
        raise SceneError.at(f"{what} is a folder, not a file: {display}", *where) from None
    except (OSError, ValueError) as err:
        raise SceneError.at(f"cannot read {what} {display}: {err}", *where) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise SceneError.at("not a text file (it is not UTF-8 encoded)", display, line) from None


def _check_alternatives(room: Node | None, file: str | None, problems: list[Problem],
                        key: str = "room") -> None:
    if room is not None and room.is_map and all(
            room.value.get(k) is not None and room.value[k].value is not None
            for k in ALTERNATIVES):
        second = max((room.value[k] for k in ALTERNATIVES), key=lambda n: n.where or 0)
        problems.append(Problem("give either rt60 or materials, not both (rt60 sets the "
                                "absorption of every surface from the target time)", file, second.where, key))


def _load_tree(text: str, display: str | None, absolute: Path | None, base_dir: Path,
               problems: list[Problem], chain: list[tuple[Path, str]],
               root: Node | None = None) -> Node:
    """One file's tree (`root` if given, else read from `text`), merged over its
    `extends:` base chain."""
    root = read(text, display, base_dir, problems) if root is None else root
    _check_alternatives(root.value.get("room"), display, problems)
    if absolute is not None:
        chain = chain + [(absolute, display or str(absolute))]
    ext = root.value.get("extends")
    if ext is None:
        drop_removes(root, BY_NAME, problems)  # `remove` needs a base
        return root
    if not isinstance(ext.value, str) or not ext.value.strip():
        problems.append(Problem("expected the path of a base scene file (e.g. "
                                f"../series.yaml), got {ext.value!r}", display, ext.where,
                                "extends"))
        drop_removes(root, BY_NAME, None)  # no base: already an error
        return root
    try:
        rel = Path(ext.value).expanduser()
        base_abs = (rel if rel.is_absolute() else base_dir / rel).resolve()
    except (OSError, ValueError, RuntimeError):
        problems.append(Problem(f"not a usable file path: {ext.value!r}", display, ext.where,
                                "extends"))
        drop_removes(root, BY_NAME, None)  # no base: already an error
        return root
    base_display = (str(rel) if rel.is_absolute() or display is None else
                    os.path.normpath(os.path.join(os.path.dirname(display), ext.value)))
    seen = [p for p, _ in chain]
    if base_abs in seen:
        names = [d for _, d in chain[seen.index(base_abs):]] + [base_display]
        problems.append(Problem(f"extends cycle: {' -> '.join(names)}", display, ext.where,
                                "extends"))
        drop_removes(root, BY_NAME, None)  # no base: already an error
        return root
    try:
        base_text = _read_text(base_abs, base_display, "base scene", display, ext.where,
                               "extends")
        base = _load_tree(base_text, base_display, base_abs, base_abs.parent, problems, chain)
    except SceneError as err:
        problems.extend(err.problems)
        drop_removes(root, BY_NAME, None)  # no base: already an error
        return root
    return merge(base, root, MERGED_ALTERNATIVES, BY_NAME, problems)


def _apply_preset(root: Node, problems: list[Problem], presets_dir) -> bool:
    """Merge the room over its preset (scene keys win, key by key); False if the
    preset could not be used (then the room may lack keys the preset had)."""
    room = root.value.get("room")
    if room is None or not room.is_map or "preset" not in room.value:
        return True
    node = room.value["preset"]
    name = node.value
    known = list_presets(presets_dir)
    folder = Path(presets_dir) if presets_dir is not None else PRESETS_DIR
    if not isinstance(name, str) or name not in known:
        guess = closest(name, known) if isinstance(name, str) else None
        hint = f"did you mean '{guess}'? " if guess else ""
        listing = ", ".join(known) if known else f"none found in {folder}"
        problems.append(Problem(f"unknown room preset {name!r} ({hint}known presets: "
                                f"{listing})", node.file, node.where, "room.preset"))
        return False
    path = folder / f"{name}.yaml"
    try:
        text = _read_text(path, str(path), "room preset", node.file, node.where, "room.preset")
        preset = read(text, str(path), path.parent, problems, what="room preset")
    except SceneError as err:
        problems.extend(err.problems)
        return False
    _check_alternatives(preset, str(path), problems, key="room")
    for key, value in list(preset.value.items()):
        if key == "preset":
            problems.append(Problem("a preset cannot name another preset", str(path),
                                    value.where, "room.preset"))
            del preset.value[key]
        elif key not in ROOM_KEYS:  # report here: the key path would not say "preset"
            guess = closest(key, ROOM_KEYS)
            hint = f" (did you mean '{guess}'?)" if guess else ""
            problems.append(Problem(f"unknown key '{key}' in room preset '{name}'{hint}",
                                    str(path), value.where, f"room.{key}"))
            del preset.value[key]
    root.value["room"] = merge(preset, room, {"": [ALTERNATIVES]}, problems=problems)
    return True


def _ordered(problems: list[Problem], main: str | None) -> list[Problem]:
    """Unique problems, by file (the scene first, then in order of appearance) and line."""
    unique = list(dict.fromkeys(problems))
    files = list(dict.fromkeys([main] + [p.file for p in unique]))
    return sorted(unique, key=lambda p: (files.index(p.file), p.line or 0))
