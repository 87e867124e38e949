"""ResizeMix: provenance, the label weight, the scale law and errors.

Each property is written once in a base class and run three ways (dm_pix's
pattern, `conftest.VARIANTS`): eagerly, under `jax.jit` (run-time numbers
traced) and under `jax.vmap` over keys (the vmapped result must equal the
loop): every case under jit, a few eagerly and under vmap (each class's
``grid``).

Outside the box every value is the example's own, bitwise; inside, the values
are ``jax.image.resize(partner, box_shape, method)`` (`numpy_resize`, itself
checked against JAX's here); the label weight is the exact pasted fraction;
the box follows the paper's scale law (KS and chi-square tests against
``tau ~ U(lo, hi)``, sides ``floor(tau n)``). No golden random values.
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
from numpy_resize import as_float
from numpy_resize import random_images
from numpy_resize import resize_reference

K = 10
B = 7  # odd: pair mode leaves one example unpaired
SEEDS = (0, 1)
P_MIN = 1e-3  # p-value threshold of the distribution tests (fixed seeds)


def _labels(batch=B):
  return jnp.arange(batch, dtype=jnp.int32) % K


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
    diff = np.abs(as_float(got) - expected)
    # float32 arithmetic may put a value on the other side of a rounding
    # tie; never further than 1, and rarely.
    assert diff.max() <= 1, where
    assert np.mean(diff == 0) > 0.9, where
  elif dtype == jnp.bfloat16:
    expected = as_float(jnp.asarray(reference, jnp.float32).astype(dtype))
    np.testing.assert_allclose(
        as_float(got), expected, rtol=2.0**-7, atol=1e-6, err_msg=where
    )
  else:
    np.testing.assert_allclose(
        as_float(got), reference, rtol=0, atol=1e-5, err_msg=where
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

    numbers = (number(scale[0]), number(scale[1]), number(prob))
    return self.variant.run_seeds(call, seeds, images, labels, *numbers)

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
    for out, soft, params, mixed_masks in self.variant.run_seeds(
        call, SEEDS, images, masks, _labels()
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
