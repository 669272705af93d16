"""The scene map: a picture of a scene, for checking where everything is.

    spatial plot scenes/demo.yaml -o map.png        # or spatial.plot_scene(scene, "map.png")

Two views of the scene's coordinates (metres, x right, y up, z up): the plan (from
above, equal aspect) with the room's outline and dimensions, and a side view (the
horizontal axis along which things spread most, against height). In them: the
listener (a black dot, an arrow where it faces; its path if it moves), the sources
coloured by role with their names (paths with direction arrows and keyframe
times), and for loudspeaker formats the layout (spatial.filters.layouts, ITU-R
BS.2051 positions) drawn around the listener at a radius, turned with its yaw. Beds
(diegetic: false) have no position: they are listed beside the views. A room far
larger than what is in it (open air, a street) is shown around its contents, the
dimensions then given in the title.

matplotlib is imported here, inside the functions (Agg canvas, no pyplot state), so
rendering never pays for it. The file is written whole or not at all.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spatial.errors import SceneError

ROLE_COLOURS = {"dialogue": "#1f77b4", "music": "#9467bd", "ambience": "#2ca02c",
                "effects": "#d62728"}
ZOOM_RATIO = 3.0  # a room this many times larger than its contents is shown around them
MAX_TIME_LABELS = 6  # keyframe times written along one path, at most
FONT = 9

__all__ = ["plot_scene", "ROLE_COLOURS"]


def plot_scene(scene_or_path, path, fmt: str | None = None) -> Path:
    """Draw the map of a scene (a Scene, or the path of a scene file) to `path` (.png,
    .svg or .pdf: matplotlib's formats); `fmt` draws the layout of that output format
    instead of the scene's. Returns the path written. SceneError for a bad scene or a
    file that cannot be written (then nothing is left behind)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(scene_or_path, (str, os.PathLike)):
        from spatial.scene.loader import load_scene

        scene = load_scene(scene_or_path)
    else:
        scene = scene_or_path
    if fmt is not None:
        scene = scene.with_output(format=fmt)
    out = Path(path)
    ext = out.suffix.lower().lstrip(".")
    fig = Figure(figsize=(12.0, 8.0), dpi=130)
    canvas = FigureCanvasAgg(fig)
    kinds = canvas.get_supported_filetypes()
    if ext not in kinds:
        raise SceneError.at(f"cannot write a map as {out.name!r}: give a file ending in "
                            f".png, .svg or .pdf", key="--output")
    if not out.parent.is_dir():
        raise SceneError.at(f"cannot write {out}: the folder {out.parent} does not exist",
                            key="--output")
    _draw(fig, scene)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format=ext)
        os.replace(tmp, out)
    except OSError as err:
        raise SceneError.at(f"cannot write {out}: {err.strerror or err}", key="--output") \
            from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


# -- what is where -----------------------------------------------------------------------

def _tracks(scene):
    """(listener track (N, 3), listener trajectory, [(source, track (N, 3), trajectory)],
    beds): tracks are positions sampled along paths (one row for a static object)."""
    from spatial.trajectory import Trajectory

    lt = Trajectory.of(scene.listener)
    placed, beds = [], []
    for s in scene.sources:
        if s.position is None and not s.path:
            beds.append(s)
        else:
            t = Trajectory.of(s)
            placed.append((s, t.span(0.05), t))
    return lt.span(0.05), lt, placed, beds


def _speakers(scene):
    """(format, kind, [(name, azimuth, elevation)], LFE names) of the first output format."""
    from spatial.filters.layouts import get_layout

    fmts = scene.output.formats
    layouts = [get_layout(scene.output.single(f)) for f in fmts]
    layout = next((lay for lay in layouts if lay.kind == "speakers"), layouts[0])
    spk = [(c.name, c.azimuth_deg, c.elevation_deg or 0.0) for c in layout.channels
           if c.azimuth_deg is not None]
    lfe = [c.name for c in layout.channels if c.azimuth_deg is None]
    return layout, spk, lfe if layout.kind == "speakers" else []


def _radius(ltrack, placed) -> float:
    """Radius of the drawn loudspeaker ring: inside the nearest source, 0.5 .. 3 m."""
    centre = ltrack[0]
    d = [float(np.min(np.linalg.norm(tr - centre, axis=1))) for _, tr, _ in placed]
    near = min(d) if d else 2.0
    return float(np.clip(0.6 * near, 0.5, 3.0))


def _ring(centre, yaw, radius, spk):
    """Speaker positions (K, 3) around `centre`, turned with the listener's yaw."""
    pts = []
    for _, az, el in spk:
        a, e = math.radians(yaw + az), math.radians(el)
        pts.append([centre[0] + radius * math.cos(e) * math.cos(a),
                    centre[1] + radius * math.cos(e) * math.sin(a),
                    centre[2] + radius * math.sin(e)])
    return np.array(pts).reshape(-1, 3)


