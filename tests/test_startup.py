"""Start-up of the command (issue 8): a static render imports neither scipy.signal
(nor the scipy.stats it drags in) nor pyroomacoustics, ~1.1 s of imports between
them. Checked on the real command in a subprocess, with python -X importtime
(every module imported, nested ones included, is listed on stderr)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = re.compile(r"\|\s*(scipy\.signal|scipy\.stats|pyroomacoustics)(\.|\s*$)", re.M)


@pytest.mark.parametrize("fmt", ["binaural", "5.1"])
def test_static_render_does_not_import_heavy_modules(tmp_path, fmt):
    out = tmp_path / "demo.wav"
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "spatial", "render",
                        str(ROOT / "scenes" / "demo.yaml"), "--format", fmt, "-o", str(out),
                        "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.exists()
    assert "import time:" in r.stderr  # the check below looks at a real import log
    heavy = sorted({m.group(1) for m in HEAVY.finditer(r.stderr)})
    assert heavy == [], f"a static render imported {heavy}"
