"""Scene variations: a scene file whose values may be distributions, drawn into
concrete scene files (``spatial variations SCENE -n N --seed S --out-dir DIR``).

Any value of a scene (a number, a vector, a file, a keyframe of a path...) may be a
mapping of one key naming a distribution:

- ``{uniform: [low, high]}``: uniform on [low, high); low and high numbers, or
  vectors of one length (a position: ``{uniform: [[1, 1, 1.2], [7, 5, 1.8]]}``, each
  coordinate drawn on its own interval);
- ``{normal: [mean, sd]}``: normal, numbers or vectors of one length, sd >= 0;
- ``{integer: [low, high]}``: an integer from low to high, both included;
- ``{choose: [a, b, ...]}``: one of the values, equally likely (they may hold
  distributions themselves).

Variation i draws from its own generator, ``numpy.random.default_rng([seed, i])``,
walking the file in document order, so the same seed gives the same files, byte for
byte, and variation i does not depend on how many are drawn. A distribution with
wrong parameters is an error naming file, line and key. A draw that puts a source or
the listener outside the room (or a source on the listener) is drawn again, up to
MAX_TRIES times (rejection sampling: the distribution is then the one given, limited
to the room), then it is an error. Each variation is loaded and checked like any scene
(``extends`` and presets merged) and written by :meth:`Scene.save` as a self-contained
scene file (absolute paths): ``DIR/<stem>-0000.yaml`` ...; the scene's ``seed`` key
is kept as written (draw it too, ``seed: {integer: [0, 1000000]}``, for tails that
differ).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from spatial.errors import Problem, SceneError
from spatial.scene.yamlnodes import Node, show

DISTRIBUTIONS = ("uniform", "normal", "integer", "choose")
MAX_TRIES = 100
PLACEMENT = ("is outside the room", "is at the listener position")


def _text(value) -> str:
    import json

    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _bounds(node: Node, key: str, integer: bool = False) -> tuple:
    """Two parameters, numbers or equal-length vectors of numbers, as arrays."""
    def bad(msg):
        raise SceneError.at(msg, node.file, node.where, key)

    if not node.is_list or len(node.value) != 2:
        bad(f"expected two parameters [a, b], got {_text(node.plain())}")
    out = []
    for item in node.value:
        v = item.plain()
        if integer and not (isinstance(v, int) and not isinstance(v, bool)):
            bad(f"expected two integers [low, high], got {show(node.plain())}")
        if _is_number(v):
            out.append(np.asarray(float(v)))
        elif isinstance(v, list) and v and all(_is_number(x) for x in v):
            out.append(np.asarray(v, float))
        else:
            bad(f"expected numbers or lists of numbers, got {show(v)}")
    if out[0].shape != out[1].shape:
        bad(f"the two parameters must have one length, got {out[0].size} and {out[1].size}")
    return out[0], out[1]


def check(node: Node, key: str) -> None:
    """Raise SceneError (file, line, key) for a distribution with wrong parameters, in
    `node` or anywhere below it."""
    name = _distribution(node, key)
    if name is None:
        children = (node.value.items() if node.is_map else
                    ((f"[{i}]", v) for i, v in enumerate(node.value)) if node.is_list else ())
        for k, child in children:
            check(child, f"{key}{k}" if k.startswith("[") else
                  (f"{key}.{k}" if key else k))
        return
    param, at = node.value[name], f"{key}.{name}"
    if name == "choose":
        if not param.is_list or not param.value:
            raise SceneError.at(f"expected a list of values to choose from, got "
                                f"{show(param.value)}", param.file, param.where, at)
        for i, option in enumerate(param.value):
            check(option, f"{at}[{i}]")
        return
    a, b = _bounds(param, at, integer=name == "integer")
    if name in ("uniform", "integer") and np.any(a > b):
        raise SceneError.at(f"low must not be above high, got {_text(param.plain())}",
                            param.file, param.where, at)
    if name == "normal" and np.any(b < 0):
        raise SceneError.at(f"the standard deviation must be 0 or more, got "
                            f"{_text(param.plain())}", param.file, param.where, at)


def _distribution(node: Node, key: str) -> str | None:
    """The distribution a mapping names, or None for a plain value."""
    if not node.is_map or not any(k in DISTRIBUTIONS for k in node.value):
        return None
    if len(node.value) != 1:
        raise SceneError.at(f"a distribution is a mapping of one key ({', '.join(DISTRIBUTIONS)})"
                            f", got {', '.join(node.value)}", node.file, node.where, key)
    return next(iter(node.value))


def draw(node: Node, rng: np.random.Generator) -> Node:
    """A copy of the (checked) tree with every distribution replaced by a draw; each
    drawn value keeps the line of its distribution."""
    name = _distribution(node, "")
    if name is None:
        if node.is_map:
            value = {k: draw(v, rng) for k, v in node.value.items()}
        elif node.is_list:
            value = [draw(v, rng) for v in node.value]
        else:
            value = node.value
        return Node(value, node.file, node.line, node.base_dir, node.key_line, node.tag)
    param = node.value[name]
    if name == "choose":
        picked = draw(param.value[int(rng.integers(len(param.value)))], rng)
        picked.key_line = node.key_line
        return picked
    a, b = _bounds(param, "")
    if name == "uniform":
        x = rng.uniform(a, b)
    elif name == "normal":
        x = rng.normal(a, b)
    else:
        x = rng.integers(a.astype(np.int64), b.astype(np.int64), endpoint=True)
    x = np.asarray(x)
    value = ([Node(v.item(), param.file, param.line, node.base_dir) for v in x.reshape(-1)]
             if x.ndim else x.item())
    return Node(value, node.file, node.line, node.base_dir, node.key_line)


def read_template(path) -> Node:
    """The scene file's tree, its distributions checked."""
    from spatial.scene.loader import _read_text
    from spatial.scene.yamlnodes import read

    path = Path(path)
    problems: list[Problem] = []
    root = read(_read_text(path, str(path)), str(path), path.resolve().parent, problems)
    if problems:
        raise SceneError(problems)
    check(root, "")
    return root


def variation(root: Node, path, seed: int, index: int):
    """Variation `index` of the template tree `root` (read from `path`): a Scene."""
    from spatial.scene.loader import load_scene_node

    rng = np.random.default_rng([int(seed), int(index)])
    last = None
    for _ in range(MAX_TRIES):
        try:
            return load_scene_node(draw(root, rng), path)
        except SceneError as err:
            if not all(any(p in prob.message for p in PLACEMENT) for prob in err.problems):
                raise
            last = err.problems[0]
    raise SceneError(Problem(f"every one of {MAX_TRIES} draws put something where it cannot "
                             f"be; the last: {last.message}", last.file, last.line, last.key))


def write_variations(path, n: int, seed: int, out_dir) -> list[Path]:
    """Write n variations of the scene file `path` to out_dir; returns their paths. All
    are drawn (and checked) before the first is written: an error writes nothing."""
    root = read_template(path)
    width = max(4, len(str(n - 1)))
    stem = Path(path).stem
    scenes = [variation(root, path, seed, i) for i in range(n)]
    return [scene.save(Path(out_dir) / f"{stem}-{i:0{width}d}.yaml")
            for i, scene in enumerate(scenes)]
