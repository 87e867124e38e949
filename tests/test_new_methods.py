"""ResizeMix, TransMix's labels and `one_of`: provenance, laws and errors.

Each property is written once in a base class and run three ways (dm_pix's
pattern, `conftest.VARIANTS`): eagerly, under `jax.jit` (run-time numbers
traced) and under `jax.vmap` over keys (the vmapped result must equal the
loop): every case under jit, a few eagerly and under vmap (each class's
``grid``).

* ResizeMix: outside the box every value is the example's own, bitwise;
  inside, the values are ``jax.image.resize(partner, box_shape, method)``
  (a NumPy transcription, itself checked against JAX's);
  the label weight is the exact pasted fraction; the box follows the paper's
  scale law (KS and chi-square tests against ``tau ~ U(lo, hi)``, sides
  ``floor(tau n)``).
* TransMix: the weights equal a NumPy transcription of the paper's formula.
* `one_of`: the methods are chosen with their probabilities (chi-square),
  per batch and per example, and each example gets its choice's result.

Every check reads the outputs back against references that do not look at
how the library computes; no golden random values.
"""

import functools
import json
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from conftest import bits
from conftest import EAGER
from conftest import JIT
from conftest import python_program
from conftest import rect_mask
from conftest import soft_reference
from conftest import VMAP
import cutmix_jax
from cutmix_jax import boxes

K = 10
B = 7  # odd: pair mode leaves one example unpaired
SEEDS = (0, 1)
P_MIN = 1e-3  # p-value threshold of the distribution tests (fixed seeds)


def _labels(batch=B):
  return jnp.arange(batch, dtype=jnp.int32) % K


def random_images(shape, dtype, seed=0):
  """Random values that a resize changes: floats in [0, 1), integers, bools."""
  rng = np.random.default_rng(seed)
  if dtype == jnp.bool_:
    return jnp.asarray(rng.random(shape) < 0.5)
  if jnp.issubdtype(dtype, jnp.integer):
    return jnp.asarray(rng.integers(0, 256, shape), dtype)
  return jnp.asarray(rng.random(shape), dtype)


def _as_float(x):
  return np.asarray(jnp.asarray(x).astype(jnp.float32), np.float64)


def _linear_weights(m, n):
  """float64[m, n]: ``jax.image.resize``'s "linear" weights from m cells to n.

  A NumPy transcription of ``jax._src.image.scale.compute_weight_mat`` (the
  triangle kernel, widened by ``m / n`` when shrinking: antialiased),
  normalised by column, zero where the sample falls outside the input.
  """
  inv_scale = m / n
  sample = (np.arange(n) + 0.5) * inv_scale - 0.5
  distance = np.abs(sample[None, :] - np.arange(m)[:, None])
  weights = np.maximum(0.0, 1.0 - distance / max(inv_scale, 1.0))
  total = weights.sum(axis=0, keepdims=True)
  weights = np.where(
      np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
      weights / np.where(total != 0, total, 1),
      0.0,
  )
  inside = (sample >= -0.5) & (sample <= m - 0.5)
  return np.where(inside[None, :], weights, 0.0)


def _nearest_indices(m, n):
  """``jax.image.resize``'s "nearest" sources, ``floor((j + 0.5) m / n)`` in float32."""
  j = np.arange(n, dtype=np.float32) + np.float32(0.5)
  return np.floor(j * np.float32(m) / np.float32(n)).astype(np.int32)


def resize_reference(example, box, axes, method):
  """``jax.image.resize`` of one example to its box's sides on the cut axes.

  In NumPy (float64 for "linear"), so that each box's shape costs no
  compile; `test_resize_reference_is_jax_image_resize` holds it to JAX's.
  """
  k = len(axes)
  sides = [int(e - s) for s, e in zip(box[:k], box[k:])]
  if method == "nearest":
    out = np.asarray(example)
    for axis, side in zip(axes, sides):
      out = np.take(out, _nearest_indices(out.shape[axis - 1], side), axis - 1)
    return out
  out = _as_float(example)
  for axis, side in zip(axes, sides):
    dim = axis - 1
    if out.shape[dim] != side:  # jax.image.resize skips the equal sizes
      out = np.moveaxis(
          np.tensordot(
              out, _linear_weights(out.shape[dim], side), axes=([dim], [0])
          ),
          -1,
          dim,
      )
  return out


@pytest.mark.parametrize(
    "shape, box, axes, method, dtype",
    [
        ((16, 12, 3), (2, 3, 9, 12), (1, 2), "linear", jnp.float32),
        ((16, 12, 3), (0, 0, 16, 12), (1, 2), "linear", jnp.float32),
        ((6, 8, 6, 2), (1, 0, 2, 5, 8, 4), (1, 2, 3), "linear", jnp.uint8),
        ((3, 16, 12), (5, 1, 15, 11), (2, 3), "linear", jnp.bfloat16),
        ((16, 12), (3, 2, 14, 5), (1, 2), "nearest", jnp.int32),
        ((16, 12, 3), (0, 4, 7, 12), (1, 2), "nearest", jnp.bool_),
    ],
)
def test_resize_reference_is_jax_image_resize(shape, box, axes, method, dtype):
  """The NumPy reference above equals JAX's resize: shrinking, growing, equal."""
  example = random_images(shape, dtype, seed=4)
  k = len(axes)
  out_shape = list(shape)
  for axis, s, e in zip(axes, box[:k], box[k:]):
    out_shape[axis - 1] = e - s
  if method == "nearest":
    want = np.asarray(jax.image.resize(example, out_shape, "nearest"))
    np.testing.assert_array_equal(
        resize_reference(example, box, axes, method), want
    )
  else:
    want = jax.image.resize(example.astype(jnp.float32), out_shape, "linear")
    np.testing.assert_allclose(
        resize_reference(example, box, axes, method),
        np.asarray(want, np.float64),
        rtol=1e-6,  # float32 against float64
        atol=1e-6,
    )


