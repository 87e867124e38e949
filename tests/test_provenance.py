"""Requirement 1: every output pixel and label weight is explained by the pixels.

Image ``i`` is filled with ``i + 1``; after mixing, a pixel that is not its own
value must be its partner's, the set of such pixels must be exactly
``params.box``, and the label weights must equal the pasted pixel fraction.
These run eagerly (JAX caches each primitive), with several keys each.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import check_blend
from conftest import check_cutmix_provenance
from conftest import constant_images
from conftest import DTYPES
from conftest import LAYOUTS
from conftest import rect_mask
from conftest import soft_reference
import cutmix_jax

MODES = ("batch", "elem", "pair")
K = 10  # more classes than examples, so every label in a batch is distinct
B = 7  # odd: pair mode must leave exactly one example unpaired
KEYS = (0, 1, 2, 3)


def _labels(batch):
  return jnp.arange(batch, dtype=jnp.int32) % K


def _run_cutmix(
    images,
    labels,
    *,
    keys=KEYS,
    label_mode="area",
    label_smoothing=0.0,
    spatial_axes=(1, 2),
    mode="batch",
    **kw,
):
  """Runs cutmix for several keys and checks each result; returns them."""
  results = []
  for seed in keys:
    out, mixed, params = cutmix_jax.cutmix(
        jax.random.key(seed),
        images,
        labels,
        num_classes=K,
        mode=mode,
        label_mode=label_mode,
        label_smoothing=label_smoothing,
        spatial_axes=spatial_axes,
        return_params=True,
        **kw,
    )
    frac = check_cutmix_provenance(
        out,
        mixed,
        params,
        labels,
        num_classes=K,
        spatial_axes=spatial_axes,
        label_mode=label_mode,
        label_smoothing=label_smoothing,
        mode=mode,
        prob_is_one=kw.get("prob", 1.0) == 1.0,
        images=images,
    )
    results.append((out, mixed, params, frac))
  # Across the keys something was actually pasted (the test is not vacuous).
  assert any(np.any(r[3] > 0) for r in results)
  return results


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "uint8"])
def test_cutmix_provenance_nhwc_dtypes(mode, dtype):
  images = constant_images(B, (32, 24, 3), DTYPES[dtype])
  _run_cutmix(images, _labels(B), mode=mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", ["nchw", "video", "segmentation"])
def test_cutmix_provenance_layouts(mode, layout):
  shape_fn, spatial_axes = LAYOUTS[layout]
  dtype = jnp.int32 if layout == "segmentation" else jnp.float32
  images = constant_images(B, shape_fn(32, 24), dtype)
  _run_cutmix(images, _labels(B), mode=mode, spatial_axes=spatial_axes)


def test_cutmix_negative_spatial_axes_match_positive():
  images = constant_images(B, (32, 24, 3), jnp.float32)
  key = jax.random.key(5)
  a = cutmix_jax.cutmix(key, images, _labels(B), num_classes=K, mode="elem")
  b = cutmix_jax.cutmix(
      key, images, _labels(B), num_classes=K, mode="elem", spatial_axes=(-3, -2)
  )
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  _run_cutmix(images, _labels(B), mode="elem", spatial_axes=(-3, -2))


VARIANTS = {
    "minmax": dict(minmax=(0.2, 0.8)),
    "center_std": dict(center_std=0.1),
    "box_size": dict(box_size=16),
    "box_size_odd_rect": dict(box_size=(7, 13)),
    "larger_area": dict(label_mode="larger_area"),
    "complete": dict(label_mode="complete"),
    "label_smoothing": dict(label_smoothing=0.1),
    "alpha_small": dict(alpha=0.2),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cutmix_provenance_variants(variant, mode):
  images = constant_images(B, (32, 24, 3), jnp.float32)
  results = _run_cutmix(images, _labels(B), mode=mode, **VARIANTS[variant])
  boxes = np.concatenate(
      [np.asarray(r[2].box)[np.asarray(r[2].applied)] for r in results]
  )
  sides = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], -1)
  if variant == "minmax":
    # timm's minmax boxes are never clipped: sides in [int(lo*32), int(hi*32)).
    assert np.all((sides[:, 0] >= 6) & (sides[:, 0] < 25)), sides
    assert np.all((sides[:, 1] >= 4) & (sides[:, 1] < 19)), sides
  elif variant == "box_size":
    # A fixed 16x16 box, clipped only at the image border.
    assert np.all(sides <= 16)
    inner = (boxes[:, 0] > 0) & (boxes[:, 2] < 32)
    assert np.all(sides[inner, 0] == 16)
  elif variant == "box_size_odd_rect":
    # Odd sides lose one pixel to the paper's `// 2`: 7 -> 6, 13 -> 12.
    assert np.all(sides[:, 0] <= 6) and np.all(sides[:, 1] <= 12)
    # A box that touches no border was not clipped, so its sides are exact.
    inner_y = (boxes[:, 0] > 0) & (boxes[:, 2] < 32)
    inner_x = (boxes[:, 1] > 0) & (boxes[:, 3] < 24)
    assert np.all(sides[inner_y, 0] == 6) and np.all(sides[inner_x, 1] == 12)


def test_cutmix_float_labels_are_mixed_as_given():
  images = constant_images(B, (32, 24, 3), jnp.float32)
  onehot = jax.nn.one_hot(_labels(B), K)
  for seed in KEYS[:2]:
    out, mixed, params = cutmix_jax.cutmix(
        jax.random.key(seed),
        images,
        onehot,
        mode="elem",
        label_smoothing=0.2,
        return_params=True,
    )
    check_cutmix_provenance(
        out, mixed, params, onehot, num_classes=K, label_smoothing=0.2
    )
  # Soft labels (not one-hot) are mixed linearly too.
  soft = jax.nn.softmax(jax.random.normal(jax.random.key(9), (B, K)))
  _, mixed, params = cutmix_jax.cutmix(
      jax.random.key(0), images, soft, mode="elem", return_params=True
  )
  lam = np.asarray(params.lam)[:, None]
  expected = (
      lam * np.asarray(soft)
      + (1 - lam) * np.asarray(soft)[np.asarray(params.partner)]
  )
  np.testing.assert_allclose(mixed, expected, atol=1e-6)


@pytest.mark.parametrize("fn", ["cutmix", "mixup", "mixup_or_cutmix"])
@pytest.mark.parametrize("mode", MODES)
def test_batch_of_one_is_unchanged(fn, mode):
  images = constant_images(1, (32, 24, 3), jnp.float32) * 3.5
  labels = jnp.array([4])
  kwargs = dict(
      num_classes=K, mode=mode, label_smoothing=0.1, return_params=True
  )
  out, mixed, params = getattr(cutmix_jax, fn)(
      jax.random.key(0), images, labels, **kwargs
  )
  np.testing.assert_array_equal(out, images)
  np.testing.assert_allclose(mixed, soft_reference(labels, K, 0.1), atol=1e-7)
  assert not np.asarray(params.applied).any()
  np.testing.assert_array_equal(params.lam, [1.0])


@pytest.mark.parametrize("fn", ["cutmix", "mixup", "mixup_or_cutmix"])
@pytest.mark.parametrize("mode", MODES)
def test_prob_zero_leaves_batch_unchanged(fn, mode):
  images = constant_images(B, (32, 24, 3), jnp.uint8)
  labels = _labels(B)
  for seed in KEYS[:2]:
    out, mixed, params = getattr(cutmix_jax, fn)(
        jax.random.key(seed),
        images,
        labels,
        num_classes=K,
        mode=mode,
        prob=0.0,
        label_smoothing=0.1,
        return_params=True,
    )
    np.testing.assert_array_equal(out, images)
    np.testing.assert_allclose(mixed, soft_reference(labels, K, 0.1), atol=1e-7)
    assert not np.asarray(params.applied).any()
    np.testing.assert_array_equal(params.box, 0)
    np.testing.assert_array_equal(params.lam, 1.0)


@pytest.mark.parametrize("mode", MODES)
def test_cutmix_prob_half_mixes_some(mode):
  """With prob=0.5 the unmixed examples are untouched, the rest as usual."""
  images = constant_images(B, (32, 24, 3), jnp.float32)
  seen = set()
  for seed in range(8):
    out, mixed, params = cutmix_jax.cutmix(
        jax.random.key(seed),
        images,
        _labels(B),
        num_classes=K,
        mode=mode,
        prob=0.5,
        return_params=True,
    )
    check_cutmix_provenance(
        out,
        mixed,
        params,
        _labels(B),
        num_classes=K,
        mode=mode,
        prob_is_one=False,
    )
    applied = np.asarray(params.applied)
    seen.update(applied.tolist())
    if mode == "pair":
      np.testing.assert_array_equal(
          applied, applied[np.asarray(params.partner)]
      )
  assert seen == {True, False}


def test_pair_mode_odd_batch_one_self_pair_unchanged():
  images = constant_images(B, (32, 24, 3), jnp.float32)
  for seed in KEYS:
    out, _, params = cutmix_jax.cutmix(
        jax.random.key(seed),
        images,
        _labels(B),
        num_classes=K,
        mode="pair",
        return_params=True,
    )
    partner = np.asarray(params.partner)
    (alone,) = np.nonzero(partner == np.arange(B))[0]
    np.testing.assert_array_equal(out[alone], images[alone])
    assert not params.applied[alone]
    # Everybody else is paired, and pairs swap pixels: each member of a pair
    # gives exactly the region it takes.
    assert np.asarray(params.applied).sum() == B - 1
    pix = np.asarray(out)[..., 0]
    for i in range(B):
      j = partner[i]
      np.testing.assert_array_equal(pix[i] == j + 1, pix[j] == i + 1)
      if i != j:
        # (A box can be empty: zero rows or zero columns.)
        assert (
            np.any(pix[i] == j + 1) or cutmix_jax.box_area(params.box[i]) == 0
        )


def test_batch_mode_shares_one_box():
  images = constant_images(B, (32, 24, 3), jnp.float32)
  boxes = set()
  for seed in range(6):
    _, _, params = cutmix_jax.cutmix(
        jax.random.key(seed),
        images,
        _labels(B),
        num_classes=K,
        return_params=True,
    )
    applied = np.asarray(params.applied)
    box = np.asarray(params.box)[applied]
    assert len({tuple(b) for b in box}) == 1
    boxes.add(tuple(box[0]))
  assert len(boxes) > 1  # but different calls draw different boxes


def test_elem_mode_draws_boxes_per_example():
  images = constant_images(B, (32, 24, 3), jnp.float32)
  _, _, params = cutmix_jax.cutmix(
      jax.random.key(0),
      images,
      _labels(B),
      num_classes=K,
      mode="elem",
      return_params=True,
  )
  assert len({tuple(b) for b in np.asarray(params.box)}) > 2


# ------------------------------------------------------------------- MixUp


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "uint8"])
def test_mixup_blend_matches_float64_reference(mode, dtype):
  rng = np.random.default_rng(0)
  if dtype == "uint8":
    raw = rng.integers(0, 256, (B, 32, 24, 3))
  else:
    raw = rng.normal(size=(B, 32, 24, 3)) * 3
  images = jnp.asarray(raw, DTYPES[dtype])
  labels = _labels(B)
  for seed in KEYS[:3]:
    out, mixed, params = cutmix_jax.mixup(
        jax.random.key(seed),
        images,
        labels,
        0.4,
        num_classes=K,
        mode=mode,
        label_smoothing=0.1,
        return_params=True,
    )
    check_blend(out, images, params)
    lam = np.asarray(params.lam, np.float64)
    partner = np.asarray(params.partner)
    applied = np.asarray(params.applied)
    assert np.all((lam >= 0) & (lam <= 1))
    np.testing.assert_array_equal(lam[~applied], 1.0)
    np.testing.assert_array_equal(applied, partner != np.arange(B))
    np.testing.assert_array_equal(params.box, 0)
    assert not np.asarray(params.is_cutmix).any()
    soft = soft_reference(labels, K, 0.1)
    expected = lam[:, None] * soft + (1 - lam[:, None]) * soft[partner]
    np.testing.assert_allclose(mixed, expected, atol=1e-6)
    if mode == "batch":
      assert len(set(lam[applied].tolist())) <= 1
    if mode == "pair":
      # Both members of a pair blend with the same lam, each from the other.
      np.testing.assert_array_equal(partner[partner], np.arange(B))
      np.testing.assert_array_equal(lam, lam[partner])


def test_mixup_uint8_rounds_then_clips():
  """uint8 blends round to nearest; the extremes stay in range."""
  images = jnp.array([0, 255, 1, 2], jnp.uint8).reshape(4, 1, 1, 1)
  params = cutmix_jax.MixParams(
      box=jnp.zeros((4, 4), jnp.int32),
      lam=jnp.array([0.5, 0.999, 0.5, 0.25], jnp.float32),
      partner=jnp.array([1, 0, 3, 2], jnp.int32),
      applied=jnp.ones(4, bool),
      is_cutmix=jnp.zeros(4, bool),
  )
  out = cutmix_jax.blend(images, params)
  # 127.5 -> 128 (round half to even), 254.745 -> 255, 1.5 -> 2, 1.25 -> 1.
  np.testing.assert_array_equal(np.asarray(out).ravel(), [128, 255, 2, 1])
  assert out.dtype == jnp.uint8


# -------------------------------------------------------- mixup_or_cutmix


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_mixup_or_cutmix_each_example_pastes_or_blends(mode, dtype):
  images = constant_images(B, (32, 24, 3), DTYPES[dtype]) * 20
  own = (np.arange(B) + 1.0) * 20
  labels = _labels(B)
  kinds = set()
  # Batch mode flips one coin per call: 12 calls see both kinds unless 12
  # fair coins agree (p = 2 ** -11).
  for seed in range(12 if mode == "batch" else 3):
    out, mixed, params = cutmix_jax.mixup_or_cutmix(
        jax.random.key(seed),
        images,
        labels,
        num_classes=K,
        mode=mode,
        return_params=True,
    )
    is_cut = np.asarray(params.is_cutmix)
    applied = np.asarray(params.applied)
    partner = np.asarray(params.partner)
    lam = np.asarray(params.lam, np.float64)
    box = np.asarray(params.box)
    kinds.update(is_cut[applied].tolist())
    if mode == "batch":
      assert len(set(is_cut.tolist())) == 1
    if mode == "pair":
      np.testing.assert_array_equal(is_cut, is_cut[partner])
    pix = np.asarray(out.astype(jnp.float32))
    for i in np.nonzero(is_cut)[0]:
      # A CutMix row is a pure paste, and its weight is the unpasted area.
      values = pix[i]
      assert np.all((values == own[i]) | (values == own[partner[i]]))
      pasted = (values != own[i])[..., 0]
      np.testing.assert_array_equal(pasted, rect_mask(box[i], 32, 24))
      assert abs(lam[i] - (1 - pasted.mean())) < 1e-7
    # A MixUp row is the blend, with no box.
    np.testing.assert_array_equal(box[~is_cut], 0)
    check_blend(out, images, params, rows=~is_cut)
    soft = soft_reference(labels, K)
    np.testing.assert_allclose(
        mixed,
        lam[:, None] * soft + (1 - lam[:, None]) * soft[partner],
        atol=1e-6,
    )
  assert kinds == {True, False}


def test_mixup_or_cutmix_switches():
  images = constant_images(B, (32, 24, 3), jnp.float32)
  labels = _labels(B)
  call = functools.partial(
      cutmix_jax.mixup_or_cutmix,
      images=images,
      labels=labels,
      num_classes=K,
      mode="elem",
      return_params=True,
  )
  for seed in KEYS[:2]:
    key = jax.random.key(seed)
    out, mixed, params = call(key, switch_prob=1.0)
    assert np.asarray(params.is_cutmix).all()
    check_cutmix_provenance(out, mixed, params, labels, num_classes=K)
    out, mixed, params = call(key, cutmix_alpha=0)
    assert not np.asarray(params.is_cutmix).any()
    check_blend(out, images, params)
    out, mixed, params = call(key, mixup_alpha=0)
    assert np.asarray(params.is_cutmix).all()
    check_cutmix_provenance(out, mixed, params, labels, num_classes=K)
    out, mixed, params = call(key, switch_prob=0.0)
    assert not np.asarray(params.is_cutmix).any()
    check_blend(out, images, params)


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_feature_level_cutmix_draws_at_input_size_labels_at_feature_size(mode):
  """``input_size``: the paper's feature-level CutMix.

  The boxes are the ones drawn for the 32x32 input with the same key, mapped
  to the 8x6 feature map; the label weight is the pasted fraction of the
  feature map (the provenance oracle reads it from the pixels).
  """
  batch, k = 16, 10
  features = constant_images(batch, (8, 6, 4), jnp.float32)
  labels = jnp.arange(batch) % k
  key = jax.random.key(2)
  mixed, soft, params = cutmix_jax.cutmix(
      key,
      features,
      labels,
      0.7,
      num_classes=k,
      mode=mode,
      input_size=(32, 24),
      return_params=True,
  )
  check_cutmix_provenance(
      mixed, soft, params, labels, num_classes=k, mode=mode, images=features
  )
  drawn = cutmix_jax.sample_cutmix_params(key, batch, (32, 24), 0.7, mode=mode)
  scaled = np.asarray(cutmix_jax.rescale_boxes(drawn.box, (32, 24), (8, 6)))
  pasted = np.asarray(drawn.applied) & (
      np.asarray(cutmix_jax.box_area(scaled)) > 0
  )
  np.testing.assert_array_equal(params.partner, drawn.partner)
  np.testing.assert_array_equal(params.applied, pasted)
  np.testing.assert_array_equal(
      params.box, np.where(pasted[:, None], scaled, 0)
  )
