from medai.errors import find_cause


def wrapped(inner: BaseException) -> RuntimeError:
    """What ``raise RuntimeError(...) from inner`` leaves behind, as MONAI's Compose does."""
    outer = RuntimeError("applying transform <X>")
    outer.__cause__ = inner
    return outer


def test_find_cause_returns_the_wrapped_error_of_the_requested_kind():
    inner = ValueError("scan.nii.gz: is truncated")
    assert find_cause(wrapped(inner), (ValueError,)) is inner


def test_find_cause_returns_none_when_no_error_matches():
    assert find_cause(wrapped(KeyError("x")), (ValueError,)) is None


def test_find_cause_survives_a_cycle_in_the_chain():
    first, second = ValueError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert find_cause(second, (KeyError,)) is None
