"""Kernels whose fast paths only engage on large arrays: checked against plain NumPy at full size."""

from __future__ import annotations

import numpy as np
import pytest

from core.ops import kernels
from core.ops.kernels import matmul_thin, matmul_thin_transposed, parallel_copy, split_rows


@pytest.mark.parametrize("rows", [6, 16, 32])
def test_chunked_thin_products_equal_one_product(rows):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((rows, 25))
    columns = rng.standard_normal((25, 3 * kernels.CHUNK_COLUMNS + 123))
    out = np.empty((rows, columns.shape[1]))
    matmul_thin(weight, columns, out)
    assert np.allclose(out, weight @ columns, rtol=1e-12, atol=1e-12)
    grad = rng.standard_normal((rows, columns.shape[1]))
    assert np.allclose(matmul_thin_transposed(columns, grad), columns @ grad.T, rtol=1e-10, atol=1e-10)


def test_split_rows_covers_every_row_once_on_two_threads():
    rows = 1001
    data = np.zeros((rows, 600))  # 4.8 MB: above the threshold, so two threads run
    assert data.nbytes >= kernels.PARALLEL_MIN_BYTES
    seen = []

    def task(start, stop):
        data[start:stop] += 1
        seen.append((start, stop))

    split_rows(task, rows, data.nbytes)
    assert np.all(data == 1) and sorted(seen) == [(0, 500), (500, 1001)]


def test_split_rows_reraises_a_failure_from_either_half():
    def task(start, stop):
        if start > 0:
            raise ValueError("second half failed")

    with pytest.raises(ValueError, match="second half failed"):
        split_rows(task, 10, 1 << 30)


def test_parallel_copy_matches_copyto_for_a_strided_gather():
    source = np.arange(40 * 64 * 34 * 34, dtype=np.float32).reshape(40, 64, 34, 34)
    view = source[:, :, 1:33:2, ::2]
    destination = np.empty(view.shape, dtype=np.float32)
    parallel_copy(destination, view)
    assert np.array_equal(destination, view)


def test_parallel_copy_splits_a_single_channel_gather_along_the_next_axis():
    source = np.random.default_rng(0).random((1, 64, 32, 32)).astype(np.float32)
    view = np.lib.stride_tricks.sliding_window_view(source, (5, 5), axis=(2, 3)).transpose(0, 4, 5, 1, 2, 3)
    destination = np.empty(view.shape, dtype=np.float32)
    assert destination.shape[0] == 1 and destination.nbytes >= kernels.PARALLEL_MIN_BYTES
    parallel_copy(destination, view)
    assert np.array_equal(destination, view)