def _bounds(points: np.ndarray, room, axes: tuple[int, ...]):
    """Limits (lo, hi) per axis: the room's, or, for a room far larger than what is in
    it, the contents' with a margin; and whether it was zoomed."""
    lo, hi = points[:, axes].min(axis=0), points[:, axes].max(axis=0)
    span = max(float(np.max(hi - lo)), 2.0)
    margin = max(1.0, 0.15 * span)
    lo, hi = lo - margin, hi + margin
    if room is None:
        return list(zip(lo, hi)), False
    dims = np.array(room.dimensions)[list(axes)]
    if np.max(dims) > ZOOM_RATIO * (span + 2 * margin):
        return list(zip(np.maximum(lo, -0.02 * dims), np.minimum(hi, 1.02 * dims))), True
    pad = 0.08 * np.max(dims)
    return [(-pad, d + pad) for d in dims], False


# -- drawing ---------------------------------------------------------------------------

@dataclass
class _View:
    """One of the drawn views: its Axes, its labeller, the coordinates it shows
    (0, 1: plan; h, 2: side) and whether it shows the listener's facing."""

    ax: object
    labels: object
    coords: list
    plan: bool
    long_names: bool = False

    def pts(self, points) -> np.ndarray:
        return np.asarray(points, float).reshape(-1, 3)[:, self.coords]


def _draw(fig, scene) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    from spatial.scene_map_labels import Labeller, bed_text, describe_output, describe_room

    ltrack, lt, placed, beds = _tracks(scene)
    layout, spk, lfe = _speakers(scene)
    radius = _radius(ltrack, placed)
    yaw0 = float(lt.yaw(lt.times[0]))
    ring = _ring(ltrack[0], yaw0, radius, spk) if layout.kind == "speakers" else np.zeros((0, 3))
    every = np.vstack([ltrack, ring] + [tr for _, tr, _ in placed])
    room = scene.room
    (xlim, ylim), zoomed = _bounds(every, room, (0, 1))
    spread = np.ptp(every, axis=0)
    h = 0 if spread[0] >= spread[1] else 1  # the side view's horizontal axis

    name = Path(scene.path).name if getattr(scene, "path", None) else "scene"
    fig.suptitle(f"{name}: {describe_room(room, zoomed)}\noutput "
                 f"{describe_output(layout, radius)}", fontsize=FONT + 3)
    grid = fig.add_gridspec(2, 2, width_ratios=[2.8, 1], height_ratios=[3, 1.1], left=0.06,
                            right=0.98, bottom=0.07, top=0.88, wspace=0.12, hspace=0.25)
    right = grid[:, 1].subgridspec(3, 1, height_ratios=[1.0, 0.8, 1.4], hspace=0.15)
    plan, side = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    key, notes = fig.add_subplot(right[0]), fig.add_subplot(right[1])
    key.axis("off")
    notes.axis("off")

    plan.set_title("plan, from above", fontsize=FONT + 1, loc="left")
    xlim, ylim = _fit_equal(plan, xlim, ylim)
    plan.set(xlim=xlim, ylim=ylim)
    plan.set_aspect("equal", adjustable="box")
    high = f"; the room is {room.dimensions[2]:g} m high" if room is not None else ""
    side.set_title(f"side view: height z against {'xy'[h]}{high}", fontsize=FONT + 1, loc="left")
    side.set_xlim(*(xlim if h == 0 else ylim))
    zmax = float(every[:, 2].max())
    ztop = room.dimensions[2] if room is not None else zmax + 1.0
    if room is not None and ztop > ZOOM_RATIO * (zmax + 1.0):
        side.set_ylim(-0.1, zmax * 1.4 + 0.8)
        side.text(0.99, 0.95, f"ceiling at {ztop:g} m, above the view", transform=side.transAxes,
                  ha="right", va="top", fontsize=FONT - 1, color="0.4")
    else:
        side.set_ylim(-0.05 * ztop, ztop * 1.08)
    for ax, (xl, yl) in ((plan, ("x", "y")), (side, ("xy"[h], "z"))):
        _axes_style(ax, xl, yl)
    views = [_View(plan, None, [0, 1], True, True), _View(side, None, [h, 2], False)]
    close = _close_up_half_width(plan, ltrack, placed, radius if len(ring) else 0.0)
    if close:
        ax = fig.add_subplot(right[2])
        c = ltrack[0]
        ax.set(xlim=(c[0] - close, c[0] + close), ylim=(c[1] - close, c[1] + close))
        ax.set_aspect("equal", adjustable="box")
        ax.set_title("close-up around the listener", fontsize=FONT, loc="left")
        _axes_style(ax, "x", "y")
        views.append(_View(ax, None, [0, 1], True))

    faces = []
    if room is not None:
        lx, ly, lz = room.dimensions
        for v in views:
            w, d = (room.dimensions[i] for i in v.coords)
            v.ax.add_patch(Rectangle((0, 0), w, d, fill=False, lw=2.0, ec="0.35", zorder=1))
        if not zoomed:
            faces = _dimensions(plan, lx, ly)
    fig.canvas.draw()  # the labellers measure text in display units
    for v in views:
        v.labels = Labeller(v.ax)
        if room is not None:
            w, d = (room.dimensions[i] for i in v.coords)
            v.labels.obstacle_line([(0, 0), (w, 0), (w, d), (0, d), (0, 0)])
    for text in faces:
        views[0].labels.obstacle_text(text)
    for v in views:
        _draw_contents(v, ltrack, lt, placed, spk, ring, radius)
        v.labels.place()

    handles = [Line2D([], [], marker="o", ls="none", color=c, ms=8, label=r)
               for r, c in ROLE_COLOURS.items()]
    handles.append(Line2D([], [], marker="o", ls="none", color="k", ms=8, label="listener"))
    if any(len(tr) > 1 for _, tr, _ in placed) or len(ltrack) > 1:
        handles.append(Line2D([], [], marker="o", mfc="white", mec="0.3", ls="-", color="0.3",
                              ms=8, label="path (hollow: start)"))
    if len(ring):
        handles += [Line2D([], [], marker="s", ls="none", mfc="0.85", mec="0.3", ms=7,
                           label="loudspeaker"),
                    Line2D([], [], marker="^", ls="none", mfc="0.85", mec="0.3", ms=7,
                           label="loudspeaker, raised")]
    key.legend(handles=handles, loc="upper left", fontsize=FONT, frameon=True,
               title="sources by role", title_fontsize=FONT)
    text = [bed_text(beds)]
    if lfe:
        text.append(f"{', '.join(lfe)}: no direction (not drawn)")
    if scene.duration:
        text.append(f"duration {scene.duration:g} s")
    notes.text(0.02, 0.98, "\n\n".join(text), transform=notes.transAxes, va="top", ha="left",
               fontsize=FONT, family="monospace", bbox=dict(boxstyle="round", fc="0.97", ec="0.6"))


