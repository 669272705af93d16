"""spatial: scene files to binaural, multichannel and ambisonic audio.

    import spatial
    scene = spatial.load_scene("scenes/demo.yaml")
    scene = scene.move_source("line1", [5.5, 2.0, 1.6])
    result = spatial.render(scene)          # result.audio: (n, C) float32
    result.write("demo.wav")

Names are imported on first use, so `import spatial` stays fast and the
command line does not pay for numba or pyroomacoustics until it renders.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "load_scene": "spatial.scene.loader",
    "render": "spatial.renderer",
    "render_to_file": "spatial.renderer",
    "render_stream": "spatial.renderer",
    "impulse_response": "spatial.renderer",
    "plot_scene": "spatial.scene_map",
    "Rendered": "spatial.renderer",
    "Scene": "spatial.scene.model",
    "Room": "spatial.scene.parts",
    "Listener": "spatial.scene.parts",
    "Source": "spatial.scene.parts",
    "Output": "spatial.scene.parts",
    "Speaker": "spatial.scene.parts",
    "Adm": "spatial.scene.parts",
    "SpatialError": "spatial.errors",
    "SceneError": "spatial.errors",
    "Problem": "spatial.errors",
    "analyze": "spatial.analysis.profiling",
    "compare": "spatial.analysis.comparison",
    "Profile": "spatial.analysis.profile",
    "Comparison": "spatial.analysis.comparison",
    "ProfileSink": "spatial.analysis.sink",
    "decode": "spatial.decoding.decoder",
    "decode_file": "spatial.decoding.decoder",
    "Decoded": "spatial.decoding.decoder",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spatial' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
