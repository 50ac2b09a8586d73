"""The harness itself: Proc.wait_for sees every line a child prints, also
when two lines come in one read (the dashboard's `listening http` and
`subscribed` did, and a full ctest then waited 30 s for a line already read)."""
import pytest

from loads_procs import Proc


def test_two_lines_in_one_read_are_both_seen():
    p = Proc(["sh", "-c", "printf 'listening http x\\nsubscribed y\\nthird\\n'; sleep 5"])
    try:
        assert p.wait_for(lambda l: l.startswith("listening"), timeout=5) == "listening http x"
        # Already read with the first line: found without waiting for more bytes.
        assert p.wait_for(lambda l: l.startswith("subscribed"), timeout=2) == "subscribed y"
        assert p.wait_for(lambda l: l == "third", timeout=2) == "third"
        # An earlier line still matches a later call.
        assert p.wait_for(lambda l: l.startswith("listening"), timeout=1) == "listening http x"
    finally:
        p.kill()


def test_a_line_that_never_comes_is_an_error_naming_what_came():
    p = Proc(["sh", "-c", "echo only; sleep 5"])
    try:
        with pytest.raises(AssertionError, match=r"no matching line within 0.5s; stdout=\['only'\]"):
            p.wait_for(lambda l: l == "never", timeout=0.5)
    finally:
        p.kill()
