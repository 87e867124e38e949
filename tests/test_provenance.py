"""Every output pixel and label weight of the random functions, explained by the pixels.

Image ``i`` is filled with ``i + 1``; after mixing, a pixel that is not its own
value must be its partner's, the set of such pixels must be exactly
``params.box``, and the label weight must equal the pasted pixel fraction
(`conftest.check_cutmix_provenance`). MixUp rows must equal a float64 blend.

Each property is written once in `RandomProperties` and run three ways
(dm_pix's pattern): eagerly, under `jax.jit` (``alpha`` and ``prob`` traced)
and under `jax.vmap` over two keys (the vmapped result must also equal the
loop, both compiled). Every case runs under `jax.jit`; eagerly and under
vmap, the cases that exercise something else there (each mode, a dtype that
rounds, a layout of 1 or 3 axes, the box rules with operations of their
own).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from conftest import bits
from conftest import check_blend
from conftest import check_cutmix_provenance
from conftest import constant_images
from conftest import EAGER
from conftest import JIT
from conftest import rect_mask
from conftest import soft_reference
from conftest import VMAP
import cutmix_jax
from cutmix_jax import boxes

K = 10  # more classes than examples, so every label in a batch is distinct
B = 7  # odd: pair mode must leave exactly one example unpaired
SEEDS = (0, 1)
NHWC = (32, 24, 3)

# name -> (example shape, dtype, axes (None: the default), mode, options).
# One mode a setup (they cycle), so the jit variant compiles each once.
# fmt: off
CUTMIX_SETUPS = {
    "float32_batch": (NHWC, jnp.float32, None, "batch", {}),
    "float32_elem": (NHWC, jnp.float32, None, "elem", {}),
    "float32_pair": (NHWC, jnp.float32, None, "pair", {}),
    "bfloat16_elem": (NHWC, jnp.bfloat16, None, "elem", {}),
    "uint8_pair": (NHWC, jnp.uint8, None, "pair", {}),
    "nchw_elem": ((2, 32, 24), jnp.float32, (2, 3), "elem", {}),
    "segmentation_int32_batch": ((32, 24), jnp.int32, None, "batch", {}),
    "negative_axes_elem": (NHWC, jnp.float32, (-3, -2), "elem", {}),
    "s_videomix_pair": ((3, 16, 12, 2), jnp.float32, (2, 3), "pair", {}),
    "t_videomix_elem": ((6, 8, 7, 2), jnp.float32, (1,), "elem", {}),
    "st_videomix_batch": ((6, 8, 7, 2), jnp.float32, (1, 2, 3), "batch", {}),
    "spectrogram_time_pair": ((20, 9), jnp.float32, (1,), "pair", {}),
    "volume_masks_elem": ((4, 6, 5), jnp.int32, (1, 2, 3), "elem", {}),
    "minmax_elem": (NHWC, jnp.float32, None, "elem", dict(box=boxes.minmax(0.2, 0.8))),
    "gaussian_center_batch": (NHWC, jnp.float32, None, "batch", dict(box=boxes.gaussian_center(0.1))),  # noqa: E501
    "fixed_size_pair": (NHWC, jnp.float32, None, "pair", dict(box=boxes.fixed_size(16))),
    "fixed_size_odd_elem": (NHWC, jnp.float32, None, "elem", dict(box=boxes.fixed_size((7, 13)))),
    "patch_grid_elem": ((32, 32, 3), jnp.float32, None, "elem", dict(box=boxes.on_patch_grid((8, 4)))),  # noqa: E501
    "patch_grid_minmax_pair": ((32, 32, 3), jnp.float32, None, "pair", dict(box=boxes.on_patch_grid(4, boxes.minmax(0.3, 0.7)))),  # noqa: E501
    "at_resolution_elem": ((8, 6, 4), jnp.float32, None, "elem", dict(box=boxes.at_resolution((32, 24)))),  # noqa: E501
    "larger_area_elem": (NHWC, jnp.float32, None, "elem", dict(label_mode="larger_area")),
    "complete_pair": (NHWC, jnp.float32, None, "pair", dict(label_mode="complete")),
    "smoothing_batch": (NHWC, jnp.float32, None, "batch", dict(label_smoothing=0.1)),
}
# fmt: on


@functools.cache
def _caller(fn, options):
  """``with_params(fn)`` with ``alpha`` and ``prob`` run-time arguments.

  One function object per setup, so that `jax.jit` compiles it once for all
  the tests that use it (prob 1, 0.5 and 0 are the same program).
  """
  mixer = cutmix_jax.with_params(
      functools.partial(fn, num_classes=K, **dict(options))
  )

  def call(rng, x, y, a, p):
    if fn is cutmix_jax.mixup_or_cutmix:
      return mixer(rng, x, y, mixup_alpha=a, cutmix_alpha=a, prob=p)
    return mixer(rng, x, y, a, prob=p)

  return call


def _labels(batch=B):
  return jnp.arange(batch, dtype=jnp.int32) % K


def _sides(box, k):
  box = np.asarray(box)
  return box[:, k:] - box[:, :k]


class RandomProperties:
  """The random functions' properties; ``variant`` says how they run."""

  variant = EAGER

  def mix(self, fn, images, labels, *, alpha=1.0, prob=1.0, seeds=SEEDS, **kw):
    """``with_params(fn)`` for each seed; ``alpha`` and ``prob`` are run-time.

    Under vmap, one seed of two folds (two instances) is as many draws as
    two seeds are elsewhere.
    """
    if self.variant is VMAP and len(seeds) > 1:
      seeds = list(seeds)[: (len(seeds) + 1) // 2]
    call = _caller(fn, tuple(sorted(kw.items())))
    alpha, prob = (
        v if self.variant is EAGER else jnp.float32(v) for v in (alpha, prob)
    )
    return self.variant.run_seeds(call, seeds, images, labels, alpha, prob)

  def test_cutmix_provenance(self, setup):
    shape, dtype, axes, mode, options = CUTMIX_SETUPS[setup]
    images = constant_images(B, shape, dtype)
    if axes is not None:
      options = dict(options, axes=axes)
    checked_axes = axes if axes is not None else (1, 2)
    k = len(checked_axes)
    fractions, boxes_seen, outs = [], [], []
    for out, soft, params in self.mix(
        cutmix_jax.cutmix, images, _labels(), mode=mode, **options
    ):
      outs.append(out)
      fractions.append(
          check_cutmix_provenance(
              out,
              soft,
              params,
              _labels(),
              num_classes=K,
              axes=checked_axes,
              label_mode=options.get("label_mode", "area"),
              label_smoothing=options.get("label_smoothing", 0.0),
              mode=mode,
              images=images,
          )
      )
      boxes_seen.append(np.asarray(params.box)[np.asarray(params.applied)])
    # Something was pasted (the check is not vacuous).
    assert np.concatenate(fractions).max() > 0
    box = np.concatenate(boxes_seen)
    size = np.asarray([shape[a % (len(shape) + 1) - 1] for a in checked_axes])
    sides = _sides(box, k)
    if setup.startswith("minmax"):
      # timm's boxes are never clipped: sides in [int(lo n), int(hi n)).
      assert np.all(sides >= (size * 0.2).astype(int)), sides
      assert np.all(sides < (size * 0.8).astype(int)), sides
    elif setup == "fixed_size_pair":
      inner = (box[:, 0] > 0) & (box[:, 2] < size[0])
      assert np.all(sides <= 16) and np.all(sides[inner, 0] == 16)
    elif setup == "fixed_size_odd_elem":
      # Odd sides lose one pixel to the paper's `// 2`: 7 -> 6, 13 -> 12.
      assert np.all(sides <= [6, 12])
      inner = (box[:, :k] > 0) & (box[:, k:] < size)
      assert np.all(sides[inner[:, 0], 0] == 6)
      assert np.all(sides[inner[:, 1], 1] == 12)
    elif setup.startswith("patch_grid"):
      step = [8, 4] if setup == "patch_grid_elem" else [4, 4]
      assert np.all(box % np.asarray(step * 2) == 0), box
      # Every token (a patch) comes whole from one image.
      ph, pw = step
      for out in outs:
        tokens = np.asarray(out)[..., 0].reshape(B, 32 // ph, ph, 32 // pw, pw)
        assert np.all(tokens == tokens[:, :, :1, :, :1])

  def test_cutmix_prob_half_mixes_some_and_leaves_the_rest(self, mode):
    images = constant_images(B, NHWC, jnp.float32)
    seen = set()
    for out, soft, params in self.mix(
        cutmix_jax.cutmix,
        images,
        _labels(),
        prob=0.5,
        mode=mode,
        seeds=range(4),
    ):
      check_cutmix_provenance(
          out,
          soft,
          params,
          _labels(),
          num_classes=K,
          mode=mode,
          prob_is_one=False,
          images=images,
      )
      seen.update(np.asarray(params.applied).tolist())
    assert seen == {True, False}

  def test_cutmix_float_labels_are_mixed_as_given(self):
    images = constant_images(B, NHWC, jnp.float32)
    soft_in = jax.nn.softmax(jax.random.normal(jax.random.key(9), (B, K)))
    mixer = cutmix_jax.with_params(
        functools.partial(cutmix_jax.cutmix, mode="elem", label_smoothing=0.2)
    )
    for _, mixed, params in self.variant.run(
        mixer, jax.random.key(0), images, soft_in
    ):
      lam = np.asarray(params.lam, np.float64)[:, None]
      soft = np.asarray(soft_in, np.float64) * 0.8 + 0.2 / K
      expected = lam * soft + (1 - lam) * soft[np.asarray(params.partner)]
      np.testing.assert_allclose(mixed, expected, atol=1e-6)

  def test_mixup_blends_as_the_float64_reference(self, dtype, mixup_mode):
    mode = mixup_mode
    rng = np.random.default_rng(0)
    if dtype == "uint8":
      raw = rng.integers(0, 256, (B, 16, 12, 3))
    else:
      raw = rng.normal(size=(B, 16, 12, 3)) * 3
    images = jnp.asarray(raw, dtype)
    labels = _labels()
    for out, mixed, params in self.mix(
        cutmix_jax.mixup,
        images,
        labels,
        alpha=0.4,
        mode=mode,
        label_smoothing=0.1,
    ):
      check_blend(out, images, params)
      lam = np.asarray(params.lam, np.float64)
      partner = np.asarray(params.partner)
      applied = np.asarray(params.applied)
      assert params.lam.dtype == jnp.float32
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
        np.testing.assert_array_equal(partner[partner], np.arange(B))
        np.testing.assert_array_equal(lam, lam[partner])

  def test_mixup_or_cutmix_each_row_pastes_or_blends(self, mode):
    images = constant_images(B, NHWC, jnp.float32) * 20
    own = (np.arange(B) + 1.0) * 20
    labels = _labels()
    kinds = set()
    # Batch mode flips one coin per call: 8 calls see both kinds unless 8
    # fair coins agree (p = 2 ** -7).
    seeds = range(8) if mode == "batch" else range(2)
    for out, mixed, params in self.mix(
        cutmix_jax.mixup_or_cutmix, images, labels, mode=mode, seeds=seeds
    ):
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
      pix = np.asarray(out)
      for i in np.nonzero(is_cut & applied)[0]:
        values = pix[i]
        assert np.all((values == own[i]) | (values == own[partner[i]]))
        pasted = (values != own[i])[..., 0]
        np.testing.assert_array_equal(pasted, rect_mask(box[i], 32, 24))
        assert abs(lam[i] - (1 - pasted.mean())) < 1e-6
      np.testing.assert_array_equal(box[~(is_cut & applied)], 0)
      check_blend(out, images, params, rows=~is_cut)
      soft = soft_reference(labels, K)
      np.testing.assert_allclose(
          mixed,
          lam[:, None] * soft + (1 - lam[:, None]) * soft[partner],
          atol=1e-6,
      )
    # (Under vmap each call holds two instances: both kinds show sooner.)
    assert kinds == {True, False}

  def test_mixup_or_cutmix_switches(self, options, cutmix_rows):
    images = constant_images(B, NHWC, jnp.float32)
    mixer = cutmix_jax.with_params(
        functools.partial(
            cutmix_jax.mixup_or_cutmix, num_classes=K, mode="elem", **options
        )
    )
    for out, mixed, params in self.variant.run(
        mixer, jax.random.key(3), images, _labels()
    ):
      assert np.all(np.asarray(params.is_cutmix) == cutmix_rows)
      if cutmix_rows:
        check_cutmix_provenance(out, mixed, params, _labels(), num_classes=K)
      else:
        check_blend(out, images, params)

  def test_prob_zero_and_a_batch_of_one_leave_images_unchanged(
      self, fn, fn_mode
  ):
    mode = fn_mode
    images = constant_images(B, NHWC, jnp.uint8)
    labels = _labels()
    for out, mixed, params in self.mix(
        fn, images, labels, prob=0.0, mode=mode, label_smoothing=0.1
    ):
      np.testing.assert_array_equal(out, images)
      np.testing.assert_allclose(
          mixed, soft_reference(labels, K, 0.1), atol=1e-7
      )
      assert not np.asarray(params.applied).any()
      np.testing.assert_array_equal(params.box, 0)
      np.testing.assert_array_equal(params.lam, 1.0)
    one = images[:1] * 3
    for out, mixed, params in self.mix(
        fn, one, labels[:1], mode=mode, label_smoothing=0.1
    ):
      np.testing.assert_array_equal(out, one)
      np.testing.assert_allclose(
          mixed, soft_reference(labels[:1], K, 0.1), atol=1e-7
      )
      assert not np.asarray(params.applied).any()
      np.testing.assert_array_equal(params.lam, [1.0])


MODES = ("batch", "elem", "pair")
MIXUP_CASES = [("float32", "batch"), ("bfloat16", "elem"), ("uint8", "pair")]
SWITCH_CASES = [
    (dict(switch_prob=1.0), True),
    (dict(switch_prob=0.0), False),
    (dict(mixup_alpha=0.0), True),
    (dict(cutmix_alpha=0.0), False),
]
FN_CASES = [
    (cutmix_jax.cutmix, "batch"),
    (cutmix_jax.mixup, "elem"),
    (cutmix_jax.mixup_or_cutmix, "pair"),
]


class TestJit(RandomProperties):
  """Every case."""

  variant = JIT
  grid = {
      "setup": sorted(CUTMIX_SETUPS),
      "mode": MODES,
      "dtype, mixup_mode": MIXUP_CASES,
      "options, cutmix_rows": SWITCH_CASES,
      "fn, fn_mode": FN_CASES,
  }


class TestEager(RandomProperties):
  """Python numbers for alpha and prob; a case of each mode and dtype kind."""

  variant = EAGER
  grid = {
      "setup": ["float32_batch", "uint8_pair", "nchw_elem", "minmax_elem"],
      "mode": ["pair"],
      "dtype, mixup_mode": [("uint8", "pair")],
      "options, cutmix_rows": SWITCH_CASES[:2],
      "fn, fn_mode": FN_CASES[:1],
  }


class TestVmap(RandomProperties):
  """The batching of each layout kind and of the box rules' own operations."""

  variant = VMAP
  grid = {
      "setup": [
          "spectrogram_time_pair",
          "st_videomix_batch",
          "patch_grid_minmax_pair",
          "at_resolution_elem",
      ],
      "mode": ["elem"],
      "dtype, mixup_mode": [("bfloat16", "elem")],
      "options, cutmix_rows": SWITCH_CASES[2:],
      "fn, fn_mode": FN_CASES[1:2],
  }


# ------------------------------------------------ the modes, across calls


def _draw(fn, seed, **kw):
  return cutmix_jax.with_params(fn)(
      jax.random.key(seed),
      constant_images(B, NHWC, jnp.float32),
      _labels(),
      num_classes=K,
      **kw,
  )[2]


def test_batch_mode_draws_a_new_box_each_call_elem_one_per_example():
  drawn = {
      tuple(np.asarray(p.box)[np.asarray(p.applied)][0])
      for p in (_draw(cutmix_jax.cutmix, seed) for seed in range(6))
      if np.asarray(p.applied).any()
  }
  assert len(drawn) > 1
  params = _draw(cutmix_jax.cutmix, 0, mode="elem")
  assert len({tuple(b) for b in np.asarray(params.box)}) > 2


def test_unmixed_rows_keep_their_bits_whatever_they_hold():
  """inf, NaN, -0.0 and subnormals in an unmixed row or its partner's."""
  special = np.array(
      [np.inf, -np.inf, np.nan, -0.0, 1e-45, -1e-45, 3.4e38, 0.5], np.float32
  )
  index = (np.arange(6 * 4 * 5)[None] + 3 * np.arange(B)[:, None]) % 8
  images = jnp.asarray(special[index].reshape(B, 6, 4, 5))
  for fn in (cutmix_jax.cutmix, cutmix_jax.mixup, cutmix_jax.mixup_or_cutmix):
    for mode in ("batch", "elem", "pair"):
      out, _, params = cutmix_jax.with_params(fn)(
          jax.random.key(2), images, _labels(), num_classes=K, prob=0.5,
          mode=mode,
      )  # fmt: skip
      keep = ~np.asarray(params.applied)
      np.testing.assert_array_equal(bits(out)[keep], bits(images)[keep])
      # CutMix rows are a select: outside the box the row's own bits.
      cut = np.asarray(params.applied & params.is_cutmix)
      partner_bits = bits(images)[np.asarray(params.partner)]
      for i in np.nonzero(cut)[0]:
        mask = rect_mask(np.asarray(params.box)[i], 6, 4)[..., None]
        np.testing.assert_array_equal(
            bits(out)[i], np.where(mask, partner_bits[i], bits(images)[i])
        )
