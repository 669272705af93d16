"""A safe YAML reader that remembers where every value came from.

``yaml.compose`` (SafeLoader) gives nodes with marks; :func:`read` turns them
into a tree of :class:`Node` (plain Python values plus file and 1-based line),
so that a problem found later, after files were merged, still points into the
file and line the value was written in. JSON is YAML, so it reads too.

Duplicate keys, unsupported tags, self-referencing aliases and alias bombs are
collected as problems instead of being silently accepted. :class:`Checker`
reads typed values (numbers, vectors, choices, paths) from nodes, turning each
failure into a Problem at the node's file and line.
"""
from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spatial.errors import Problem, SceneError

MAX_NODES = 200_000  # an alias "bomb" expands beyond this: refuse it
MAX_DEPTH = 64
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Node:
    """A value read from a file, with where it was written.

    value: dict[str, Node] for a mapping, list[Node] for a sequence, else the
    scalar (None, bool, int, float, str, bytes or a date).
    """

    value: Any
    file: str | None
    line: int | None  # 1-based line of the value
    base_dir: Path  # folder that paths written in this value are relative to
    key_line: int | None = None  # 1-based line of its key, when in a mapping
    tag: str = field(default="", repr=False)
    # a merged mapping: keys an inherited value of which a `null` unset, -> that null's node
    unset: dict = field(default_factory=dict, repr=False)

    @property
    def where(self) -> int | None:
        """The line to report: the key's line if it has one, else the value's."""
        return self.key_line if self.key_line is not None else self.line

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def plain(self) -> Any:
        """The value as plain Python data (for messages and tests)."""
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_list:
            return [v.plain() for v in self.value]
        return self.value


def syntax_error(err: Exception, file: str | None, text: str) -> SceneError:
    """A SceneError for a YAML error, at the line where the parser gave up."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line = None
    if mark is not None:
        line = mark.line + 1
    elif getattr(err, "position", None) is not None:  # yaml.reader.ReaderError
        line = text.count("\n", 0, err.position) + 1
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    msg = f"not a valid YAML file: {problem}" + (f" ({context})" if context else "")
    if "'\\t'" in problem:
        msg += "; indent with spaces, not tabs"
    return SceneError.at(msg, file, line)


def read(text: str, file: str | None, base_dir: Path, problems: list[Problem],
         what: str = "scene") -> Node:
    """Parse `text` into a Node tree whose top level is a mapping.

    Syntax errors (and a top level that is not a mapping) raise SceneError at
    once; problems that still leave a usable tree (duplicate keys, unsupported
    tags) are appended to `problems`.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise syntax_error(err, file, text) from None
    except RecursionError:
        raise SceneError.at(f"the {what} file nests too deeply to read", file) from None
    if root is None:
        raise SceneError.at(f"the {what} file is empty: it must be a mapping of keys "
                            "(sources:, listener:, ...)" if what == "scene" else
                            f"the {what} file is empty: it must be a mapping of keys",
                            file, 1)
    if not isinstance(root, yaml.MappingNode):
        raise SceneError.at(f"the {what} file must be a mapping of keys "
                            f"(key: value lines), not {_kind(root)}", file,
                            root.start_mark.line + 1)
    return _Converter(file, base_dir, problems).convert(root, 0, set())


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return f"a single value ({node.value!r})"


