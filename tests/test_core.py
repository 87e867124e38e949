"""Requirement 2: the deterministic core against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cutmix_jax
from cutmix_jax import MixParams


def _params(box, lam, partner, applied=None, is_cutmix=None):
  box = jnp.asarray(box, jnp.int32)
  batch = box.shape[0]
  return MixParams(
      box=box,
      lam=jnp.asarray(lam, jnp.float32),
      partner=jnp.asarray(partner, jnp.int32),
      applied=jnp.ones(batch, bool)
      if applied is None
      else jnp.asarray(applied),
      is_cutmix=jnp.ones(batch, bool)
      if is_cutmix is None
      else jnp.asarray(is_cutmix),
  )


# ------------------------------------------------------------------ boxes


@pytest.mark.parametrize(
    "center, sides, expected",
    [
        # Inside the image: y0 = cy - h//2, y1 = cy + h//2.
        ((16, 16), (8, 8), [12, 12, 20, 20]),
        # Clipped at the top-left corner.
        ((1, 2), (8, 8), [0, 0, 5, 6]),
        # Clipped at the bottom-right corner (bounds clip to H, W, not H-1).
        ((31, 30), (8, 8), [27, 26, 32, 32]),
        # Odd sides lose one pixel to the floor division: 7 -> 6, 5 -> 4.
        ((10, 10), (7, 5), [7, 8, 13, 12]),
        # A side of 1 has half 0: an empty box, as in the paper.
        ((10, 10), (1, 9), [10, 6, 10, 14]),
        # A side of 0 (lam = 1) is empty.
        ((5, 5), (0, 0), [5, 5, 5, 5]),
        # A full-size box centred anywhere covers at most the image.
        ((0, 31), (32, 32), [0, 15, 16, 32]),
    ],
)
def test_box_from_center_hand_computed(center, sides, expected):
  box = cutmix_jax.box_from_center(center, sides, (32, 32))
  assert box.dtype == jnp.int32 and box.shape == (4,)
  assert box.tolist() == expected


def test_box_from_center_non_square_and_batched():
  # H=10, W=20: rows clip at 10, columns at 20.
  box = cutmix_jax.box_from_center(
      jnp.array([[9, 19], [0, 0]]), jnp.array([[6, 10], [4, 30]]), (10, 20)
  )
  assert box.shape == (2, 4)
  assert box.tolist() == [[6, 14, 10, 20], [0, 0, 2, 15]]


@pytest.mark.parametrize(
    "lam, center, hw, expected",
    [
        # lam = 0.75: r = 0.5, a 16x16 cut.
        (0.75, (16, 16), (32, 32), [8, 8, 24, 24]),
        # lam = 0.4375: r = 0.75, cut 24x24, clipped at the top-left.
        (0.4375, (3, 5), (32, 32), [0, 0, 15, 17]),
        # lam = 1 - (21.5/32)^2: r * 32 = 21.5 -> floor 21 (odd) -> half 10.
        (1 - (21.5 / 32) ** 2, (20, 31), (32, 32), [10, 21, 30, 32]),
        # Non-square 16x24 image, lam = 0.75: cut_h = 8, cut_w = 12.
        (0.75, (15, 0), (16, 24), [11, 0, 16, 6]),
        # lam = 0: the whole image is cut (sides H, W), centred.
        (0.0, (16, 16), (32, 32), [0, 0, 32, 32]),
        # lam = 1: nothing.
        (1.0, (7, 9), (32, 32), [7, 9, 7, 9]),
        # floor, not round: r = sqrt(1 - 0.5) * 10 = 7.07 -> 7 -> half 3.
        (0.5, (5, 5), (10, 10), [2, 2, 8, 8]),
        # floor, not round: 10 * sqrt(0.15) = 3.87 -> 3 -> half 1.
        (0.85, (5, 5), (10, 10), [4, 4, 6, 6]),
    ],
)
def test_box_from_lambda_hand_computed(lam, center, hw, expected):
  box = cutmix_jax.box_from_lambda(lam, center, hw)
  assert box.dtype == jnp.int32
  assert box.tolist() == expected


def test_box_from_lambda_batched_matches_elementwise():
  lam = jnp.array([0.1, 0.5, 0.9, 0.3])
  cy, cx = jnp.array([0, 5, 31, 17]), jnp.array([31, 2, 16, 9])
  center = jnp.stack([cy, cx], -1)
  batched = cutmix_jax.box_from_lambda(lam, center, (32, 28))
  for i in range(4):
    np.testing.assert_array_equal(
        batched[i], cutmix_jax.box_from_lambda(lam[i], center[i], (32, 28))
    )


def test_box_area_and_pasted_fraction():
  boxes = jnp.array(
      [[8, 8, 24, 24], [0, 0, 0, 5], [3, 4, 2, 9], [0, 0, 32, 32], [1, 2, 4, 7]]
  )
  assert cutmix_jax.box_area(boxes).tolist() == [256, 0, 0, 1024, 15]
  np.testing.assert_array_equal(
      cutmix_jax.pasted_fraction(boxes, (32, 32)),
      np.float32([0.25, 0, 0, 1, 15 / 1024]),
  )
  # Non-square: 15 pixels of 10 * 6.
  assert float(
      cutmix_jax.pasted_fraction([1, 2, 4, 7], (10, 6))
  ) == pytest.approx(0.25, abs=1e-7)


def test_box_mask_hand_computed():
  mask = cutmix_jax.box_mask([[1, 0, 3, 2], [0, 2, 4, 3], [2, 2, 2, 3]], (4, 3))
  assert mask.dtype == jnp.bool_ and mask.shape == (3, 4, 3)
  np.testing.assert_array_equal(
      mask.astype(int),
      [
          [[0, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0]],
          [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]],
          [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
      ],
  )
  with pytest.raises(ValueError, match="box"):
    cutmix_jax.box_mask([1, 0, 3, 2], (4, 3))


def test_box_mask_area_matches_box_area():
  rng = np.random.default_rng(0)
  y = np.sort(rng.integers(0, 16, (50, 2)), axis=1)
  x = np.sort(rng.integers(0, 11, (50, 2)), axis=1)
  boxes = jnp.asarray(np.stack([y[:, 0], x[:, 0], y[:, 1], x[:, 1]], -1))
  mask = cutmix_jax.box_mask(boxes, (12, 8))  # some boxes stick out: clipped
  clipped = np.minimum(np.asarray(boxes), [12, 8, 12, 8])
  np.testing.assert_array_equal(mask.sum((1, 2)), cutmix_jax.box_area(clipped))


@pytest.mark.parametrize(
    "box, src, dst, expected",
    [
        ([8, 8, 24, 24], (32, 32), (8, 8), [2, 2, 6, 6]),
        ([8, 8, 24, 24], (32, 32), (64, 16), [16, 4, 48, 12]),
        # Non-tie rounding: 5 * 7/32 = 1.09 -> 1, 27 * 7/32 = 5.9 -> 6.
        ([5, 3, 27, 30], (32, 32), (7, 7), [1, 1, 6, 7]),
        # Clipped to the target size.
        ([0, 0, 32, 32], (32, 32), (3, 5), [0, 0, 3, 5]),
        # The same size is the identity.
        ([1, 2, 3, 4], (10, 10), (10, 10), [1, 2, 3, 4]),
    ],
)
def test_rescale_boxes_hand_computed(box, src, dst, expected):
  out = cutmix_jax.rescale_boxes(box, src, dst)
  assert out.dtype == jnp.int32
  assert out.tolist() == expected


def test_rescale_boxes_batched_and_feature_paste():
  boxes = jnp.array([[8, 8, 24, 24], [0, 16, 16, 32]])
  small = cutmix_jax.rescale_boxes(boxes, (32, 32), (4, 4))
  assert small.tolist() == [[1, 1, 3, 3], [0, 2, 2, 4]]
  # Pasting at feature resolution uses the rescaled boxes exactly.
  feats = jnp.stack([jnp.zeros((4, 4, 2)), jnp.ones((4, 4, 2))])
  params = _params(small, [0.75, 0.75], [1, 0])
  out = cutmix_jax.cut_and_paste(feats, params)
  np.testing.assert_array_equal(
      out[0, ..., 0], cutmix_jax.box_mask(small, (4, 4))[0]
  )
  np.testing.assert_array_equal(
      out[1, ..., 0], ~cutmix_jax.box_mask(small, (4, 4))[1]
  )


# --------------------------------------------------------- cut_and_paste


def test_cut_and_paste_with_given_params():
  # Three 4x5 single-channel images with distinct pixel values.
  images = jnp.arange(3 * 4 * 5, dtype=jnp.int32).reshape(3, 4, 5, 1)
  params = _params(
      [[0, 0, 2, 2], [1, 3, 4, 5], [0, 0, 0, 0]],
      [0.8, 0.7, 1.0],
      [2, 0, 2],
      applied=[True, True, False],
  )
  out = np.asarray(cutmix_jax.cut_and_paste(images, params))[..., 0]
  x = np.asarray(images)[..., 0]
  expected = x.copy()
  expected[0, 0:2, 0:2] = x[2, 0:2, 0:2]
  expected[1, 1:4, 3:5] = x[0, 1:4, 3:5]
  np.testing.assert_array_equal(out, expected)
  assert out.dtype == np.int32


@pytest.mark.parametrize(
    "dtype", [jnp.uint8, jnp.bfloat16, jnp.float32, jnp.int32, jnp.bool_]
)
def test_cut_and_paste_keeps_dtype_and_values(dtype):
  images = jnp.asarray(
      np.random.default_rng(0).integers(0, 2, (2, 3, 4, 2)), dtype
  )
  params = _params([[0, 1, 2, 3], [1, 0, 3, 4]], [0.5, 0.5], [1, 0])
  out = cutmix_jax.cut_and_paste(images, params)
  assert out.dtype == images.dtype
  mask = np.asarray(cutmix_jax.box_mask(params.box, (3, 4)))[..., None]
  expected = np.where(mask, np.asarray(images)[[1, 0]], np.asarray(images))
  np.testing.assert_array_equal(out, expected)


def test_cut_and_paste_nchw_equals_transposed_nhwc():
  images = jnp.arange(2 * 3 * 6 * 5, dtype=jnp.float32).reshape(2, 6, 5, 3)
  params = _params([[1, 1, 4, 3], [0, 2, 6, 5]], [0.8, 0.5], [1, 0])
  nhwc = cutmix_jax.cut_and_paste(images, params)
  nchw = cutmix_jax.cut_and_paste(
      images.transpose(0, 3, 1, 2), params, spatial_axes=(2, 3)
  )
  np.testing.assert_array_equal(nchw.transpose(0, 2, 3, 1), nhwc)


# ------------------------------------------------------------------ blend


def test_blend_hand_computed():
  images = jnp.array([[0.0, 4.0], [8.0, 2.0], [1.0, 1.0]]).reshape(3, 2, 1)
  params = _params(
      jnp.zeros((3, 4)), [0.25, 0.5, 1.0], [1, 0, 0], is_cutmix=[False] * 3
  )
  out = cutmix_jax.blend(images, params)
  np.testing.assert_allclose(out[..., 0], [[6.0, 2.5], [4.0, 3.0], [1.0, 1.0]])


def test_mix_images_selects_paste_or_blend():
  images = jnp.stack([jnp.zeros((4, 4, 1)), jnp.full((4, 4, 1), 8.0)])
  params = _params(
      [[0, 0, 2, 2], [0, 0, 0, 0]],
      [0.75, 0.25],
      [1, 0],
      is_cutmix=[True, False],
  )
  out = np.asarray(cutmix_jax.mix_images(images, params))[..., 0]
  expected0 = np.zeros((4, 4))
  expected0[:2, :2] = 8.0
  np.testing.assert_array_equal(out[0], expected0)
  np.testing.assert_allclose(out[1], np.full((4, 4), 0.25 * 8.0))


# ----------------------------------------------------------------- labels


def test_soft_labels_hand_computed():
  out = cutmix_jax.soft_labels(jnp.array([1, 0]), 4, label_smoothing=0.2)
  np.testing.assert_allclose(
      out, [[0.05, 0.85, 0.05, 0.05], [0.85, 0.05, 0.05, 0.05]], atol=1e-7
  )
  assert out.dtype == jnp.float32
  # Float labels are smoothed the same way and keep their values otherwise.
  soft = jnp.array([[0.5, 0.5, 0.0, 0.0]])
  np.testing.assert_allclose(
      cutmix_jax.soft_labels(soft, label_smoothing=0.2),
      [[0.45, 0.45, 0.05, 0.05]],
      atol=1e-7,
  )
  np.testing.assert_array_equal(cutmix_jax.soft_labels(soft), soft)


def test_mix_labels_hand_computed():
  params = _params(
      [[0, 0, 2, 2], [0, 0, 0, 0], [0, 0, 1, 1]],
      [0.75, 1.0, 0.9],
      [2, 1, 0],
      applied=[True, False, True],
  )
  out = cutmix_jax.mix_labels(jnp.array([0, 1, 2]), params, num_classes=3)
  np.testing.assert_allclose(
      out, [[0.75, 0, 0.25], [0, 1, 0], [0.1, 0, 0.9]], atol=1e-7
  )
  # With smoothing: smooth first (eps/K everywhere), then mix.
  out = cutmix_jax.mix_labels(
      jnp.array([0, 1, 2]), params, num_classes=3, label_smoothing=0.3
  )
  s = lambda k: np.eye(3)[k] * 0.7 + 0.1  # noqa: E731
  np.testing.assert_allclose(
      out, [0.75 * s(0) + 0.25 * s(2), s(1), 0.9 * s(2) + 0.1 * s(0)], atol=1e-6
  )


def test_label_weights_modes():
  # 32x32 images; boxes covering 1/4, 3/4, 1/2 and nothing.
  params = _params(
      [
          [0, 0, 16, 16],
          [0, 0, 32, 24],
          [0, 0, 16, 32],
          [0, 0, 0, 0],
          [0, 0, 8, 8],
      ],
      [0.9, 0.9, 0.9, 0.9, 0.3],
      [1, 0, 3, 2, 0],
      applied=[True, True, True, True, False],
  )
  area = cutmix_jax.label_weights(params, (32, 32))
  np.testing.assert_array_equal(area, np.float32([0.75, 0.25, 0.5, 1.0, 1.0]))
  larger = cutmix_jax.label_weights(params, (32, 32), label_mode="larger_area")
  # The label of the larger area wins; a tie (1/2) keeps the example's own.
  np.testing.assert_array_equal(larger, np.float32([1, 0, 1, 1, 1]))
  complete = cutmix_jax.label_weights(params, (32, 32), label_mode="complete")
  # An empty box pastes nothing, so even a row flagged applied keeps its own
  # label: "complete" gives 0.5 / 0.5 only where pixels were pasted.
  np.testing.assert_array_equal(complete, np.float32([0.5, 0.5, 0.5, 1, 1]))
  # MixUp rows keep their own lam whatever the label rule.
  mixup_rows = params._replace(is_cutmix=jnp.zeros(5, bool))
  for mode in ("area", "larger_area", "complete"):
    np.testing.assert_array_equal(
        cutmix_jax.label_weights(mixup_rows, (32, 32), label_mode=mode),
        np.float32([0.9, 0.9, 0.9, 0.9, 0.3]),
    )


def test_check_labels_in_range_rejects_float_labels():
  with pytest.raises(TypeError, match="labels"):
    cutmix_jax.check_labels_in_range(jnp.array([0.5]), 3)


# ------------------------------------------------------------------ losses


def _soft_cross_entropy(logits, soft):
  return -np.sum(
      np.asarray(soft, np.float64)
      * np.asarray(jax.nn.log_softmax(logits), np.float64),
      -1,
  )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize(
    "fn, kwargs",
    [
        ("cutmix", dict(mode="elem")),
        ("cutmix", dict(mode="batch", label_mode="larger_area")),
        ("cutmix", dict(mode="pair", label_mode="complete")),
        ("mixup", dict(mode="elem", alpha=0.4)),
        ("mixup_or_cutmix", dict(mode="elem")),
    ],
)
def test_mixed_cross_entropy_equals_soft_label_cross_entropy(
    fn, kwargs, label_smoothing
):
  k = 7
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(9, 8, 6, 3)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, k, 9), jnp.int32)
  logits = jnp.asarray(rng.normal(size=(9, k)) * 3, jnp.float32)
  _, soft, params = getattr(cutmix_jax, fn)(
      jax.random.key(1),
      images,
      labels,
      num_classes=k,
      label_smoothing=label_smoothing,
      return_params=True,
      prob=0.8,
      **kwargs,
  )
  assert np.asarray(params.applied).any()
  loss = cutmix_jax.mixed_cross_entropy(
      logits, labels, params, label_smoothing=label_smoothing
  )
  assert loss.shape == (9,) and loss.dtype == jnp.float32
  np.testing.assert_allclose(
      loss, _soft_cross_entropy(logits, soft), rtol=1e-5, atol=1e-5
  )


def test_mixed_cross_entropy_hand_computed():
  logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
  params = _params(
      [[0, 0, 1, 2], [0, 0, 0, 0]], [0.75, 1.0], [1, 0], applied=[True, False]
  )
  loss = cutmix_jax.mixed_cross_entropy(logits, jnp.array([0, 2]), params)
  # Row 0: 0.75 * -log 0.5 + 0.25 * -log 0.25 (its partner's class 2).
  # Row 1 is not mixed: -log 0.8.
  np.testing.assert_allclose(
      loss, [0.75 * np.log(2) + 0.25 * np.log(4), -np.log(0.8)], rtol=1e-6
  )
