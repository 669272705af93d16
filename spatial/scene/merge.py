"""Merging scene trees: a scene over its ``extends`` base, a room over its preset.

Mappings merge key by key; lists named in ``by_name`` (a scene's ``sources``)
merge entry by entry, matched by name, so an episode can keep, change (key by
key), remove (``remove: true``) and add the sources of its series. Every value
keeps the file and line it came from (:class:`~spatial.scene.yamlnodes.Node`),
so a problem found after merging still points where the value was written.

A ``null`` (or an empty value) in `over` unsets what the base gives for that key:
the key goes, as if the base had never set it (so its default applies, or a
preset's value), and the merged mapping remembers the null
(:attr:`~spatial.scene.yamlnodes.Node.unset`) so that a required key unset this
way is reported at the null's line. A null with nothing to unset stays, for the
checks to report like any empty value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from spatial.errors import Problem
from spatial.scene.yamlnodes import Node, closest, join, show

REMOVE = "remove"  # in a list merged by name: `{name: x, remove: true}` drops the base's x
_ANY_INDEX = re.compile(r"\[\d+\]")  # sources[3] -> sources[] for `alternatives`


def merge(base: Node, over: Node, alternatives: dict | None = None,
          by_name: dict | None = None, problems: list[Problem] | None = None) -> Node:
    """Deep-merge `over` onto `base`: mappings key by key, anything else replaced.

    Every value keeps the location it came from. `alternatives` maps a key path
    (e.g. "room"; "sources[]" stands for every entry of the list) to groups of
    mutually exclusive keys: when `over` gives one of a group (not as null), the
    others inherited from `base` are dropped (so a scene's rt60 replaces a base's
    materials, and a source's path its position, rather than conflicting).

    `by_name` maps a key path (e.g. "sources") to the key naming the entries of
    the list there: such lists merge entry by entry. An entry of `over` whose
    name the base has updates that entry key by key, ``remove: true`` drops it;
    entries with new names are added after the base's. A ``remove`` that does
    not name a base entry is a problem (appended to `problems`), and ``remove``
    never stays in the result.
    """
    ctx = _Merge(alternatives or {}, by_name or {}, problems if problems is not None else [])
    return ctx.merge(base, over, "")


def drop_removes(root: Node, by_name: dict, problems: list[Problem] | None,
                 why: str = "this file has no base (no extends)") -> None:
    """Take every ``remove`` entry out of the lists `by_name` names, in a file that
    is not merged over a base; each is a problem. With `problems` None (the base
    could not be read, which is reported already) they go quietly, and so does a
    list left empty: what it holds is unknown without its base."""
    for path in by_name:
        parent_path, _, key = path.rpartition(".")
        parent = _at(root, parent_path)
        node = parent.value.get(key) if parent is not None and parent.is_map else None
        if node is None or not node.is_list:
            continue
        kept = [item for i, item in enumerate(node.value)
                if _take_remove(item, f"{path}[{i}]", problems, why) is None]
        if problems is None and node.value and not kept:
            del parent.value[key]
        node.value = kept


def _at(root: Node, path: str) -> Node | None:
    node = root
    for key in path.split(".") if path else ():
        if not node.is_map or key not in node.value:
            return None
        node = node.value[key]
    return node


def _take_remove(item: Node, path: str, problems: list[Problem] | None,
                 why: str | None) -> Node | None:
    """Pop `remove` from a list entry; report it (if `why`) and return its node."""
    if not item.is_map or REMOVE not in item.value:
        return None
    flag = item.value.pop(REMOVE)
    if why is not None and problems is not None:
        problems.append(Problem(f"'{REMOVE}' drops a source of the base scene by its name, "
                                f"but {why}", flag.file, flag.where, f"{path}.{REMOVE}"))
    return flag


def _name(item: Node, key: str):
    if item.is_map and key in item.value:
        value = item.value[key].value
        return value if isinstance(value, str) else None
    return None


@dataclass
class _Merge:
    alternatives: dict
    by_name: dict
    problems: list

    def merge(self, base: Node | None, over: Node, path: str) -> Node:
        if path in self.by_name:
            return self.named(base, over, path, self.by_name[path])
        if base is None or not (base.is_map and over.is_map):
            return over
        result = dict(base.value)
        unset = dict(base.unset)
        for group in self.alternatives.get(_ANY_INDEX.sub("[]", path), ()):
            given = [k for k in group if k in over.value and over.value[k].value is not None]
            if given:
                for k in group:
                    if k not in given:
                        result.pop(k, None)
        for key, value in over.value.items():
            if value.value is None and key in result:  # `key: null` unsets the base's value
                del result[key]
                unset[key] = value
                continue
            unset.pop(key, None)
            result[key] = self.merge(result.get(key), value, join(path, key))
        return Node(result, over.file, over.line, over.base_dir, over.key_line, over.tag,
                    unset)

    def named(self, base: Node | None, over: Node, path: str, name_key: str) -> Node:
        """Merge two lists entry by entry, matching entries by their `name_key`."""
        if not over.is_list:
            return over  # validation reports the wrong type
        base_items = list(base.value) if base is not None and base.is_list else []
        index: dict[str, int] = {}
        for i, item in enumerate(base_items):
            name = _name(item, name_key)
            if name is not None:
                index.setdefault(name, i)
        known = ", ".join(index) or "none"
        dropped: set[int] = set()
        added: list[Node] = []
        used: set[str] = set()
        for i, item in enumerate(over.value):
            sub = f"{path}[{i}]"
            name = _name(item, name_key)
            matched = name in index and name not in used
            if matched:
                why = None
            elif name is None:
                why = f"this entry has no {name_key}"
            elif name in used:
                why = f"{name!r} is already given above in this file"
            else:
                guess = closest(name, index)
                hint = f"did you mean {guess!r}? " if guess else ""
                why = (f"the base scene's {path} have nothing named {name!r} "
                       f"({hint}they have: {known})")
            flag = _take_remove(item, sub, self.problems, why)
            if not matched:
                if flag is None:
                    added.append(item)
                continue
            used.add(name)
            j = index[name]
            if flag is not None and not isinstance(flag.value, bool):
                self.problems.append(Problem(f"expected true or false, got {show(flag.value)}",
                                             flag.file, flag.where, f"{sub}.{REMOVE}"))
            elif flag is not None and flag.value:
                extra = [k for k in item.value if k != name_key]
                if extra:
                    self.problems.append(Problem(
                        f"'{REMOVE}: true' drops the source, so it takes no other keys "
                        f"(got {', '.join(extra)})", flag.file, flag.where, f"{sub}.{REMOVE}"))
                dropped.add(j)
            else:
                base_items[j] = self.merge(base_items[j], item, sub)
        kept = [item for j, item in enumerate(base_items) if j not in dropped]
        return Node(kept + added, over.file, over.line, over.base_dir, over.key_line, over.tag)
