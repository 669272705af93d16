"""The scene map (`spatial plot`, spatial.plot_scene): a PNG of the scene from above and
from the side. Checked on the drawn figure itself: every source and the listener inside
the plan's limits, the labels not covering one another, loudspeakers where ITU-R
BS.2051 puts them relative to where the listener faces, beds listed (not placed), and
the command's contract (a bad scene: one line, exit 2, no file)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

import spatial
from spatial.cli import main
from spatial.scene_map import _draw

SCENES = Path(__file__).resolve().parents[1] / "scenes"


def drawn(name: str, fmt: str | None = None) -> Figure:
    scene = spatial.load_scene(SCENES / name)
    if fmt:
        scene = scene.with_output(format=fmt)
    fig = Figure(figsize=(12.0, 8.0), dpi=130)
    FigureCanvasAgg(fig)
    _draw(fig, scene)
    fig.canvas.draw()
    return fig


def plan_of(fig: Figure):
    return next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("plan"))


def labels(ax) -> dict:
    """Annotation text -> (anchor point in data units, box in display pixels)."""
    r = ax.figure.canvas.get_renderer()
    return {t.get_text(): (np.array(t.xy, float), t.get_window_extent(r))
            for t in ax.texts if t.get_text() and hasattr(t, "xy")}


@pytest.mark.parametrize("name", ["demo.yaml", "car-pass.yaml", "coast.yaml", "city.yaml",
                                  "rural.yaml", "episode-02.yaml"])
def test_everything_placed_is_inside_the_plan(name):
    scene = spatial.load_scene(SCENES / name)
    plan = plan_of(drawn(name))
    (x0, x1), (y0, y1) = plan.get_xlim(), plan.get_ylim()
    points = [scene.listener.position or scene.listener.path[0].position]
    for s in scene.sources:
        points += [s.position] if s.position else [kf.position for kf in s.path or ()]
    for x, y, _ in points:
        assert x0 < x < x1 and y0 < y < y1, (name, (x, y))
    # metres are as long across as up: a circle is drawn round
    box = plan.get_window_extent()
    assert box.width / (x1 - x0) == pytest.approx(box.height / (y1 - y0), rel=0.01)


@pytest.mark.parametrize("name, fmt", [("demo.yaml", None), ("demo.yaml", "7.1.4"),
                                       ("coast.yaml", None), ("car-pass.yaml", None)])
def test_source_labels_do_not_cover_one_another(name, fmt):
    scene = spatial.load_scene(SCENES / name)
    plan = plan_of(drawn(name, fmt))
    found = labels(plan)
    frame = plan.get_window_extent()
    names = [s.name for s in scene.sources if s.position or s.path]
    boxes = []
    for n in names:  # "line1 (-6 dB, from 0.5 s)": each source's label is drawn
        (text,) = [t for t in found if t == n or t.startswith(n + " (")]
        box = found[text][1]
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 <= box.y1 <= frame.y1
        boxes.append(box)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (name, fmt)
    assert 6 <= min(t.get_fontsize() for t in plan.texts)  # nothing unreadably small


def test_loudspeakers_sit_at_their_bs2051_angles_from_where_the_listener_faces():
    # car-pass: the listener faces +y (yaw 90); BS.2051 5.1: C 0, L +30, R -30,
    # Ls +110, Rs -110, counter-clockwise from the front
    scene = spatial.load_scene(SCENES / "car-pass.yaml")
    found = labels(plan_of(drawn("car-pass.yaml", "5.1")))
    centre = np.array(scene.listener.position[:2])
    radius = None
    for name, az in (("C", 0), ("L", 30), ("R", -30), ("Ls", 110), ("Rs", -110)):
        d = found[name][0] - centre
        wrapped = (math.degrees(math.atan2(d[1], d[0])) - (90 + az) + 180) % 360 - 180
        assert wrapped == pytest.approx(0, abs=1e-6)
        radius = radius or np.hypot(*d)
        assert np.hypot(*d) == pytest.approx(radius)
    assert "LFE" not in found  # no direction: listed, not drawn


def test_beds_are_listed_not_placed():
    fig = drawn("coast.yaml")  # the series' theme is a bed
    text = "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "- theme (music)" in text and "theme" not in labels(plan_of(fig))
    assert "binaural: headphones, no loudspeakers" in fig.get_suptitle()
    assert "ambisonics" in drawn("demo.yaml", "foa").get_suptitle()


def test_moving_source_has_its_path_and_keyframe_times():
    found = labels(plan_of(drawn("car-pass.yaml")))
    scene = spatial.load_scene(SCENES / "car-pass.yaml")
    for kf in scene.source("car").path:
        anchor = found[f"{kf.t:g} s"][0]
        assert np.allclose(anchor, kf.position[:2])


def test_plot_command_writes_a_png(tmp_path, capsys):
    out = tmp_path / "map.png"
    assert main(["plot", str(SCENES / "coast.yaml"), "-o", str(out)]) == 0  # extends
    image = imread(out)
    assert image.shape[:2] == (1040, 1560)
    assert np.ptp(image[..., :3]) > 0.5  # not blank
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.png"]  # no temp file left
    assert "map.png" in capsys.readouterr().out
    again = spatial.plot_scene(spatial.load_scene(SCENES / "demo.yaml"), tmp_path / "d.svg")
    assert again == tmp_path / "d.svg" and again.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("case", ["bad scene", "bad extension", "no folder"])
def test_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, case):
    scene = tmp_path / "bad.yaml"
    scene.write_text("listener: {position: [1, 1, 1]}\nsources:\n  - {name: a, file: nope.wav, "
                     "position: [2, 1, 1]}\n")
    out = {"bad scene": tmp_path / "map.png", "bad extension": tmp_path / "map.wav",
           "no folder": tmp_path / "missing" / "map.png"}[case]
    if case != "bad scene":
        scene = SCENES / "demo.yaml"
    assert main(["plot", str(scene), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spatial: error: "), err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_a_close_up_when_what_is_near_the_listener_is_too_small_to_read():
    # city: the characters 1.6 m away in an 80 m street are ~20 px from the listener
    city = drawn("city.yaml")
    (close,) = [ax for ax in city.axes if ax.get_title(loc="left").startswith("close-up")]
    box = close.get_window_extent()
    px_per_m = box.width / np.ptp(close.get_xlim())
    scene = spatial.load_scene(SCENES / "city.yaml")
    for name in ("line1", "line2"):
        d = np.subtract(scene.source(name).position[:2], scene.listener.position[:2])
        assert np.hypot(*d) * px_per_m > 40  # readable there
        assert name in labels(close)
    # car-pass: a car on a path and nothing else near: no close-up
    assert not any(ax.get_title(loc="left").startswith("close-up")
                   for ax in drawn("car-pass.yaml").axes)
