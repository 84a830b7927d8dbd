"""Built-in datasets: shapes, value ranges, balance, reproducibility, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import DatasetError, builtin_names, load_builtin, load_dataset
from core.data.builtin import resize_bilinear

TOY_SETS = ["circles", "moons", "spirals", "xor"]


def test_builtin_names_are_sorted_and_complete():
    assert builtin_names() == ["circles", "digits", "moons", "shapes", "spirals", "xor"]


def test_unknown_name_lists_the_built_in_names():
    with pytest.raises(DatasetError, match="no built-in dataset 'mnist'; built-in datasets are circles, digits"):
        load_builtin("mnist")


@pytest.mark.parametrize("name", TOY_SETS)
def test_point_clouds_have_two_features_and_balanced_classes(name):
    data = load_builtin(name)
    assert data.x.shape == (1000, 2) and data.x.dtype == np.float32 and data.x.flags.c_contiguous
    assert data.y.dtype == np.int64
    counts = np.bincount(data.y, minlength=data.num_classes)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 1000
    assert np.isfinite(data.x).all() and np.abs(data.x).max() < 5
    # Shuffled: the labels are not in blocks.
    assert len(np.unique(data.y[:20])) > 1
    assert load_builtin(name, input_shape=(2,), n_samples=30).x.shape == (30, 2)


def test_class_counts_of_the_point_clouds():
    assert {name: load_builtin(name).num_classes for name in TOY_SETS} == {
        "circles": 2,
        "moons": 2,
        "spirals": 3,
        "xor": 2,
    }


def test_xor_classes_follow_the_quadrant_signs():
    data = load_builtin("xor", noise=0.05)
    same_sign = np.sign(data.x[:, 0]) == np.sign(data.x[:, 1])
    np.testing.assert_array_equal(same_sign, data.y == 0)


def test_circles_inner_ring_is_inside_the_outer_ring():
    data = load_builtin("circles", noise=0.0)
    radius = np.hypot(data.x[:, 0], data.x[:, 1])
    np.testing.assert_allclose(radius[data.y == 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(radius[data.y == 1], 0.5, atol=1e-5)


def test_noise_spreads_the_points():
    quiet, noisy = load_builtin("circles", noise=0.0), load_builtin("circles", noise=0.3)
    spread = [np.std(np.hypot(*d.x[d.y == 0].T)) for d in (quiet, noisy)]
    assert spread[0] < 1e-5 < 0.1 < spread[1]


@pytest.mark.parametrize("name", builtin_names())
def test_same_seed_same_bits_other_seed_other_data(name):
    kwargs = {"n_samples": 40} if name != "digits" else {"n_samples": 40, "noise": 0.05}
    first, again = load_builtin(name, seed=3, **kwargs), load_builtin(name, seed=3, **kwargs)
    assert first.x.tobytes() == again.x.tobytes() and first.y.tobytes() == again.y.tobytes()
    other = load_builtin(name, seed=4, **kwargs)
    assert first.x.tobytes() != other.x.tobytes()


def test_shapes_defaults():
    data = load_builtin("shapes")
    assert data.x.shape == (4000, 1, 28, 28) and data.x.dtype == np.float32
    assert data.class_names == ["circle", "square", "triangle", "cross"]
    assert np.bincount(data.y).tolist() == [1000] * 4
    assert data.x.min() >= 0.0 and data.x.max() <= 1.0
    # Background pixels carry noise of about 0.1 (half is clipped at 0); shapes are bright.
    corners = data.x[:, 0, 0, 0]
    assert 0.02 < corners.mean() < 0.08
    assert (data.x.reshape(4000, -1) > 0.8).sum(axis=1).min() >= 20


def test_shapes_cover_areas_typical_of_their_class():
    data = load_builtin("shapes", n_samples=400, noise=0.0)
    area = data.x.reshape(len(data), -1).sum(axis=1)
    size = (data.x.reshape(len(data), -1) > 0.5).sum(axis=1)
    assert size.min() >= 40  # shapes are never smaller than about 8 px across
    assert size.max() <= 28 * 28 * 0.6
    # Circles fill more of their circumscribed disc than triangles do.
    assert area[data.y == 0].mean() > 1.8 * area[data.y == 2].mean()


def test_shapes_noise_controls_the_background():
    clean = load_builtin("shapes", n_samples=20, noise=0.0)
    assert set(np.unique(clean.x[:, 0, 0, 0])) == {0.0}
    assert clean.x[:, 0, 0, 0].std() < load_builtin("shapes", n_samples=20, noise=0.3).x[:, 0, 0, 0].std()


def test_colour_shapes_have_a_darker_background_than_foreground():
    data = load_builtin("shapes", input_shape=(3, 32, 40), n_samples=40, noise=0.0)
    assert data.x.shape == (40, 3, 32, 40)
    brightness = data.x.mean(axis=1).reshape(40, -1)
    background = data.x[:, :, 0, 0]
    assert (brightness.max(axis=1) - background.mean(axis=1) >= 0.39).all()
    # Different samples get different colours.
    assert len(np.unique(background.round(3), axis=0)) == 40


def test_shapes_at_the_smallest_size():
    assert load_builtin("shapes", input_shape=(1, 12, 12), n_samples=8).x.shape == (8, 1, 12, 12)


def test_digits_are_the_real_scikit_learn_digits():
    data = load_builtin("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == np.float32
    assert data.class_names == [str(d) for d in range(10)]
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    assert np.bincount(data.y).min() >= 170


def test_digits_resized_to_28_keep_their_mean_intensity_and_can_be_rgb():
    small = load_builtin("digits")
    large = load_builtin("digits", input_shape=(3, 28, 28))
    assert large.x.shape == (1797, 3, 28, 28)
    np.testing.assert_array_equal(large.x[:, 0], large.x[:, 2])
    assert abs(large.x.mean() - small.x.mean()) < 0.01
    assert abs(large.x[5].mean() - small.x[5].mean()) < 0.03
    assert large.x.min() >= 0.0 and large.x.max() <= 1.0


def test_digits_subset_is_stratified():
    data = load_builtin("digits", n_samples=100, seed=1)
    assert len(data) == 100 and np.bincount(data.y).tolist() == [10] * 10


def test_resize_bilinear_matches_hand_computed_values():
    image = np.array([[[[0.0, 1.0], [2.0, 3.0]]]], dtype=np.float32)
    same = resize_bilinear(image, 2, 2)
    np.testing.assert_allclose(same, image)
    # Upsampling 2→4 samples at source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    row = resize_bilinear(image, 1, 4)[0, 0, 0]
    np.testing.assert_allclose(row, [1.0, 1.25, 1.75, 2.0])
    assert resize_bilinear(np.ones((2, 3, 5, 7), np.float32), 9, 4).shape == (2, 3, 9, 4)


@pytest.mark.parametrize(
    ("name", "shape", "fragment"),
    [
        ("moons", (1, 28, 28), "cannot produce a 1×28×28 (C×H×W) map; it produces 2 features per sample"),
        ("xor", (3,), "cannot produce 3 features"),
        ("digits", (5, 8, 8), "cannot produce a 5×8×8 (C×H×W) map; it produces (C, H, W) images with C = 1 or 3"),
        ("digits", (64,), "cannot produce 64 features"),
        ("shapes", (1, 11, 28), "H, W ≥ 12"),
        ("shapes", (2, 28, 28), "C = 1 or 3"),
        ("shapes", (1, 0, 28), "input_shape must be a tuple of positive whole numbers"),
        ("shapes", "28x28", "input_shape must be a tuple of positive whole numbers"),
    ],
)
def test_shapes_a_set_cannot_produce_are_refused(name, shape, fragment):
    with pytest.raises(DatasetError, match=f"built-in dataset '{name}'") as info:
        load_builtin(name, input_shape=shape)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_samples": 3}, "n_samples must be a whole number ≥ 4"),
        ({"n_samples": 2.5}, "n_samples must be a whole number"),
        ({"noise": -0.1}, "noise must be a finite number ≥ 0"),
        ({"noise": float("inf")}, "noise must be a finite number ≥ 0"),
        ({"seed": -1}, "seed must be a whole number ≥ 0"),
        ({"n_samples": 10**9}, "GiB; the limit is 2 GiB"),
    ],
)
def test_bad_arguments_are_refused(kwargs, fragment):
    with pytest.raises(DatasetError, match="built-in dataset 'shapes'") as info:
        load_builtin("shapes", **kwargs)
    assert fragment in str(info.value)


def test_digits_cannot_give_more_samples_than_it_has():
    with pytest.raises(DatasetError, match="'digits' has 1797 samples; n_samples 2000 is too many"):
        load_builtin("digits", n_samples=2000)


def test_load_dataset_uses_the_built_in_unless_a_path_of_that_name_exists(tmp_path, monkeypatch):
    built_in = load_builtin("moons", n_samples=10, seed=2)
    assert load_dataset("moons", n_samples=10, seed=2).x.tobytes() == built_in.x.tobytes()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "moons").mkdir()
    with pytest.raises(DatasetError, match="moons: is an empty folder"):
        load_dataset("moons")
