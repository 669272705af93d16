"""The one mastering routine (spatial.master): the loudness passes stay bounded and
say so when the target cannot be reached."""
from __future__ import annotations

import numpy as np
import pytest

import spatial
from spatial.master import MAX_STEP_DB, next_gain, target_warning
from test_sinks import HOT, _scene


def test_next_gain_is_a_secant_step_of_at_most_max_step():
    assert next_gain([(0.0, -20.0)], -18.0) == pytest.approx(2.0)  # slope 1 at first
    assert next_gain([(0.0, -20.0), (2.0, -19.0)], -18.0) == pytest.approx(4.0)  # slope 0.5
    # loudness hardly grows with the gain (a flattened programme): slope 0.05 would
    # ask for 20 dB more; the step is capped
    assert next_gain([(0.0, -20.0), (2.0, -19.9)], -18.0) == pytest.approx(2.0 + MAX_STEP_DB)


def test_an_unreachable_target_is_bounded_and_reported(tmp_path):
    """Dense noise cannot reach 0 LUFS under a -2 dBTP ceiling. The passes used to run
    the gain to +300 dB and deliver near-silence without a warning."""
    scene = _scene(tmp_path, HOT, "    output: {loudness: 0, true_peak: -2}\n")
    mem = spatial.render(scene).stats["mix"]
    disk = spatial.render_to_file(scene, tmp_path / "x.wav")["mix"]
    for mix in (mem, disk):
        rendered = mix["rendered"]["loudness"]
        assert mix["gain_db"] <= (0 - rendered) + 5 * MAX_STEP_DB  # 5 corrections at most
        assert np.isfinite(mix["loudness"]) and mix["true_peak"] <= -2.0
        assert "not the target 0" in mix["warning"]
    assert mem["warning"] == disk["warning"]


def test_a_silent_output_with_a_target_is_reported_and_says_why():
    summary = {"target": -23.0, "ceiling": -1.0, "loudness": -np.inf,
               "rendered": {"loudness": -30.0}}
    assert "silent" in target_warning(summary)
    # silence in (issue 18): the target could not be met, said so, not "gain +0.0 dB" alone
    silent_in = target_warning({**summary, "rendered": {"loudness": -np.inf}})
    assert "could not be met" in silent_in and "silent" in silent_in
