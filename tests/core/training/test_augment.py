"""Data augmentation: each kind does what it says, on a copy, reproducibly, and can be switched while running."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.errors import LayerwiseError, ParamError, ShapeError
from core.training.augment import (
    AUGMENTATION_KINDS,
    Augmenter,
    AugmentSettings,
    parse_kinds,
    rotate_images,
    shift_images,
)


def images(n: int = 64, shape: tuple[int, int, int] = (2, 9, 11), seed: int = 0) -> np.ndarray:
    """Random images, no pixel zero, so any move or zero fill is visible; shape (n, *shape), float32."""
    return np.random.default_rng(seed).uniform(0.05, 1.0, size=(n, *shape)).astype(np.float32)


def labels(n: int = 64) -> np.ndarray:
    return (np.arange(n) % 3).astype(np.int64)


def augment(kinds: set[str], x: np.ndarray, y: np.ndarray, seed: int = 1, **settings) -> tuple[np.ndarray, np.ndarray]:
    augmenter = Augmenter(AugmentSettings(kinds=frozenset(kinds), **settings))
    return augmenter.apply(x, y, np.random.default_rng(seed))


def shifted(image: np.ndarray, down: int, right: int) -> np.ndarray:
    """Reference translation of one (C, H, W) image by slicing, zeros where nothing moves in."""
    out = np.zeros_like(image)
    h, w = image.shape[-2:]
    out[:, max(down, 0) : h + min(down, 0), max(right, 0) : w + min(right, 0)] = image[
        :, max(-down, 0) : h - max(down, 0), max(-right, 0) : w - max(right, 0)
    ]
    return out


def blob(size: int = 21) -> np.ndarray:
    """One (1, 1, size, size) image: an elongated Gaussian blob in the middle, zero near the border."""
    r, c = np.mgrid[:size, :size] - (size - 1) / 2
    return np.exp(-(r**2 / 8.0 + c**2 / 2.0)).astype(np.float32)[None, None]


# ---- no kinds, copies, dtypes, determinism ---------------------------------------------------------------------


def test_no_kinds_returns_the_inputs_themselves():
    x, y = images(), labels()
    out_x, out_y = augment(set(), x, y)
    assert out_x is x and out_y is y
    out_x, out_y = augment({"resample"}, x, y)  # resample acts on the epoch order, not on batches
    assert out_x is x and out_y is y


def test_inputs_are_never_modified_and_outputs_are_fresh_arrays():
    x, y = images(), labels()
    x_before, y_before = x.copy(), y.copy()
    augmenter = Augmenter(AugmentSettings(kinds=frozenset(AUGMENTATION_KINDS), synthetic_fraction=0.5))
    augmenter.fit(x, y)
    out_x, out_y = augmenter.apply(x, y, np.random.default_rng(0))
    assert np.array_equal(x, x_before) and np.array_equal(y, y_before)
    assert not np.shares_memory(out_x, x) and not np.shares_memory(out_y, y)
    assert out_x.shape == x.shape and out_y.shape == y.shape
    assert not np.array_equal(out_x, x)


def test_outputs_are_float32_and_int64_whatever_the_input_types():
    x, y = images().astype(np.float64), labels().astype(np.int32)
    out_x, out_y = augment({"noise"}, x, y)
    assert out_x.dtype == np.float32 and out_y.dtype == np.int64
    assert np.array_equal(out_y, y)


def test_same_generator_state_gives_the_same_batch_bit_for_bit():
    x, y = images(), labels()
    augmenter = Augmenter(AugmentSettings(kinds=frozenset(AUGMENTATION_KINDS)))
    augmenter.fit(x, y)
    first = augmenter.apply(x, y, np.random.default_rng(42))
    second = augmenter.apply(x, y, np.random.default_rng(42))
    other = augmenter.apply(x, y, np.random.default_rng(43))
    assert first[0].tobytes() == second[0].tobytes() and np.array_equal(first[1], second[1])
    assert first[0].tobytes() != other[0].tobytes()
    order = [augmenter.epoch_order(100, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(*order)


# ---- image kinds -------------------------------------------------------------------------------------------------


def test_flip_mirrors_some_images_exactly_and_leaves_the_rest():
    x, y = images(), labels()
    out_x, out_y = augment({"flip"}, x, y)
    mirrored = np.array([np.array_equal(o, i[..., ::-1]) for o, i in zip(out_x, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out_x, x)])
    assert (mirrored | kept).all()
    assert 16 < mirrored.sum() < 48  # each image with probability 0.5
    assert np.array_equal(out_y, y)


def test_shift_moves_each_image_by_whole_pixels_within_range_with_zero_fill():
    x, y = images(n=200), labels(200)
    out_x, out_y = augment({"shift"}, x, y, max_shift=2)
    offsets = []
    for out, image in zip(out_x, x):
        matches = [(d, r) for d in range(-2, 3) for r in range(-2, 3) if np.array_equal(out, shifted(image, d, r))]
        assert len(matches) == 1
        offsets.append(matches[0])
    downs, rights = zip(*offsets)
    assert set(downs) == set(rights) == {-2, -1, 0, 1, 2}
    assert np.array_equal(out_y, y)


def test_shift_images_moves_content_down_and_right_for_positive_amounts():
    x = np.zeros((2, 1, 8, 8), np.float32)
    x[:, 0, 4, 5] = 1.0
    out = shift_images(x, np.array([2, 9]), np.array([-3, 0]))
    assert out[0, 0, 6, 2] == 1.0 and out[0].sum() == 1.0
    assert not out[1].any()  # moved entirely out of the image


def test_zero_max_shift_and_zero_max_rotation_are_the_identity():
    x, y = images(), labels()
    assert np.array_equal(augment({"shift"}, x, y, max_shift=0)[0], x)
    assert augment({"rotate"}, x, y, max_rotation=0.0)[0].tobytes() == x.tobytes()


def test_small_rotation_keeps_the_centre_pixel_and_roughly_the_mass():
    x = np.repeat(blob(), 32, axis=0)
    out_x, _ = augment({"rotate"}, x, labels(32), max_rotation=15.0)
    centre = (x.shape[-1] - 1) // 2
    assert np.allclose(out_x[:, 0, centre, centre], x[:, 0, centre, centre], atol=1e-6)
    assert np.allclose(out_x.sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)), rtol=0.02)
    changed = np.abs(out_x - x).max(axis=(1, 2, 3))
    assert (changed > 1e-3).sum() >= 28  # almost every image got a visibly non-zero angle
    assert out_x.dtype == np.float32


def test_rotate_images_turns_counter_clockwise_about_the_centre():
    x = images(n=3, shape=(2, 10, 10))
    out = rotate_images(x, np.array([90.0, -90.0, 180.0]))
    assert np.allclose(out[0], np.rot90(x[0], 1, axes=(1, 2)), atol=1e-5)
    assert np.allclose(out[1], np.rot90(x[1], -1, axes=(1, 2)), atol=1e-5)
    assert np.allclose(out[2], x[2, :, ::-1, ::-1], atol=1e-5)


def test_rotation_fills_corners_with_zeros():
    x = np.ones((1, 1, 21, 21), np.float32)
    out = rotate_images(x, np.array([45.0]))
    assert out[0, 0, 0, 0] == 0.0 and out[0, 0, 10, 10] == pytest.approx(1.0)


# ---- noise, resample, sample -------------------------------------------------------------------------------------


def test_noise_has_the_requested_standard_deviation_and_zero_mean():
    x, y = np.zeros((64, 1, 28, 28), np.float32), labels()
    out_x, out_y = augment({"noise"}, x, y, noise_std=0.1)
    assert out_x.std() == pytest.approx(0.1, rel=0.02)
    assert abs(out_x.mean()) < 0.002
    assert np.array_equal(out_y, y)


def test_epoch_order_is_a_permutation_or_with_resample_a_bootstrap_sample():
    rng = np.random.default_rng(3)
    plain = Augmenter(AugmentSettings()).epoch_order(1000, rng)
    assert plain.dtype == np.int64 and np.array_equal(np.sort(plain), np.arange(1000))
    boot = Augmenter(AugmentSettings(kinds=frozenset({"resample"}))).epoch_order(1000, rng)
    assert boot.dtype == np.int64 and boot.shape == (1000,)
    assert boot.min() >= 0 and boot.max() < 1000
    assert 580 < len(np.unique(boot)) < 690  # about 1 - 1/e of the samples appear; the rest are repeats
    assert len(Augmenter(AugmentSettings(kinds=frozenset({"resample"}))).epoch_order(0, rng)) == 0


def two_class_features(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 around 0.3, class 1 around 0.7 with per-feature spreads; shape (n, 5), float32."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.int64)
    centre = np.where(y[:, None] == 0, 0.3, 0.7) + np.linspace(-0.05, 0.05, 5)
    spread = np.where(y[:, None] == 0, 0.03, 0.06) * np.linspace(0.5, 1.5, 5)
    return (centre + spread * rng.standard_normal((n, 5))).astype(np.float32), y


def test_sample_draws_match_the_fitted_class_means_and_stds():
    x, y = two_class_features()
    augmenter = Augmenter(AugmentSettings(kinds=frozenset({"sample"}), synthetic_fraction=1.0))
    augmenter.fit(x, y)
    rng = np.random.default_rng(5)
    batches = [augmenter.apply(x[:64], y[:64], rng) for _ in range(200)]
    drawn = np.concatenate([b[0] for b in batches])
    drawn_y = np.concatenate([b[1] for b in batches])
    assert np.array_equal(drawn_y, np.tile(y[:64], 200))
    assert not (drawn == np.tile(x[:64], (200, 1))).all(axis=1).any()  # every row was replaced
    for k in (0, 1):
        assert np.allclose(drawn[drawn_y == k].mean(axis=0), x[y == k].mean(axis=0), atol=0.01)
        assert np.allclose(drawn[drawn_y == k].std(axis=0), x[y == k].std(axis=0), rtol=0.05)


def test_sample_replaces_the_requested_fraction_and_clips_to_the_data_range():
    x = images(n=64, shape=(1, 6, 6))
    y = labels()
    augmenter = Augmenter(AugmentSettings(kinds=frozenset({"sample"}), synthetic_fraction=0.25))
    augmenter.fit(x, y)
    out_x, out_y = augmenter.apply(x, y, np.random.default_rng(0))
    replaced = np.array([not np.array_equal(o, i) for o, i in zip(out_x, x)])
    assert replaced.sum() == 16
    assert np.array_equal(out_y, y)
    # Uniform data has a wide class std, so unclipped draws would often leave [min, max].
    assert out_x.min() >= x.min() and out_x.max() <= x.max()


def test_sample_needs_fit_matching_shapes_and_known_labels():
    x, y = images(), labels()
    augmenter = Augmenter(AugmentSettings(kinds=frozenset({"sample"})))
    with pytest.raises(LayerwiseError, match="fit"):
        augmenter.apply(x, y, np.random.default_rng(0))
    augmenter.fit(x, y)
    with pytest.raises(ShapeError, match="fit"):
        augmenter.apply(images(shape=(1, 9, 11)), y, np.random.default_rng(0))
    with pytest.raises(LayerwiseError, match="label 7"):
        augmenter.apply(x, np.full(64, 7, np.int64), np.random.default_rng(0))


def test_fit_refuses_non_finite_empty_or_mismatched_data():
    augmenter = Augmenter(AugmentSettings())
    x, y = images(), labels()
    bad = x.copy()
    bad[3, 0, 2, 2] = np.nan
    with pytest.raises(LayerwiseError, match="NaN"):
        augmenter.fit(bad, y)
    with pytest.raises(ShapeError):
        augmenter.fit(x[:0], y[:0])
    with pytest.raises(ShapeError, match=r"shape \(64,\)"):
        augmenter.fit(x, y[:10])
    assert not augmenter.fitted


# ---- feature batches, switching settings -------------------------------------------------------------------------


def test_feature_batches_skip_image_kinds():
    x, y = two_class_features(64)
    out_x, out_y = augment({"flip", "shift", "rotate"}, x, y)
    assert out_x is x and out_y is y
    with_image_kinds = augment({"flip", "shift", "rotate", "noise"}, x, y, seed=9)[0]
    noise_only = augment({"noise"}, x, y, seed=9)[0]
    assert with_image_kinds.tobytes() == noise_only.tobytes()


def test_replacing_settings_takes_effect_at_the_next_call():
    x, y = images(), labels()
    augmenter = Augmenter(AugmentSettings())
    rng = np.random.default_rng(0)
    assert augmenter.apply(x, y, rng)[0] is x
    augmenter.settings = AugmentSettings(kinds=frozenset({"noise"}), noise_std=0.5)
    assert np.abs(augmenter.apply(x, y, rng)[0] - x).std() > 0.3
    augmenter.settings = dataclasses.replace(augmenter.settings, noise_std=0.01)
    assert np.abs(augmenter.apply(x, y, rng)[0] - x).std() < 0.02
    augmenter.settings = AugmentSettings(kinds=frozenset({"resample"}))
    assert len(np.unique(augmenter.epoch_order(1000, rng))) < 1000
    augmenter.settings = AugmentSettings()
    assert augmenter.apply(x, y, rng)[0] is x


def test_wrong_batch_shapes_are_refused():
    augmenter = Augmenter(AugmentSettings(kinds=frozenset({"noise"})))
    with pytest.raises(ShapeError, match="x must be"):
        augmenter.apply(np.zeros((4, 3, 3), np.float32), np.zeros(4, np.int64), np.random.default_rng(0))
    with pytest.raises(ShapeError, match="y must be"):
        augmenter.apply(np.zeros((4, 3), np.float32), np.zeros(5, np.int64), np.random.default_rng(0))
    with pytest.raises(ShapeError, match="y must be"):
        augmenter.apply(np.zeros((4, 3), np.float32), np.zeros(4, np.float32), np.random.default_rng(0))
    with pytest.raises(ParamError, match="n must be a whole number ≥ 0, got -1"):
        augmenter.epoch_order(-1, np.random.default_rng(0))


# ---- parsing and validation --------------------------------------------------------------------------------------


def test_parse_kinds_reads_comma_separated_names():
    assert parse_kinds("noise,shift") == frozenset({"noise", "shift"})
    assert parse_kinds(" Flip , rotate ,") == frozenset({"flip", "rotate"})
    assert parse_kinds("") == frozenset()
    with pytest.raises(ParamError, match=r"'blur'.*valid: noise, shift, flip, rotate, resample, sample"):
        parse_kinds("noise,blur")


def test_settings_normalise_kinds_and_are_immutable():
    settings = AugmentSettings(kinds={"noise", "flip"})  # type: ignore[arg-type]
    assert settings.kinds == frozenset({"noise", "flip"}) and isinstance(settings.kinds, frozenset)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.noise_std = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": frozenset({"noise", "zoom"})}, "kinds has unknown kind(s) 'zoom'; valid: noise, shift"),
        ({"kinds": "noise"}, "kinds must be a set of names"),
        ({"noise_std": -1}, "noise_std must be a finite number ≥ 0, got -1"),
        ({"noise_std": float("inf")}, "noise_std must be a finite number, got inf"),
        ({"max_shift": -1}, "max_shift must be a whole number ≥ 0, got -1"),
        ({"max_shift": 1.5}, "max_shift must be a whole number ≥ 0, got 1.5"),
        ({"max_rotation": float("nan")}, "max_rotation must be a finite number ≥ 0, got nan"),
        ({"synthetic_fraction": 1.5}, "synthetic_fraction must be a number in [0, 1], got 1.5"),
        ({"synthetic_fraction": True}, "synthetic_fraction must be a number in [0, 1], got True"),
    ],
)
def test_invalid_settings_are_refused_with_the_setting_and_value(kwargs, message):
    with pytest.raises(ParamError) as caught:
        AugmentSettings(**kwargs)
    assert str(caught.value).startswith(message)
