"""A scene made in code as the tree its scene file would have given: the values as a
file holds them (:func:`plain`), every key path (:func:`flat`), and the Node tree
(:func:`scene_tree`) that :func:`spatial.scene.model.check_scene` runs through the
file's checks (:mod:`spatial.scene.validate`), so code gets the file's messages.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from spatial.scene.yamlnodes import Node


def plain(value):
    """A value made in code as a scene file would hold it: dataclasses as mappings of
    their keys (optional keys left at None omitted), tuples and arrays as lists, paths
    as text, numpy scalars as Python numbers; anything else as it is, for the checks."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            if not f.metadata.get("scene_key", True):
                continue  # e.g. Scene.path, Scene.locations
            v = getattr(value, f.name)
            if v is None and f.default is None:
                continue  # an optional key not given
            out[f.name] = plain(v)
        return out
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def flat(value, path: str = "") -> dict:
    """Every key path of a plain tree -> its value."""
    out = {path: value} if path else {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(flat(v, f"{path}.{k}" if path else k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(flat(v, f"{path}[{i}]"))
    return out


def fresh_locations(scene) -> dict:
    """The scene's locations without those of keys changed in code since loading (a
    location the loader set, for a value that is no longer the loaded one)."""
    if not scene.loaded:
        return dict(scene.locations)
    now = flat(plain(scene))
    out = {}
    for key, loc in scene.locations.items():
        old = scene.loaded.get(key)
        if old is not None and old[1] == loc and (key not in now or now[key] != old[0]):
            continue
        out[key] = loc
    return out


def scene_tree(scene, locs: dict, base_dir: Path) -> Node:
    """The Node tree a scene file would have given for `scene`: each key at its location
    in `locs` (else none), relative paths against base_dir."""

    def node(value, path: str) -> Node:
        file, line = locs.get(path, (None, None)) if path else (None, None)
        out = Node(None, file, line, base_dir)
        if isinstance(value, dict):
            out.value = {k: node(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        elif isinstance(value, list):
            out.value = [node(v, f"{path}[{i}]") for i, v in enumerate(value)]
        else:
            out.value = value
        return out

    return node(plain(scene), "")


ORDER = ("sample_rate", "duration", "seed", "room", "listener", "sources", "output", "mix")


def to_yaml(scene) -> str:
    """The scene as the text of a scene file (keys in the documented order, paths
    absolute), that loads to an equal scene (:meth:`spatial.scene.model.Scene.save`)."""
    import yaml

    data = plain(scene)
    data = {k: data[k] for k in ORDER if k in data} | {k: v for k, v in data.items()
                                                       if k not in ORDER}
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True,
                          width=100)


def save(scene, path) -> Path:
    """Write to_yaml(scene) to `path` atomically (a temporary file renamed)."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(to_yaml(scene), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