def _box_slices(box, axes, ndim):
  k = len(axes)
  index = [slice(None)] * ndim
  for i, axis in enumerate(axes):
    index[axis - 1] = slice(int(box[i]), int(box[k + i]))
  return tuple(index)


def _inside(box, axes, example_shape):
  """bool[example_shape]: the elements of one example inside its box."""
  size = [example_shape[a - 1] for a in axes]
  mask = rect_mask(box, *size)
  # Put the cut axes where they are and broadcast over the others.
  shape = [1] * len(example_shape)
  for axis, n in zip(axes, size):
    shape[axis - 1] = n
  return np.broadcast_to(mask.reshape(shape), example_shape)


def check_resized_values(got, reference, dtype, where=""):
  """The values pasted in a box against the float reference, dtype by dtype."""
  if dtype == jnp.bool_:
    np.testing.assert_array_equal(got, reference, err_msg=where)
  elif jnp.issubdtype(dtype, jnp.integer):
    info = np.iinfo(np.dtype(dtype))
    expected = np.clip(np.round(reference), info.min, info.max)
    diff = np.abs(_as_float(got) - expected)
    # float32 arithmetic may put a value on the other side of a rounding
    # tie; never further than 1, and rarely.
    assert diff.max() <= 1, where
    assert np.mean(diff == 0) > 0.9, where
  elif dtype == jnp.bfloat16:
    expected = _as_float(jnp.asarray(reference, jnp.float32).astype(dtype))
    np.testing.assert_allclose(
        _as_float(got), expected, rtol=2.0**-7, atol=1e-6, err_msg=where
    )
  else:
    np.testing.assert_allclose(
        _as_float(got), reference, rtol=0, atol=1e-5, err_msg=where
    )


def check_resizemix(
    images,
    out,
    mixed_labels,
    params,
    labels,
    *,
    axes=(1, 2),
    mode=None,
    label_smoothing=0.0,
    prob_is_one=True,
):
  """Checks a ResizeMix output against the inputs, row by row.

  Returns the pasted fraction of every example.
  """
  assert out.shape == images.shape and out.dtype == images.dtype
  box, lam, partner, applied, is_cutmix = (np.asarray(p) for p in params[:5])
  assert params.resized is not None
  resized = np.asarray(params.resized)
  batch, k = images.shape[0], len(axes)
  index = np.arange(batch)
  size = np.asarray([images.shape[a] for a in axes])
  assert box.dtype == np.int32 and box.shape == (batch, 2 * k)
  assert lam.dtype == np.float32 and partner.dtype == np.int32
  assert is_cutmix.all()
  np.testing.assert_array_equal(resized, applied)
  assert not np.any(applied & (partner == index))
  sides = box[:, k:] - box[:, :k]
  area = np.prod(sides, axis=1)
  if prob_is_one:
    np.testing.assert_array_equal(applied, (partner != index) & (area > 0))
  # Rows not applied: the box of zeros, weight 1, and their own bits.
  np.testing.assert_array_equal(box[~applied], 0)
  np.testing.assert_array_equal(lam[~applied], 1.0)
  np.testing.assert_array_equal(bits(out)[~applied], bits(images)[~applied])
  # Applied rows: a box inside the array, its weight the exact fraction.
  assert np.all(box[applied, :k] >= 0) and np.all(sides[applied] > 0)
  assert np.all(box[applied, k:] <= size)
  fraction = area / np.prod(size)
  np.testing.assert_allclose(
      lam, np.where(applied, 1 - fraction, 1.0), rtol=0, atol=1e-6
  )
  method = "nearest" if images.dtype == jnp.bool_ else "linear"
  own_bits, out_bits = bits(images), bits(out)
  for i in np.nonzero(applied)[0]:
    inside = _inside(box[i], axes, images.shape[1:])
    # Outside the box: the example's own values, bitwise.
    np.testing.assert_array_equal(
        out_bits[i][~inside], own_bits[i][~inside], err_msg=f"row {i}"
    )
    # Inside: the whole partner, resized to the box.
    reference = resize_reference(images[partner[i]], box[i], axes, method)
    got = np.asarray(out[i][_box_slices(box[i], axes, images.ndim - 1)])
    check_resized_values(got, reference, images.dtype, f"row {i}, box {box[i]}")
  soft = soft_reference(labels, K, label_smoothing)
  weight = np.asarray(lam, np.float64)[:, None]
  expected = weight * soft + (1 - weight) * soft[partner]
  np.testing.assert_allclose(mixed_labels, expected, rtol=0, atol=1e-6)
  if mode == "batch" and applied.any():
    assert (box[applied] == box[applied][0]).all(), box
  if mode == "pair":
    np.testing.assert_array_equal(partner[partner], index)
    np.testing.assert_array_equal(sides, sides[partner])
  return np.where(applied, fraction, 0.0)


# name -> (example shape, dtype, axes (None: the default), mode).
# fmt: off
RESIZEMIX_SETUPS = {
    "float32_elem": ((16, 12, 3), jnp.float32, None, "elem"),
    "uint8_pair": ((16, 12, 3), jnp.uint8, None, "pair"),
    "bool_batch": ((16, 12, 3), jnp.bool_, None, "batch"),
    "nchw_bfloat16_elem": ((3, 16, 12), jnp.bfloat16, (2, 3), "elem"),
    "st_video_pair": ((6, 8, 6, 2), jnp.float32, (1, 2, 3), "pair"),
}
# fmt: on


