"""Resizing a radiograph never passes through an image larger than both ends; limits hold."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from medai.classification.onnx_classifier import OnnxClassifier, heatmap_overlay
from medai.classification.preprocessing import (
    check_radiograph,
    plan_radiograph,
    resize_image,
    resize_passes,
)
from medai.config.sections import WorkLimits
from medai.inference import WorkLimitError

LABELS = ("square", "bar")
sides = st.integers(1, 600)


@settings(max_examples=300, deadline=None)
@given(rows=sides, columns=sides, size=st.integers(1, 400))
def test_no_resize_pass_is_larger_than_both_the_input_and_the_output(rows, columns, size):
    passes = resize_passes((rows, columns), size)

    assert passes[-1] == (size, size)
    assert max(r * c for r, c in passes) <= max(rows * columns, size * size)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 300),
    columns=st.integers(1, 300),
    size=st.integers(2, 120),
    seed=st.integers(0, 3),
)
def test_resizing_pass_by_pass_gives_pillows_one_call_result(rows, columns, size, seed):
    pixels = np.random.default_rng(seed).random((rows, columns), dtype=np.float32)
    one_call = Image.fromarray(pixels).resize((size, size), Image.Resampling.BILINEAR)

    np.testing.assert_allclose(resize_image(pixels, size), np.asarray(one_call), atol=1e-5)


def test_a_tall_strip_is_shrunk_before_it_is_widened(monkeypatch):
    # 524288 x 32 pixels (the reader's 4096^2 pixel limit) to 1024: widening first would
    # make a 524288 x 1024 float image, 2 GB, out of a 64 MB radiograph.
    seen: list[tuple[int, int]] = []
    resize = Image.Image.resize

    def recording(image, size, *args, **kwargs):
        result = resize(image, size, *args, **kwargs)
        seen.append((image.size[0] * image.size[1], size[0] * size[1]))
        return result

    monkeypatch.setattr(Image.Image, "resize", recording)
    strip = np.zeros((524288, 32), np.float32)

    resized = resize_image(strip, 1024)

    assert resized.shape == (1024, 1024)
    assert len(seen) == 2  # one axis per call: Pillow runs exactly the pass asked for
    assert max(max(pair) for pair in seen) <= 524288 * 32


def test_a_4096_radiograph_at_the_largest_network_input_passes_the_defaults():
    check_radiograph(np.zeros((4096, 4096), np.float32), 2048, 14, WorkLimits())


def test_a_resize_pass_over_the_grid_limit_is_refused_by_name():
    with pytest.raises(WorkLimitError) as caught:
        check_radiograph(
            np.zeros((3000, 2000), np.float32), 320, 2, WorkLimits(max_grid_voxels=10**5)
        )

    assert caught.value.limit == "limits.max_grid_voxels"
    assert caught.value.reason.startswith(
        "resizing 3000 x 2000 to 320 x 320 (pass 1) gives a grid of 3,000 x 320 = 960,000 voxels"
    )


def test_memory_over_the_limit_is_refused_naming_the_stage():
    with pytest.raises(WorkLimitError) as caught:
        check_radiograph(np.zeros((4096, 4096), np.float32), 2048, 14, WorkLimits(max_memory_mb=64))

    assert caught.value.limit == "limits.max_memory_mb"
    assert "(drawing a heatmap); the limit is 64 MB (limits.max_memory_mb)" in caught.value.reason


def test_more_labels_and_a_larger_network_input_cost_more():
    def peak(size: int, classes: int) -> int:
        stage = plan_radiograph((2000, 2000), size, classes).peak()
        assert stage is not None
        return stage.nbytes

    assert peak(224, 2) < peak(224, 14) < peak(1024, 14)


def test_the_onnx_classifier_refuses_before_resizing(exported):
    _, path = exported
    classifier = OnnxClassifier(path, 32, LABELS, limits=WorkLimits(max_memory_mb=1))
    pixels = np.zeros((1000, 1000), np.float32)

    tracemalloc.start()
    try:
        with pytest.raises(WorkLimitError, match=r"\(limits.max_memory_mb\)$"):
            classifier.predict(pixels)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 1 << 20  # a resize would have copied the 4 MB image at least once


def test_the_estimate_bounds_what_numpy_holds_for_a_prediction_and_its_heatmap(exported):
    _, path = exported
    classifier = OnnxClassifier(path, 32, LABELS, intra_op_threads=1)
    pixels = np.random.default_rng(0).random((900, 700), dtype=np.float32)
    stage = plan_radiograph(pixels.shape, 32, len(LABELS)).peak()
    assert stage is not None

    tracemalloc.start()
    try:
        output = classifier.predict(pixels)
        heatmap_overlay(pixels, output.cams[0])
        measured = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert measured <= stage.nbytes - pixels.nbytes
