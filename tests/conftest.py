import os

import numpy as np
import pytest
from hypothesis import settings

# CI runs a fixed set of generated examples, so a red run can be reproduced;
# locally hypothesis explores new examples every run.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _strict_floats():
    """Every test runs with floating-point errors raised, as in the EBU ADM Renderer."""
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)