def _axes_style(ax, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(f"{xlabel} (m)", fontsize=FONT)
    ax.set_ylabel(f"{ylabel} (m)", fontsize=FONT)
    ax.grid(True, alpha=0.25)
    ax.tick_params(labelsize=FONT - 1)


def _close_up_half_width(plan, ltrack, placed, ring_radius: float) -> float:
    """Half-width (m) of a close-up around the listener, when static sources (or speakers)
    near it are drawn too close to it in the plan to read (under 40 px); 0: no close-up."""
    box = plan.get_window_extent()
    px_per_m = box.width / np.ptp(plan.get_xlim())
    centre = ltrack[0]
    near = [float(np.linalg.norm(tr[0] - centre)) for _, tr, _ in placed if len(tr) == 1]
    crowded = [d for d in near + ([ring_radius] if ring_radius else []) if d * px_per_m < 40]
    return 1.35 * max(crowded) + 0.3 if crowded else 0.0


def _draw_contents(v: _View, ltrack, lt, placed, spk, ring, radius) -> None:
    """Loudspeakers, the listener and the sources in one view (labels queued)."""
    from matplotlib.patches import Circle

    from spatial.scene_map_labels import source_label

    ax, lab = v.ax, v.labels
    if len(ring):
        if v.plan:
            ax.add_patch(Circle(ltrack[0][:2], radius, fill=False, ls=":", ec="0.5", lw=1))
        for (spk_name, _, el), p in zip(spk, ring):
            q = v.pts(p)[0]
            marker = "s" if el == 0 else ("^" if el > 0 else "v")
            ax.plot(*q, marker=marker, ms=7, mfc="0.85", mec="0.3", ls="none", zorder=3)
            lab.obstacle(q)
            if v.plan:
                lab.add(q, spk_name, "0.25", FONT - 1, prefer="out" if el <= 0 else "in",
                        centre=ltrack[0][:2])
    track = v.pts(ltrack)
    if len(track) > 1:
        ax.plot(track[:, 0], track[:, 1], "k--", lw=1.2, zorder=4)
        lab.obstacle_line(track)
        _arrows(ax, track, "k")
    ax.plot(*track[0], "o", ms=9, color="k", zorder=6)
    lab.obstacle(track[0])
    if v.plan:
        xl, yl = ax.get_xlim(), ax.get_ylim()
        arrow = (0.07 if v.long_names else 0.14) * max(xl[1] - xl[0], yl[1] - yl[0])
        for t in (lt.times if lt.times.size > 1 else lt.times[:1]):
            p, a = lt.position(t), math.radians(float(lt.yaw(t)))
            tip = (p[0] + arrow * math.cos(a), p[1] + arrow * math.sin(a))
            ax.annotate("", xy=tip, xytext=(p[0], p[1]), zorder=7, arrowprops=dict(
                arrowstyle="-|>", color="k", lw=1.8, mutation_scale=14))
            lab.obstacle_line([(p[0], p[1]), tip])
    yaw0 = float(lt.yaw(lt.times[0]))
    lab.add(track[0], f"listener (yaw {yaw0:g})" if v.long_names else "listener", "k",
            FONT if v.long_names else FONT - 1, weight="bold" if v.long_names else "normal")
    if v.long_names and lt.times.size > 1:
        _time_labels(lab, lt, lambda p: p[:2], "k")
    for s, strack, traj in placed:
        colour = ROLE_COLOURS.get(s.role, "0.3")
        q = v.pts(strack)
        if len(q) > 1:
            ax.plot(q[:, 0], q[:, 1], "-", color=colour, lw=1.6, zorder=4)
            lab.obstacle_line(q)
            _arrows(ax, q, colour)
            ax.plot(*q[0], "o", ms=8, mfc="white", mec=colour, mew=1.8, zorder=5)
        ax.plot(*q[-1], "o", ms=8, color=colour, zorder=5)
        lab.obstacle(q[0])
        lab.obstacle(q[-1])
        lab.add(q[0], source_label(s) if v.long_names else s.name, colour,
                FONT if v.long_names else FONT - 1)
        if v.long_names and traj.times.size > 1:
            _time_labels(lab, traj, lambda p: p[:2], colour)


def _fit_equal(ax, xlim, ylim):
    """Widen the x or the y limits so that metres are as long on both axes of `ax`
    (its box as the grid made it): an equal aspect that fills the box."""
    fig_w, fig_h = ax.figure.get_size_inches()
    box = ax.get_position()
    ratio = (box.height * fig_h) / (box.width * fig_w)  # height / width of the box
    (x0, x1), (y0, y1) = xlim, ylim
    if (y1 - y0) / (x1 - x0) < ratio:
        grow = (ratio * (x1 - x0) - (y1 - y0)) / 2
        return (x0, x1), (y0 - grow, y1 + grow)
    grow = ((y1 - y0) / ratio - (x1 - x0)) / 2
    return (x0 - grow, x1 + grow), (y0, y1)


def _dimensions(ax, lx: float, ly: float) -> list:
    """The room's length and width outside its south and west walls, the face names inside."""
    off = 0.035 * max(lx, ly)
    line = dict(arrowstyle="<->", color="0.45", shrinkA=0, shrinkB=0)
    ax.annotate("", xy=(lx, -off), xytext=(0, -off), arrowprops=line, zorder=1)
    ax.annotate("", xy=(-off, ly), xytext=(-off, 0), arrowprops=line, zorder=1)
    dims = dict(fontsize=FONT, color="0.25", bbox=dict(fc="white", ec="none", pad=1))
    ax.text(lx / 2, -off, f"{lx:g} m", ha="center", va="center", **dims)
    ax.text(-off, ly / 2, f"{ly:g} m", ha="center", va="center", rotation=90, **dims)
    face = dict(fontsize=FONT - 2, color="0.55")
    return [ax.text(lx / 2, ly, "north wall", ha="center", va="top", **face),
            ax.text(lx / 2, 0, "south wall", ha="center", va="bottom", **face),
            ax.text(0, ly / 2, "west", ha="left", va="center", rotation=90, **face),
            ax.text(lx, ly / 2, "east", ha="right", va="center", rotation=90, **face)]


def _arrows(ax, track: np.ndarray, colour) -> None:
    """Direction arrows along a sampled path, at a third and two thirds of its length."""
    steps = np.linalg.norm(np.diff(track, axis=0), axis=1)
    length = np.concatenate([[0.0], np.cumsum(steps)])
    if length[-1] <= 0:
        return
    for frac in (1 / 3, 2 / 3):
        i = int(np.searchsorted(length, frac * length[-1]))
        i = min(max(i, 1), len(track) - 1)
        ax.annotate("", xy=track[i], xytext=track[i - 1], zorder=5,
                    arrowprops=dict(arrowstyle="-|>", color=colour, lw=0, mutation_scale=16))


def _time_labels(labeller, traj, project, colour) -> None:
    """Keyframe times ("2.5 s") beside the keyframes of a path, at most a few."""
    k = traj.times.size
    picks = sorted(set(np.linspace(0, k - 1, min(k, MAX_TIME_LABELS)).round().astype(int)))
    for i in picks:
        p = project(traj.positions[i])
        labeller.add(p, f"{traj.times[i]:g} s", colour, FONT - 2, style="italic")
