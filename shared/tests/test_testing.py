"""The test helpers of medai.testing behave as the projects' tests rely on."""

import pytest

from medai.testing import interrupted_at_call


def test_interrupted_at_call_passes_calls_through_until_the_chosen_one():
    written = []
    write = interrupted_at_call(lambda name, *, size: written.append((name, size)), 3)

    write("a", size=1)
    write("b", size=2)
    with pytest.raises(KeyboardInterrupt):
        write("c", size=3)

    assert written == [("a", 1), ("b", 2)]
    write("d", size=4)  # only the chosen call is interrupted
    assert written[-1] == ("d", 4)