class ResizeMixProperties:
  """ResizeMix's properties; ``variant`` says how they run."""

  variant = EAGER

  def mix(self, images, labels, *, scale=(0.1, 0.8), prob=1.0, seeds=SEEDS,
          **kw):  # fmt: skip
    """``with_params(resizemix)`` per seed; ``scale`` and ``prob`` run-time."""
    mixer = cutmix_jax.with_params(
        functools.partial(cutmix_jax.resizemix, num_classes=K, **kw)
    )

    def call(rng, x, y, lo, hi, p):
      return mixer(rng, x, y, (lo, hi), prob=p)

    def number(v):
      return v if self.variant is EAGER else jnp.float32(v)

    outs = []
    for seed in seeds:
      outs += self.variant.run(
          call,
          jax.random.key(seed),
          images,
          labels,
          number(scale[0]),
          number(scale[1]),
          number(prob),
      )
    return outs

  def test_provenance(self, setup):
    shape, dtype, axes, mode = RESIZEMIX_SETUPS[setup]
    images = random_images((B, *shape), dtype)
    options = {} if axes is None else dict(axes=axes)
    fractions = []
    for out, soft, params in self.mix(images, _labels(), mode=mode, **options):
      fractions.append(
          check_resizemix(
              images,
              out,
              soft,
              params,
              _labels(),
              axes=axes or (1, 2),
              mode=mode,
          )
      )
    # Something was pasted (the checks are not vacuous).
    assert np.concatenate(fractions).max() > 0

  def test_prob_half_leaves_unmixed_rows_bitwise(self, mode):
    """inf, NaN, -0.0 and subnormals survive in every row not mixed."""
    special = np.array(
        [np.inf, -np.inf, np.nan, -0.0, 1e-45, -1e-45, 3.4e38, 0.5],
        np.float32,
    )
    index = (np.arange(16 * 12 * 3)[None] + 3 * np.arange(B)[:, None]) % 8
    images = jnp.asarray(special[index].reshape(B, 16, 12, 3))
    seen = set()
    for out, soft, params in self.mix(
        images, _labels(), prob=0.5, mode=mode, seeds=range(3),
        label_smoothing=0.1,
    ):  # fmt: skip
      applied = np.asarray(params.applied)
      seen.update(applied.tolist())
      np.testing.assert_array_equal(bits(out)[~applied], bits(images)[~applied])
      for i in np.nonzero(applied)[0]:
        inside = _inside(np.asarray(params.box)[i], (1, 2), images.shape[1:])
        np.testing.assert_array_equal(
            bits(out)[i][~inside], bits(images)[i][~inside]
        )
      np.testing.assert_allclose(
          np.asarray(soft)[~applied],
          soft_reference(_labels(), K, 0.1)[~applied],
          atol=1e-7,
      )
    assert seen == {True, False}

  def test_prob_zero_and_a_batch_of_one_mix_nothing(self):
    images = random_images((B, 16, 12, 3), jnp.uint8)
    for out, soft, params in self.mix(images, _labels(), prob=0.0):
      np.testing.assert_array_equal(out, images)
      assert not np.asarray(params.applied).any()
      np.testing.assert_array_equal(params.lam, 1.0)
      np.testing.assert_allclose(soft, soft_reference(_labels(), K), atol=0)
    for out, _, params in self.mix(images[:1], _labels(1), mode="elem"):
      np.testing.assert_array_equal(out, images[:1])
      assert not np.asarray(params.applied).any()

  def test_segmentation_mask_follows_with_nearest(self, mask_dtype):
    """`cut_and_paste` on the same params pastes the partner's mask, resized by nearest."""
    mask_dtype = {"int32": jnp.int32, "bool": jnp.bool_}[mask_dtype]
    images = random_images((B, 16, 12, 3), jnp.float32)
    if mask_dtype == jnp.bool_:
      masks = random_images((B, 16, 12), jnp.bool_, seed=1)
    else:
      masks = jnp.asarray(
          np.random.default_rng(1).integers(0, 21, (B, 16, 12)), mask_dtype
      )
    mixer = cutmix_jax.with_params(
        functools.partial(cutmix_jax.resizemix, num_classes=K, mode="elem")
    )

    def call(rng, x, m, y):
      out, soft, params = mixer(rng, x, y)
      return out, soft, params, cutmix_jax.cut_and_paste(m, params)

    pasted = 0
    for seed in SEEDS:
      for out, soft, params, mixed_masks in self.variant.run(
          call, jax.random.key(seed), images, masks, _labels()
      ):
        check_resizemix(images, out, soft, params, _labels())
        assert mixed_masks.dtype == masks.dtype
        applied = np.asarray(params.applied)
        np.testing.assert_array_equal(mixed_masks[~applied], masks[~applied])
        partner, box = np.asarray(params.partner), np.asarray(params.box)
        for i in np.nonzero(applied)[0]:
          inside = rect_mask(box[i], 16, 12)
          got = np.asarray(mixed_masks[i])
          np.testing.assert_array_equal(got[~inside], masks[i][~inside])
          expected = resize_reference(
              masks[partner[i]], box[i], (1, 2), "nearest"
          )
          np.testing.assert_array_equal(
              got[box[i][0] : box[i][2], box[i][1] : box[i][3]], expected
          )
          pasted += 1
    assert pasted > 0

  @pytest.mark.statistical
  def test_scale_law_ks(self):
    """Sides ``floor(tau n)``, ``tau ~ U(lo, hi)`` shared by the axes, placed uniformly."""
    n, (height, width), (lo, hi) = 6000, (32, 24), (0.1, 0.8)
    images = jnp.zeros((n, height, width, 1), bool)
    labels = jnp.zeros(n, jnp.int32)
    boxes_seen = []
    for _, _, params in self.mix(
        images, labels, scale=(lo, hi), mode="elem", seeds=(0,)
    ):
      applied = np.asarray(params.applied)
      assert applied.mean() > 0.99  # only self-partners are left out
      boxes_seen.append(np.asarray(params.box)[applied])
    box = np.concatenate(boxes_seen)
    sides = box[:, 2:] - box[:, :2]
    ref_rng = np.random.default_rng(1)
    tau = ref_rng.uniform(lo, hi, 40000)
    for axis, size in enumerate((height, width)):
      got = sides[:, axis]
      # KS against the implied law (and against plausible mistakes).
      ref = np.floor(tau * size)
      assert stats.ks_2samp(got / size, ref / size).pvalue > P_MIN
      for wrong in (np.round(tau * size), np.ceil(tau * size)):
        assert stats.ks_2samp(got / size, wrong / size).pvalue < P_MIN
      # The exact law: P(side = s) = |[s/n, (s+1)/n) & [lo, hi)| / (hi - lo).
      support = np.arange(
          int(np.floor(lo * size)), int(np.floor(hi * size)) + 1
      )
      probs = (
          np.clip(np.minimum((support + 1) / size, hi), lo, hi)
          - np.clip(np.maximum(support / size, lo), lo, hi)
      ) / (hi - lo)
      support, probs = support[probs > 0], probs[probs > 0]
      assert np.isin(got, support).all()
      counts = np.array([(got == s).sum() for s in support])
      assert stats.chisquare(counts, probs * len(got)).pvalue > P_MIN
      # Placed uniformly where it fits: the start's PIT given the side.
      start = box[:, axis]
      room = size - got + 1
      assert np.all((start >= 0) & (start < room))
      pit = (start + ref_rng.random(len(start))) / room
      assert stats.kstest(pit, "uniform").pvalue > P_MIN
    # One tau for both axes: floor(tau H) and floor(tau W) can both hold.
    low = np.maximum(sides[:, 0] / height, sides[:, 1] / width)
    high = np.minimum((sides[:, 0] + 1) / height, (sides[:, 1] + 1) / width)
    assert np.all(low < high)


