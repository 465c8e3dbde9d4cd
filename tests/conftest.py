import faulthandler
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


#: Seconds this process may take to exit after the last test before it is stopped.
EXIT_WATCHDOG_SECONDS = 300


def pytest_unconfigure(config):
    """Stop a process that does not exit after the tests: print every thread's stack, exit 1.

    A thread that never ends (say a multiprocessing feeder blocked on a lock a killed
    process held) keeps the interpreter from exiting; without this `make test` would
    sit silent until CI's time limit instead of failing with the culprit's stack.
    """
    faulthandler.dump_traceback_later(EXIT_WATCHDOG_SECONDS, exit=True)
