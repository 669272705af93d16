"""The bundled demo scene as a listener would judge it: not silent, not clipped,
finite, and the dialogue clearly over everything else, measured with an
independent ITU-R BS.1770 meter (pyloudnorm)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyloudnorm
import pytest

import spatial


@pytest.fixture(scope="module")
def demo():
    return spatial.load_scene("scenes/demo.yaml")


def loudness(meter, audio) -> float:
    """BS.1770 integrated loudness; a 5.1 render is measured without its LFE channel,
    with the meter's own surround weighting (L R C Ls Rs)."""
    audio = np.asarray(audio, float)
    if audio.shape[1] == 6:
        audio = audio[:, [0, 1, 2, 4, 5]]
    with np.errstate(divide="ignore"):  # the meter takes log10 of silent blocks (gated out)
        return meter.integrated_loudness(audio)


def test_demo_levels(demo):
    result = spatial.render(demo)
    out = result.audio.astype(float)
    assert result.channel_names == ("L", "R") and result.duration == 12.0
    assert np.all(np.isfinite(out))
    peak_db = 20 * np.log10(np.abs(out).max())
    assert -20 < peak_db < -1  # audible and with headroom (no clipping)
    meter = pyloudnorm.Meter(result.sample_rate)
    assert -30 < loudness(meter, out) < -14


def dialogue_over_rest(scene) -> float:
    meter = pyloudnorm.Meter(scene.sample_rate)
    dialogue = replace(scene, sources=tuple(s for s in scene.sources if s.role == "dialogue"))
    rest = replace(scene, sources=tuple(s for s in scene.sources if s.role != "dialogue"))
    assert dialogue.sources and rest.sources
    return (loudness(meter, spatial.render(dialogue).audio)
            - loudness(meter, spatial.render(rest).audio))


def test_dialogue_sits_over_the_rest_on_headphones_and_speakers(demo):
    binaural = dialogue_over_rest(demo)
    surround = dialogue_over_rest(demo.with_output(format="5.1"))
    # broadcast practice keeps dialogue well clear of music and effects
    assert binaural > 8.0 and surround > 8.0
    # the diffuse-field equalised HRTF keeps the headphone balance that of the
    # speaker mix (the raw KEMAR set gave 10.1 against 4.4 LU)
    assert abs(binaural - surround) < 1.5


def test_every_example_scene_loads_and_renders(tmp_path):
    for name in ("demo.yaml", "coast.yaml", "rural.yaml", "city.yaml"):
        scene = replace(spatial.load_scene(f"scenes/{name}"), duration=2.0)
        out = spatial.render(scene).audio
        assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-4, name
