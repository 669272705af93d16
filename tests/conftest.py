import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _strict_floats():
    """Every test runs with floating-point errors raised, as in the EBU ADM Renderer."""
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)