class TestResizeMixJit(ResizeMixProperties):
  """Every case."""

  variant = JIT
  grid = {
      "setup": sorted(RESIZEMIX_SETUPS),
      "mode": ["batch", "elem"],
      "mask_dtype": ["int32", "bool"],
  }


class TestResizeMixEager(ResizeMixProperties):
  """A rounding dtype and the nearest resize; a mode; a mask dtype."""

  variant = EAGER
  grid = {
      "setup": ["uint8_pair", "bool_batch"],
      "mode": ["elem"],
      "mask_dtype": ["bool"],
  }
  test_scale_law_ks = None  # a law of the sampler: once, under jit


class TestResizeMixVmap(ResizeMixProperties):
  """A video of 3 cut axes; a mode; a mask (resized by nearest)."""

  variant = VMAP
  grid = {
      "setup": ["st_video_pair"],
      "mode": ["batch"],
      "mask_dtype": ["int32"],
  }
  test_scale_law_ks = None


def test_resizemix_bool_images_equal_cut_and_paste_of_their_params():
  """Bools resize by nearest, as `cut_and_paste` does for ResizeMix rows."""
  images = random_images((B, 16, 12, 2), jnp.bool_)
  out, _, params = cutmix_jax.with_params(cutmix_jax.resizemix)(
      jax.random.key(3), images, _labels(), num_classes=K, mode="elem"
  )
  assert np.asarray(params.applied).any()
  np.testing.assert_array_equal(cutmix_jax.cut_and_paste(images, params), out)


