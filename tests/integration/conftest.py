import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from loads_procs import DemoTarget  # noqa: E402


@pytest.fixture
def target():
    t = DemoTarget()
    try:
        yield t
    finally:
        t.kill()
