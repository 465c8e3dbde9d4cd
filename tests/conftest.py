import os
from pathlib import Path

import pytest

# Quiet TensorFlow's C++ start-up chatter in test output; must precede its import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def irf1_path() -> Path:
    """The paper's Task 6 file from ../shared/data; tests using it skip when it is absent."""
    path = SHARED_DATA / "IRF1_400_h3k27ac.h5"
    if not path.is_file():
        pytest.skip(f"{path} not present (it lives in the project's shared/ folder)")
    return path