class _Converter:
    def __init__(self, file: str | None, base_dir: Path, problems: list[Problem]):
        self.file = file
        self.base_dir = base_dir
        self.problems = problems
        self.count = 0
        self.loader = yaml.SafeLoader("")

    def problem(self, node: yaml.Node, message: str, key: str | None = None) -> None:
        self.problems.append(Problem(message, self.file, node.start_mark.line + 1, key))

    def convert(self, node: yaml.Node, depth: int, stack: set[int], path: str = "") -> Node:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise SceneError.at(f"the file expands to more than {MAX_NODES} values "
                                "(aliases referring to aliases?)", self.file, line)
        if depth > MAX_DEPTH or id(node) in stack:
            msg = ("nested too deeply" if depth > MAX_DEPTH else
                   "this value refers to itself (a recursive alias)")
            raise SceneError.at(msg, self.file, line, path or None)
        out = Node(None, self.file, line, self.base_dir, tag=node.tag)
        if isinstance(node, yaml.ScalarNode):
            out.value = self.scalar(node, path)
            return out
        stack = stack | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            out.value = [self.convert(item, depth + 1, stack, f"{path}[{i}]")
                         for i, item in enumerate(node.value)]
            return out
        out.value = self.mapping(node, depth, stack, path)
        return out

    def scalar(self, node: yaml.ScalarNode, path: str):
        try:
            return self.loader.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as err:
            msg = getattr(err, "problem", None) or str(err)
            self.problem(node, f"cannot read this value ({msg}); write plain numbers, text, "
                               "true/false, lists and mappings", path or None)
            return node.value

    def key(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            value = self.scalar(node, "")
            return value if isinstance(value, str) else str(node.value)
        return "<a " + ("list" if isinstance(node, yaml.SequenceNode) else "mapping") + ">"

    def mapping(self, node: yaml.MappingNode, depth: int, stack: set[int], path: str) -> dict:
        result: dict[str, Node] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:  # YAML merge key `<<: *anchor`
                merged.append(self.convert(value_node, depth + 1, stack, path))
                continue
            key = self.key(key_node)
            sub = f"{path}.{key}" if path else key
            if key in result:
                first = result[key].key_line
                self.problem(key_node, f"duplicate key '{key}' (already given on line {first})",
                             sub)
                continue
            value = self.convert(value_node, depth + 1, stack, sub)
            value.key_line = key_node.start_mark.line + 1
            result[key] = value
        for m in merged:  # explicit keys win over merged ones, earlier merges over later
            sources = m.value if m.is_list else [m]
            for s in sources:
                if not s.is_map:
                    self.problems.append(Problem("'<<' (merge) needs a mapping or a list of "
                                                 "mappings", self.file, s.line, path or None))
                    continue
                for k, v in s.value.items():
                    result.setdefault(k, v)
        return result


def closest(word: str, known) -> str | None:
    """The known word closest to `word`, if one is close enough to suggest."""
    found = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def locations(root: Node) -> dict[str, tuple[str | None, int | None]]:
    """Every key path of the tree -> (file, 1-based line)."""
    out: dict[str, tuple[str | None, int | None]] = {}

    def walk(node: Node, path: str) -> None:
        if path:
            out[path] = (node.file, node.where)
        if node.is_map:
            for k, v in node.value.items():
                walk(v, f"{path}.{k}" if path else k)
        elif node.is_list:
            for i, v in enumerate(node.value):
                walk(v, f"{path}[{i}]")

    walk(root, "")
    return out


# -- typed reads ---------------------------------------------------------------------

def show(value) -> str:
    """A value as a sound designer wrote it, for 'got ...' in messages."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


class Checker:
    """Typed reads of Node values; every failure becomes a Problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems

    def add(self, node: Node, key: str | None, message: str) -> None:
        self.problems.append(Problem(message, node.file, node.where, key or None))

    def mapping(self, node: Node, path: str, known, required=()) -> dict | None:
        if not node.is_map:
            self.add(node, path, f"expected a mapping (indented key: value lines), got "
                                 f"{show(node.value)}")
            return None
        suggested = set()
        for key, value in node.value.items():
            if key not in known:
                guess = closest(key, known)
                hint = (f" (did you mean '{guess}'?)" if guess else
                        f"; known keys here: {', '.join(known)}")
                if guess:
                    suggested.add(guess)
                self.add(value, join(path, key), f"unknown key '{key}'{hint}")
        for key in required:
            if key not in node.value and key not in suggested:
                self.missing(node, join(path, key), key)
        return node.value

    def missing(self, node: Node, path: str, key: str, why: str = "") -> None:
        """A required key is missing from the mapping `node`: reported at the mapping, or at
        the `null` that unset the inherited value (a merged scene)."""
        null = node.unset.get(key)
        if null is None:
            self.add(node, path, f"required key is missing{why}")
        else:
            self.add(null, path, "required key is missing: this null unsets the base "
                                 f"scene's value, and there is no default{why}")

    def number(self, node: Node, key: str, *, positive=False, nonnegative=False,
               integer=False, low=None, high=None, unit="") -> float | int | None:
        v = node.value
        kind = "an integer" if integer else "a number"
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            hint = ""
            if isinstance(v, bool):
                hint = " (true/false is not a number)"
            elif isinstance(v, str):
                try:
                    float(v)
                    hint = " (remove the quotes)"
                except ValueError:
                    pass
            self.add(node, key, f"expected {kind}, got {show(v)}{hint}")
            return None
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            self.add(node, key, f"expected a finite number, got {show(v)}")
            return None
        if integer and x != int(v):
            self.add(node, key, f"expected an integer, got {show(v)}")
            return None
        u = f" {unit}" if unit else ""
        if positive and x <= 0:
            self.add(node, key, f"must be greater than 0{u}, got {show(v)}")
            return None
        if nonnegative and x < 0:
            self.add(node, key, f"must be 0 or more{u}, got {show(v)}")
            return None
        if (low is not None and x < low) or (high is not None and x > high):
            self.add(node, key, f"must be between {low:g} and {high:g}{u}, got {show(v)}")
            return None
        return int(v) if integer else x

    def vector3(self, node: Node, key: str, what="[x, y, z]", **number_kw):
        if not node.is_list:
            self.add(node, key, f"expected 3 numbers {what}, got {show(node.value)}")
            return None
        if len(node.value) != 3:
            self.add(node, key, f"expected 3 numbers {what}, got {len(node.value)}")
            return None
        values = [self.number(item, f"{key}[{i}]", **number_kw)
                  for i, item in enumerate(node.value)]
        return None if any(v is None for v in values) else tuple(values)

    def boolean(self, node: Node, key: str) -> bool | None:
        if not isinstance(node.value, bool):
            self.add(node, key, f"expected true or false, got {show(node.value)}")
            return None
        return node.value

    def text(self, node: Node, key: str) -> str | None:
        v = node.value
        if not isinstance(v, str) or not v.strip():
            hint = " (put it in quotes)" if isinstance(v, (int, float)) else ""
            self.add(node, key, f"expected text, got {show(v)}{hint}")
            return None
        return v

    def choice(self, node: Node, key: str, choices, what="value") -> str | None:
        v = node.value
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = f"{v:g}" if isinstance(v, float) else str(v)  # `format: 5.1` is a float
        if not isinstance(v, str):
            self.add(node, key, f"expected the name of {_article(what)} (one of "
                                f"{', '.join(choices)}), got {show(v)}")
            return None
        if v not in choices:
            guess = closest(v, choices) if isinstance(v, str) else None
            hint = f"did you mean '{guess}'? " if guess else ""
            self.add(node, key, f"unknown {what} {show(v)} ({hint}known: {', '.join(choices)})")
            return None
        return v

    def path(self, node: Node, key: str) -> Path | None:
        """A file path written in the scene, made absolute against its own file's folder."""
        v = self.text(node, key)
        if v is None:
            return None
        try:
            p = Path(v).expanduser()
            # absolute, not resolved: messages name the file as the user wrote it, not
            # what a symlink points at (spatial.safety compares resolved paths)
            return Path(os.path.abspath(p if p.is_absolute() else node.base_dir / p))
        except (OSError, ValueError, RuntimeError):
            self.add(node, key, f"not a usable file path: {show(v)}")
            return None

    def existing_file(self, node: Node, key: str, what: str) -> Path | None:
        p = self.path(node, key)
        if p is None:
            return None
        try:
            ok, is_file = p.exists(), p.is_file()
        except (OSError, ValueError):
            ok = is_file = False
        if not ok:
            self.add(node, key, f"{what} not found: {node.value} (looked for {p})")
        elif not is_file:
            self.add(node, key, f"{what} is not a file: {p}")
        return p


def _article(what: str) -> str:
    """'an output format', 'a role'."""
    return ("an " if what[:1].lower() in "aeiou" else "a ") + what