def test_resizemix_traced_prob_and_scale_do_not_recompile():
  images = random_images((B, 20, 16, 3), jnp.float32)
  traces = []

  @jax.jit
  def mix(rng, lo, hi, prob):
    traces.append(None)
    return cutmix_jax.with_params(cutmix_jax.resizemix)(
        rng, images, _labels(), (lo, hi), prob=prob, num_classes=K,
        mode="elem",
    )  # fmt: skip

  for lo, hi, prob in ((0.1, 0.3, 1.0), (0.5, 0.9, 1.0), (0.2, 0.6, 0.0)):
    for seed in range(2):
      out, soft, params = mix(
          jax.random.key(seed), *map(jnp.float32, (lo, hi, prob))
      )
      applied = np.asarray(params.applied)
      if prob == 0:
        assert not applied.any()
        np.testing.assert_array_equal(out, images)
        continue
      check_resizemix(images, out, soft, params, _labels())
      box = np.asarray(params.box)[applied]
      sides = box[:, 2:] - box[:, :2]
      for axis, size in enumerate((20, 16)):
        assert np.all(sides[:, axis] >= np.floor(lo * size))
        assert np.all(sides[:, axis] <= np.floor(hi * size))
  assert len(traces) == 1


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(scale=(0.8, 0.1)), ValueError),
        (dict(scale=(-0.1, 0.5)), ValueError),
        (dict(scale=(0.2, 1.5)), ValueError),
        (dict(scale=0.5), TypeError),
        (dict(scale=(0.1, 0.2, 0.3)), TypeError),
        # A known array is read as the pair it holds.
        (dict(scale=np.array([0.6, 0.5])), ValueError),
        (dict(scale=jnp.array([0.2, 1.5])), ValueError),
    ],
)
def test_resizemix_refuses_a_bad_scale(kwargs, error):
  with pytest.raises(error, match="^scale: "):
    cutmix_jax.resizemix(
        jax.random.key(0), jnp.zeros((4, 8, 8, 3)), jnp.arange(4),
        num_classes=4, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("as_array", [np.array, jnp.array])
def test_resizemix_takes_a_known_scale_array_as_its_pair(as_array):
  images, labels = jnp.zeros((4, 16, 16, 3)), jnp.arange(4)
  draw = cutmix_jax.with_params(cutmix_jax.resizemix)
  key = jax.random.key(0)
  pair = draw(key, images, labels, (0.25, 0.5), num_classes=4, mode="elem")
  array = draw(key, images, labels, as_array([0.25, 0.5]), num_classes=4,
               mode="elem")  # fmt: skip
  for a, b in zip(jax.tree.leaves(pair), jax.tree.leaves(array)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # A known array closed over by a jitted function: checked when traced.
  bad = as_array([0.6, 0.5])
  with pytest.raises(ValueError, match=r"^scale: expected lo <= hi"):
    jax.jit(lambda k: draw(k, images, labels, bad, num_classes=4))(key)


_PER_SHARD = textwrap.dedent("""
    import functools, json
    import jax, jax.numpy as jnp, numpy as np
    import cutmix_jax
    assert jax.device_count() == 8, jax.devices()
    mesh = jax.make_mesh((8,), ("data",))
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.random((32, 16, 12, 3)), jnp.float32)
    report = {}
    for mode in ("batch", "elem"):
      mix = cutmix_jax.per_shard(cutmix_jax.with_params(functools.partial(
          cutmix_jax.resizemix, num_classes=10, mode=mode, scale=(0.2, 0.7))),
          mesh)
      out, soft, params = jax.jit(mix)(
          jax.random.key(1), images, jnp.arange(32) % 10, prob=0.9)
      report[mode] = dict(
          out=np.asarray(out).tolist(), soft=np.asarray(soft).tolist(),
          params=[np.asarray(p).tolist() for p in params],
          sharded=str(out.sharding.spec))
    print("REPORT " + json.dumps(report))
""")


@pytest.mark.slow
def test_resizemix_per_shard_on_eight_devices():
  """A subprocess with 8 host devices: partners in their shard, provenance."""
  stdout = python_program(
      _PER_SHARD,
      timeout=180,
      env={
          "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
          "JAX_PLATFORMS": "cpu",
      },
  )
  line = [row for row in stdout.splitlines() if row.startswith("REPORT ")]
  report = json.loads(line[-1][len("REPORT ") :])
  images = jnp.asarray(
      np.random.default_rng(0).random((32, 16, 12, 3)), jnp.float32
  )
  labels = jnp.arange(32) % 10
  for mode, got in report.items():
    assert "('data'," in got["sharded"], got["sharded"]
    box, lam, partner, applied, is_cutmix, resized = (
        np.asarray(p) for p in got["params"]
    )
    params = cutmix_jax.MixParams(
        jnp.asarray(box, jnp.int32),
        jnp.asarray(lam, jnp.float32),
        jnp.asarray(partner, jnp.int32),
        jnp.asarray(applied, bool),
        jnp.asarray(is_cutmix, bool),
        jnp.asarray(resized, bool),
    )
    # Partners stay in their shard of 4, and are never the example itself.
    np.testing.assert_array_equal(partner // 4, np.arange(32) // 4)
    assert not np.any(partner == np.arange(32))
    assert applied.any()
    check_resizemix(
        images,
        jnp.asarray(np.asarray(got["out"], np.float32)),
        np.asarray(got["soft"]),
        params,
        labels,
        mode=mode,
        prob_is_one=False,
    )
    if mode == "batch":
      # One box and one tau for the global batch.
      assert len({tuple(b) for b in box[applied]}) == 1


# ------------------------------------------------------------------ TransMix


def transmix_reference(attention, params, image_size, patch):
  """The paper's weights in NumPy: own = attention on tokens not pasted / all.

  A token is pasted when its top-left pixel is inside the box (the paper's
  nearest downsampling of the pixel mask to the token grid). Heads are
  averaged first; rows not pasted keep ``lam``.
  """
  attention = np.asarray(attention, np.float64)
  if attention.ndim == 3:
    attention = attention.mean(axis=1)
  (height, width), (ph, pw) = image_size, patch
  box, lam = np.asarray(params.box), np.asarray(params.lam, np.float64)
  pasted_rows = np.asarray(params.applied) & np.asarray(params.is_cutmix)
  weights = []
  for i, a in enumerate(attention):
    if not pasted_rows[i]:
      weights.append(lam[i])
      continue
    y0, x0, y1, x1 = box[i]
    own = 0.0
    for r in range(height // ph):
      for c in range(width // pw):
        pasted = y0 <= r * ph < y1 and x0 <= c * pw < x1
        own += 0.0 if pasted else a[r * (width // pw) + c]
    weights.append(own / a.sum())
  return np.asarray(weights)


def _hand_params():
  """Six rows on 16 x 12 images, patches 4 x 3 (a 4 x 4 grid of 16 tokens)."""
  box = [
      [4, 3, 12, 9],  # on the grid: 2 x 2 tokens
      [1, 1, 6, 5],  # off the grid: tokens (1, 1) only (top-lefts (4, 3))
      [0, 0, 16, 12],  # the whole image
      [8, 6, 12, 12],  # a corner
      [0, 0, 8, 8],  # not applied: keeps lam
      [0, 0, 0, 0],  # a MixUp row: keeps lam
  ]
  return cutmix_jax.MixParams(
      box=jnp.asarray(box, jnp.int32),
      lam=jnp.asarray([0.75, 0.9, 0.0, 0.75, 1.0, 0.3], jnp.float32),
      partner=jnp.asarray([1, 0, 3, 2, 4, 0], jnp.int32),
      applied=jnp.asarray([True, True, True, True, False, True]),
      is_cutmix=jnp.asarray([True, True, True, True, True, False]),
  )


class TransMixProperties:
  variant = EAGER

  def test_weights_match_the_paper_formula(self, heads):
    params = _hand_params()
    shape = (6, 16) if heads is None else (6, heads, 16)

    def call(rng, params):
      attention = jax.nn.softmax(2 * jax.random.normal(rng, shape), axis=-1)
      return attention, cutmix_jax.transmix_weights(
          attention, params, image_size=(16, 12), patch_size=(4, 3)
      )

    for seed in SEEDS:
      for attention, weights in self.variant.run(
          call, jax.random.key(seed), params
      ):
        assert weights.dtype == jnp.float32 and weights.shape == (6,)
        expected = transmix_reference(attention, params, (16, 12), (4, 3))
        np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-6)
        # Unmixed and MixUp rows keep their lam; a full box gives 0.
        np.testing.assert_array_equal(
            np.asarray(weights)[4:], np.float32([1.0, 0.3])
        )
        assert float(weights[2]) == 0.0

  def test_uniform_attention_gives_the_area_weight(self):
    """On a patch-aligned CutMix, uniform attention weighs by the pasted area."""
    images = random_images((B, 16, 16, 3), jnp.float32)
    mixer = cutmix_jax.with_params(
        functools.partial(
            cutmix_jax.cutmix,
            num_classes=K,
            mode="elem",
            box=boxes.on_patch_grid(4),
            prob=0.7,
        )
    )

    def call(rng, x, y):
      _, soft, params = mixer(rng, x, y)
      attention = jnp.full((B, 2, 16), 1 / 16, jnp.float32)
      weights = cutmix_jax.transmix_weights(
          attention, params, image_size=(16, 16), patch_size=4
      )
      return soft, params, weights

    for seed in SEEDS:
      for soft, params, weights in self.variant.run(
          call, jax.random.key(seed), images, _labels()
      ):
        np.testing.assert_allclose(weights, params.lam, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(
            np.asarray(weights)[~np.asarray(params.applied)], 1.0
        )
        relabelled = cutmix_jax.mix_labels(
            _labels(), params._replace(lam=weights), num_classes=K
        )
        np.testing.assert_allclose(relabelled, soft, atol=1e-6)

  def test_attention_on_the_pasted_tokens_only_gives_the_partner(self):
    params = _hand_params()

    def call(params):
      # Each example attends only to token (1, 1): pasted in rows 0 and 1.
      attention = jnp.zeros((6, 16)).at[:, 1 * 4 + 1].set(1.0)
      return cutmix_jax.transmix_weights(
          attention, params, image_size=(16, 12), patch_size=(4, 3)
      )

    for weights in self.variant.run(call, params):
      np.testing.assert_array_equal(
          np.asarray(weights), np.float32([0.0, 0.0, 0.0, 1.0, 1.0, 0.3])
      )


class TestTransMixEager(TransMixProperties):
  variant = EAGER
  grid = {"heads": [None]}


class TestTransMixJit(TransMixProperties):
  variant = JIT
  grid = {"heads": [None, 3]}


class TestTransMixVmap(TransMixProperties):
  variant = VMAP
  grid = {"heads": [3]}


@pytest.mark.parametrize(
    "attention, kwargs, error, arg",
    [
        # A token count that is not the grid's (16 tokens; with the class token).
        (np.ones((6, 17), np.float32), {}, ValueError, "attention"),
        (np.ones((6, 2, 12), np.float32), {}, ValueError, "attention"),
        (np.ones((6, 16), np.int32), {}, TypeError, "attention"),
        (np.ones((6,), np.float32), {}, ValueError, "attention"),
        (np.ones((6, 16), np.float32), dict(patch_size=5), ValueError,
         "patch_size"),
        (np.ones((5, 16), np.float32), {}, ValueError, "params"),
    ],
)  # fmt: skip
def test_transmix_errors_name_the_argument(attention, kwargs, error, arg):
  kwargs = {"image_size": (16, 12), "patch_size": (4, 3), **kwargs}
  with pytest.raises(error, match=f"^{arg}: "):
    cutmix_jax.transmix_weights(attention, _hand_params(), **kwargs)


def test_transmix_token_count_error_under_jit():
  params = _hand_params()
  fn = jax.jit(
      lambda a: cutmix_jax.transmix_weights(
          a, params, image_size=(16, 12), patch_size=(4, 3)
      )
  )
  with pytest.raises(ValueError, match="^attention: .*16 tokens"):
    fn(jnp.ones((6, 17)))


# -------------------------------------------------------------------- one_of

NOTHING, CUT, BLEND, RESIZE = range(4)
KIND_NAMES = ("nothing", "cutmix", "mixup", "resizemix")


def kinds(params) -> np.ndarray:
  """Which method each row took, read from its parameters.

  Valid for rows whose partner is another example (a self-partner row of
  MixUp mixes nothing) and whose ResizeMix box is not empty.
  """
  is_cut = np.asarray(params.is_cutmix)
  applied = np.asarray(params.applied)
  resized = (
      np.zeros_like(is_cut)
      if params.resized is None
      else np.asarray(params.resized)
  )
  return np.where(
      is_cut, np.where(resized, RESIZE, CUT), np.where(applied, BLEND, NOTHING)
  )


def _others(params) -> np.ndarray:
  partner = np.asarray(params.partner)
  return partner != np.arange(partner.shape[0])


def check_frequencies(observed: np.ndarray, probabilities: dict[int, float]):
  """Chi-square of the observed kinds against their probabilities."""
  counts = np.array([(observed == k).sum() for k in range(4)])
  expected = np.array([probabilities.get(k, 0.0) for k in range(4)])
  assert np.isclose(expected.sum(), 1.0)
  # A method not among the choices is never taken.
  np.testing.assert_array_equal(counts[expected == 0], 0)
  keep = expected > 0
  p = stats.chisquare(
      counts[keep], expected[keep] * counts.sum()
  ).pvalue  # fmt: skip
  assert p > P_MIN, dict(zip(KIND_NAMES, counts.tolist()))


CHOICES = (
    (0.4, functools.partial(cutmix_jax.cutmix, alpha=1.0)),
    (0.3, functools.partial(cutmix_jax.mixup, alpha=0.8)),
    (0.2, cutmix_jax.resizemix),
)  # 0.1 left over: nothing
CHOICE_KINDS = {CUT: 0.4, BLEND: 0.3, RESIZE: 0.2, NOTHING: 0.1}


N_ONE_OF = 1024  # one batch shape for every one_of property: shared compiles


def _one_of_batch(special=False):
  """``float32[1024, 16, 12, 1]`` random values, or IEEE special values."""
  shape = (N_ONE_OF, 16, 12, 1)
  if not special:
    return random_images(shape, jnp.float32, seed=2)
  values = np.array(
      [np.inf, -np.inf, np.nan, -0.0, 1e-45, -1e-45, 3.4e38, 0.5], np.float32
  )
  index = (np.arange(16 * 12)[None] + 3 * np.arange(N_ONE_OF)[:, None]) % 8
  return jnp.asarray(values[index].reshape(shape))


def _one_of_labels():
  return jnp.arange(N_ONE_OF, dtype=jnp.int32) % K


@functools.cache
def _one_of_mixer(choices, mode, label_smoothing=0.0):
  """One function object per setup, so that `jax.jit` compiles it once."""
  return cutmix_jax.with_params(
      functools.partial(
          cutmix_jax.one_of,
          choices=choices,
          num_classes=K,
          mode=mode,
          label_smoothing=label_smoothing,
      )
  )


class OneOfProperties:
  variant = EAGER

  def mix(self, images, seed, choices=CHOICES, **kw):
    return self.variant.run(
        _one_of_mixer(choices, **kw),
        jax.random.key(seed),
        images,
        _one_of_labels(),
    )

  def test_per_example_choices_and_results(self):
    """Frequencies match the probabilities; each row is its choice's result.

    A row is its method's output on its partner: the pasted box, the blend,
    the partner resized into the box, or itself.
    """
    images = _one_of_batch()
    labels = _one_of_labels()
    observed, seen = [], set()
    for out, soft, params in self.mix(images, 0, mode="elem",
                                      label_smoothing=0.1):  # fmt: skip
      assert out.dtype == images.dtype
      k, others = kinds(params), _others(params)
      observed.append(k[others])
      box, lam = np.asarray(params.box), np.asarray(params.lam, np.float64)
      partner, applied = np.asarray(params.partner), np.asarray(params.applied)
      x, y = np.asarray(images), np.asarray(out)
      # Rows that mix nothing are their own bits; the others, row by row.
      keep = ~others | (k == NOTHING)
      np.testing.assert_array_equal(bits(y)[keep], bits(x)[keep])
      np.testing.assert_array_equal(lam[keep], 1.0)
      assert not applied[keep].any()
      for i in np.nonzero(~keep)[0][:32]:
        seen.add(int(k[i]))
        j = partner[i]
        inside = rect_mask(box[i], 16, 12)
        if k[i] == BLEND:
          np.testing.assert_allclose(
              y[i], lam[i] * x[i] + (1 - lam[i]) * x[j], atol=1e-6
          )
          np.testing.assert_array_equal(box[i], 0)
          continue
        np.testing.assert_allclose(lam[i], 1 - inside.mean(), rtol=0, atol=1e-6)
        np.testing.assert_array_equal(bits(y[i])[~inside], bits(x[i])[~inside])
        got = y[i][box[i][0] : box[i][2], box[i][1] : box[i][3]]
        if k[i] == CUT:
          want = x[j][box[i][0] : box[i][2], box[i][1] : box[i][3]]
          np.testing.assert_array_equal(got, want)
        else:
          want = resize_reference(images[j], box[i], (1, 2), "linear")
          np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
      smooth = soft_reference(labels, K, 0.1)
      expected = lam[:, None] * smooth + (1 - lam[:, None]) * smooth[partner]
      np.testing.assert_allclose(soft, expected, atol=1e-6)
    assert seen == {CUT, BLEND, RESIZE}
    check_frequencies(np.concatenate(observed), CHOICE_KINDS)

  def test_batch_mode_makes_one_choice_per_batch(self):
    seen = set()
    for seed in range(4):
      for _, _, params in self.mix(_one_of_batch(), seed, mode="batch"):
        k = kinds(params)[_others(params)]
        assert len(set(k.tolist())) == 1, np.bincount(k)
        seen.update(k.tolist())
    assert len(seen) >= 2

  def test_pair_mode_chooses_per_pair(self):
    for _, _, params in self.mix(_one_of_batch(), 1, mode="pair"):
      partner = np.asarray(params.partner)
      np.testing.assert_array_equal(partner[partner], np.arange(N_ONE_OF))
      k = kinds(params)
      np.testing.assert_array_equal(k, k[partner])
      np.testing.assert_array_equal(params.box, np.asarray(params.box)[partner])
      assert set(k.tolist()) == {NOTHING, CUT, BLEND, RESIZE}

  def test_unmixed_rows_keep_their_bits(self):
    """inf, NaN, -0.0 and subnormals survive in every row not mixed."""
    images = _one_of_batch(special=True)
    choices = ((0.3, cutmix_jax.cutmix), (0.2, None), (0.2, cutmix_jax.mixup),
               (0.2, cutmix_jax.resizemix))  # fmt: skip
    for out, _, params in self.mix(images, 3, choices, mode="elem"):
      keep = ~np.asarray(params.applied)
      assert 0 < keep.sum() < N_ONE_OF
      np.testing.assert_array_equal(bits(out)[keep], bits(images)[keep])


class TestOneOfEager(OneOfProperties):
  variant = EAGER
  # Each row's result and the frequencies: under jit and vmap (eagerly, the
  # three methods' operations on 1024 rows each compile on their own).
  test_per_example_choices_and_results = None


class TestOneOfJit(OneOfProperties):
  variant = JIT


class TestOneOfVmap(OneOfProperties):
  variant = VMAP
  # The batching of one_of: each row's result and the bits of the rows left
  # alone. The choice per batch or pair is a draw the batching does not
  # touch: eagerly and under jit.
  test_batch_mode_makes_one_choice_per_batch = None
  test_pair_mode_chooses_per_pair = None


def _per_call_kinds(params) -> np.ndarray:
  """The kind each of many batch-mode calls took (params stacked by call)."""
  params = jax.tree.map(np.asarray, params)
  observed = []
  for c in range(params.partner.shape[0]):
    row = jax.tree.map(lambda x, c=c: x[c], params)
    k = kinds(row)[_others(row)]
    assert len(set(k.tolist())) <= 1, k  # one choice for the batch
    observed += k[:1].tolist()
  return np.asarray(observed)


@pytest.mark.statistical
def test_one_of_per_batch_frequencies():
  """``mode="batch"``: one choice a call; its frequencies over many keys."""
  images = random_images((8, 16, 16, 1), jnp.float32)
  mixer = cutmix_jax.with_params(
      functools.partial(cutmix_jax.one_of, choices=CHOICES, num_classes=K)
  )
  keys = jax.random.split(jax.random.key(0), 1500)
  params = jax.jit(jax.vmap(lambda k: mixer(k, images, _labels(8))[2]))(keys)
  check_frequencies(_per_call_kinds(params), CHOICE_KINDS)


@pytest.mark.statistical
def test_one_of_explicit_nothing_counts_with_the_leftover():
  choices = ((0.25, cutmix_jax.cutmix), (0.25, None), (0.2, cutmix_jax.mixup))
  n = 3000
  mixer = cutmix_jax.with_params(
      functools.partial(
          cutmix_jax.one_of, choices=choices, num_classes=K, mode="elem"
      )
  )
  _, _, params = jax.jit(mixer)(
      jax.random.key(5), jnp.zeros((n, 16, 16, 1)), jnp.zeros(n, jnp.int32)
  )
  others = _others(params)
  check_frequencies(
      kinds(params)[others], {CUT: 0.25, NOTHING: 0.55, BLEND: 0.2}
  )
  # Without ResizeMix among the choices there is no `resized` field.
  assert params.resized is None


@pytest.mark.statistical
def test_mixup_or_cutmix_per_batch_frequencies():
  """The switch picks CutMix with ``switch_prob`` (``is_cutmix``, as in 0.2 and
  timm), and ``prob`` then decides whether a row mixes: MixUp rows blend with
  ``prob``. Batch mode: one choice a call, over many keys. (Per example:
  test_distributions.test_prob_and_switch_prob_frequencies.)"""
  switch_prob, prob = 0.3, 0.6
  expected = {CUT: switch_prob, BLEND: prob * (1 - switch_prob)}
  expected[NOTHING] = (1 - prob) * (1 - switch_prob)
  mixer = cutmix_jax.with_params(
      functools.partial(
          cutmix_jax.mixup_or_cutmix,
          num_classes=K,
          mode="batch",
          switch_prob=switch_prob,
          prob=prob,
      )
  )
  images = random_images((8, 16, 16, 1), jnp.float32)
  keys = jax.random.split(jax.random.key(0), 1500)
  params = jax.jit(jax.vmap(lambda k: mixer(k, images, _labels(8))[2]))(keys)
  check_frequencies(_per_call_kinds(params), expected)


def test_one_of_traced_probabilities_do_not_recompile():
  n = 600
  images, labels = jnp.zeros((n, 16, 16, 1)), jnp.zeros(n, jnp.int32)
  traces = []

  @jax.jit
  def mix(rng, p_cut, p_blend, p_resize):
    traces.append(None)
    choices = ((p_cut, cutmix_jax.cutmix), (p_blend, cutmix_jax.mixup),
               (p_resize, cutmix_jax.resizemix))  # fmt: skip
    return cutmix_jax.with_params(cutmix_jax.one_of)(
        rng, images, labels, choices, num_classes=K, mode="elem"
    )[2]

  for probs in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0), (0.5, 0.2, 0.1)):
    params = mix(jax.random.key(0), *map(jnp.float32, probs))
    others = _others(params)
    observed = kinds(params)[others]
    expected = dict(zip((CUT, BLEND, RESIZE), map(float, probs)))
    expected[NOTHING] = 1 - sum(probs)
    if max(probs) == 1 or sum(probs) == 0:
      sure = max(expected, key=expected.get)
      assert np.all(observed == sure), (probs, np.bincount(observed))
    else:
      check_frequencies(observed, expected)
  assert len(traces) == 1


def _cutmix10(*args, **kwargs):  # a function, but not one of the library's
  return cutmix_jax.cutmix(*args, **kwargs)


@pytest.mark.parametrize(
    "choices, error",
    [
        (((1.5, cutmix_jax.cutmix),), ValueError),
        (((-0.1, cutmix_jax.cutmix),), ValueError),
        (((float("nan"), cutmix_jax.cutmix),), ValueError),
        (((0.6, cutmix_jax.cutmix), (0.6, cutmix_jax.mixup)), ValueError),
        (((0.5, "cutmix"),), TypeError),
        (((0.5, _cutmix10),), TypeError),
        (((0.5, jnp.sum),), TypeError),
        (((0.5, functools.partial(cutmix_jax.cutmix, num_classes=10)),),
         TypeError),
        (((0.5, functools.partial(cutmix_jax.cutmix, mode="elem")),),
         TypeError),
        (((0.5, functools.partial(cutmix_jax.mixup, label_smoothing=0.1)),),
         TypeError),
        # An unknown keyword is a TypeError, as in a direct call.
        (((0.5, functools.partial(cutmix_jax.cutmix, beta=1.0)),), TypeError),
        (((0.5, functools.partial(cutmix_jax.cutmix, box_size=4)),), TypeError),
        (((0.5, cutmix_jax.with_params(cutmix_jax.cutmix)),), TypeError),
        ((), TypeError),
        (((0.5,),), TypeError),
        ((0.5, cutmix_jax.cutmix), TypeError),
        (None, TypeError),
    ],
)  # fmt: skip
def test_one_of_bad_choices_name_choices(choices, error):
  with pytest.raises(error, match="^choices: "):
    cutmix_jax.one_of(
        jax.random.key(0), jnp.zeros((4, 8, 8, 3)), jnp.arange(4), choices,
        num_classes=4,
    )  # fmt: skip


def test_one_of_refuses_bool_images_only_when_a_choice_blends():
  masks = jnp.zeros((4, 8, 8), bool)
  out, _ = jax.eval_shape(
      lambda m: cutmix_jax.one_of(
          jax.random.key(0), m, jnp.arange(4),
          ((0.5, cutmix_jax.cutmix), (0.5, cutmix_jax.resizemix)),
          num_classes=4,
      ),
      masks,
  )  # fmt: skip
  assert out.dtype == jnp.bool_ and out.shape == masks.shape
  # A blending choice of a Python 0 is left out of the program.
  cutmix_jax.one_of(
      jax.random.key(0), masks, jnp.arange(4),
      ((0.0, cutmix_jax.mixup), (1.0, cutmix_jax.cutmix)), num_classes=4,
  )  # fmt: skip
  with pytest.raises(TypeError, match="^images: "):
    cutmix_jax.one_of(
        jax.random.key(0), masks, jnp.arange(4),
        ((0.5, cutmix_jax.mixup),), num_classes=4,
    )  # fmt: skip
