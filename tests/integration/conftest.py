import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from loads_procs import Cluster, DemoTarget  # noqa: E402


def demo_target():
    t = DemoTarget()
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
def target():
    """A demo target of the test's own."""
    yield from demo_target()


@pytest.fixture(scope="module")
def srv():
    """A demo target shared by a module's tests (they reset its stats)."""
    yield from demo_target()


@pytest.fixture(scope="module")
def cluster2(tmp_path_factory):
    """A broker and two agents shared by a module's tests."""
    c = Cluster(2, tmp_path_factory.mktemp("cluster2"))
    try:
        yield c
    finally:
        c.kill()
