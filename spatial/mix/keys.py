"""The scene keys of the mix: ``mix:`` (buses, ducking, dialogue), ``output.loudness``,
``output.true_peak``, ``output.stems`` and a source's ``transitions``.

Called by :mod:`spatial.scene.validate` with its Checker, so problems name file,
line and key like every other key. The dataclasses live in
:mod:`spatial.scene.parts` (Mix, Ducking, Transition).
"""
from __future__ import annotations

from spatial.scene.limits import GAIN_DB_RANGE, MAX_TIME_S
from spatial.scene.parts import ROLES, Ducking, Mix, Transition
from spatial.scene.yamlnodes import Checker, Node, show

MIX_KEYS = ("buses", "ducking", "dialogue_enhancement", "dialogue_center")
DUCKING_KEYS = ("under", "duck", "depth_db", "attack", "release", "threshold_db")
TRANSITION_KEYS = ("at", "to", "over")
STATES = ("diegetic", "non-diegetic")
# name -> (integrated loudness LUFS, true-peak ceiling dBTP)
LOUDNESS_PRESETS = {"ebu-r128": (-23.0, -1.0), "atsc-a85": (-24.0, -2.0),
                    "streaming": (-14.0, -1.0)}
LOUDNESS_RANGE = (-70.0, 0.0)  # LUFS: below -70 is the absolute gate (silence)
TRUE_PEAK_RANGE = (-30.0, 0.0)  # dBTP
MAX_DEPTH_DB = 60.0
MAX_ENHANCEMENT_DB = 30.0


def loudness(ck: Checker, m: dict) -> tuple[bool, float | None, float | None]:
    """(ok, loudness LUFS or None, true_peak dBTP or None) of an output mapping; a
    preset name gives both, an explicit true_peak overrides the preset's ceiling."""
    ok, target, ceiling = True, None, None
    if "loudness" in m:
        node = m["loudness"]
        if isinstance(node.value, str):
            preset = ck.choice(node, "output.loudness", tuple(LOUDNESS_PRESETS),
                               "loudness preset (or a number in LUFS)")
            if preset is None:
                ok = False
            else:
                target, ceiling = LOUDNESS_PRESETS[preset]
        else:
            target = ck.number(node, "output.loudness", low=LOUDNESS_RANGE[0],
                               high=LOUDNESS_RANGE[1], unit="LUFS")
            ok = target is not None
    if "true_peak" in m:
        tp = ck.number(m["true_peak"], "output.true_peak", low=TRUE_PEAK_RANGE[0],
                       high=TRUE_PEAK_RANGE[1], unit="dBTP")
        ok = ok and tp is not None
        ceiling = tp
    return ok, target, ceiling


def _roles(ck: Checker, node: Node, key: str) -> tuple[str, ...] | None:
    items = node.value if node.is_list else [node]
    if node.value is None or (not node.is_list and not isinstance(node.value, str)):
        ck.add(node, key, f"expected a list of roles, got {show(node.value)}")
        return None
    roles = [ck.choice(item, f"{key}[{i}]" if node.is_list else key, ROLES, "role")
             for i, item in enumerate(items)]
    return None if None in roles else tuple(dict.fromkeys(roles))


def _ducking(ck: Checker, node: Node) -> Ducking | None:
    if node.value is None:
        return None
    m = ck.mapping(node, "mix.ducking", DUCKING_KEYS)
    if m is None:
        return False
    kw, ok = {}, True
    if "under" in m:
        kw["under"] = ck.choice(m["under"], "mix.ducking.under", ROLES, "role")
    if "duck" in m:
        kw["duck"] = _roles(ck, m["duck"], "mix.ducking.duck")
    if "depth_db" in m:
        kw["depth_db"] = ck.number(m["depth_db"], "mix.ducking.depth_db", low=0.0,
                                   high=MAX_DEPTH_DB, unit="dB")
    for key in ("attack", "release"):
        if key in m:
            kw[key] = ck.number(m[key], f"mix.ducking.{key}", low=0.001, high=60.0, unit="s")
    if "threshold_db" in m:
        kw["threshold_db"] = ck.number(m["threshold_db"], "mix.ducking.threshold_db",
                                       low=-120.0, high=0.0, unit="dBFS")
    if any(v is None for v in kw.values()):
        return False
    duck = Ducking(**kw)
    if duck.under in duck.duck:
        ck.add(m.get("duck", node), "mix.ducking.duck",
               f"the side-chain role '{duck.under}' cannot duck itself")
        ok = False
    return duck if ok else False


def mix(ck: Checker, node: Node) -> Mix | None:
    """The top-level ``mix:`` mapping; None if it has problems."""
    if node.value is None:
        return Mix()
    m = ck.mapping(node, "mix", MIX_KEYS)
    if m is None:
        return None
    ok, kw = True, {}
    if "buses" in m:
        b = ck.mapping(m["buses"], "mix.buses", ROLES)
        buses = {}
        if b is None:
            ok = False
        else:
            for role, value in b.items():
                if role not in ROLES:
                    ok = False
                    continue
                g = ck.number(value, f"mix.buses.{role}", low=GAIN_DB_RANGE[0],
                              high=GAIN_DB_RANGE[1], unit="dB")
                ok = ok and g is not None
                buses[role] = g
        kw["buses"] = buses
    if "ducking" in m:
        duck = _ducking(ck, m["ducking"])
        ok = ok and duck is not False
        kw["ducking"] = duck or None
    if "dialogue_enhancement" in m:
        kw["dialogue_enhancement"] = ck.number(m["dialogue_enhancement"],
                                               "mix.dialogue_enhancement", low=0.0,
                                               high=MAX_ENHANCEMENT_DB, unit="dB")
    if "dialogue_center" in m:
        kw["dialogue_center"] = ck.number(m["dialogue_center"], "mix.dialogue_center",
                                          low=0.0, high=1.0)
    if not ok or any(v is None for k, v in kw.items() if k != "ducking"):
        return None
    return Mix(**kw)


def transitions(ck: Checker, node: Node, path: str, diegetic: bool,
                has_position: bool) -> tuple[Transition, ...] | None:
    """A source's ``transitions`` list; None if it has problems. Each transition must
    change the source's state (it starts as its `diegetic` key says), in time order,
    one after the other; a source without a position has no room to pass into."""
    key = f"{path}.transitions"
    if node.value is None:
        return ()
    if not node.is_list:
        ck.add(node, key, "expected a list of transitions {at, to, over}, got "
                          f"{show(node.value)}")
        return None
    out, ok = [], True
    for i, item in enumerate(node.value):
        k = f"{key}[{i}]"
        m = ck.mapping(item, k, TRANSITION_KEYS, required=("at", "to"))
        if m is None or "at" not in m or "to" not in m:
            ok = False
            continue
        at = ck.number(m["at"], f"{k}.at", low=0.0, high=MAX_TIME_S, unit="s")
        to = ck.choice(m["to"], f"{k}.to", STATES, "state")
        over = (ck.number(m["over"], f"{k}.over", positive=True, low=0.0, high=MAX_TIME_S,
                          unit="s") if "over" in m else 1.0)
        if None in (at, to, over):
            ok = False
            continue
        out.append((item, Transition(at=at, to=to, over=over)))
    if not ok:
        return None
    if out and not has_position:
        ck.add(node, key, "a transition needs the source's position in the room to come "
                          "from or go to: give the source a position")
        return None
    state = "diegetic" if diegetic else "non-diegetic"
    end = None
    for i, (item, t) in enumerate(out):
        if t.to == state:
            ck.add(item, f"{key}[{i}].to", f"the source is already {state} at {t.at:g} s")
            return None
        if end is not None and t.at < end:
            ck.add(item, f"{key}[{i}].at", f"starts at {t.at:g} s, before the previous "
                                           f"transition ends ({end:g} s)")
            return None
        state, end = t.to, t.at + t.over
    return tuple(t for _, t in out)
