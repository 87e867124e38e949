"""The deterministic core against hand-computed values, eagerly, under jit and vmap.

`cut_and_paste`, `blend`, `mix_labels`, `pasted_fraction` and
`mixed_cross_entropy` apply given `MixParams`, so they are tested exactly,
without randomness. Each property is written once in `CoreProperties` and run
three ways (dm_pix's pattern): eagerly, under `jax.jit`, and under `jax.vmap`
over two copies of the inputs (the vmapped result must equal the loop);
every dtype eagerly and under jit, a dtype of each kind under vmap.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from conftest import bits
from conftest import EAGER
from conftest import JIT
from conftest import mix_params
from conftest import rect_mask
from conftest import VMAP
import cutmix_jax


def _soft_cross_entropy(logits, soft):
  return -np.sum(
      np.asarray(soft, np.float64)
      * np.asarray(jax.nn.log_softmax(logits), np.float64),
      -1,
  )


class CoreProperties:
  variant = EAGER

  def run(self, fn, *args):
    return self.variant.run(fn, *args)

  # ---------------------------------------------------------- cut_and_paste

  def test_cut_and_paste_hand_computed(self):
    images = jnp.arange(3 * 4 * 5, dtype=jnp.int32).reshape(3, 4, 5, 1)
    # Row 2 carries a box but is not applied: it comes out unchanged
    # (issue 17, 6), as does everything outside the boxes.
    params = mix_params(
        [[0, 0, 2, 2], [1, 3, 4, 5], [0, 0, 4, 5]],
        [0.8, 0.7, 0.0],
        [2, 0, 1],
        applied=[True, True, False],
    )
    x = np.asarray(images)[..., 0]
    expected = x.copy()
    expected[0, 0:2, 0:2] = x[2, 0:2, 0:2]
    expected[1, 1:4, 3:5] = x[0, 1:4, 3:5]
    for out in self.run(cutmix_jax.cut_and_paste, images, params):
      assert out.dtype == jnp.int32
      np.testing.assert_array_equal(np.asarray(out)[..., 0], expected)

  def test_cut_and_paste_is_a_select_in_every_dtype(self, select_dtype):
    dtype = select_dtype
    raw = np.random.default_rng(0).integers(0, 200, (3, 3, 4, 2))
    images = jnp.asarray(raw).astype(dtype)
    params = mix_params(
        [[0, 1, 2, 3], [1, 0, 3, 4], [0, 0, 3, 4]],
        [0.5, 0.5, 0.0],
        [1, 0, 0],
        applied=[True, True, False],
    )
    mask = np.stack([rect_mask(b, 3, 4) for b in np.asarray(params.box)])
    mask &= np.asarray(params.applied)[:, None, None]
    expected = np.where(mask[..., None], bits(images)[[1, 0, 0]], bits(images))
    for out in self.run(cutmix_jax.cut_and_paste, images, params):
      assert out.dtype == images.dtype
      np.testing.assert_array_equal(bits(out), expected)

  def test_cut_and_paste_over_other_axes(self):
    nhwc = jnp.arange(2 * 6 * 5 * 3, dtype=jnp.float32).reshape(2, 6, 5, 3)
    params = mix_params([[1, 1, 4, 3], [0, 2, 6, 5]], [0.8, 0.5], [1, 0])
    (expected,) = EAGER.run(cutmix_jax.cut_and_paste, nhwc, params)
    nchw = functools.partial(cutmix_jax.cut_and_paste, axes=(2, 3))
    for out in self.run(nchw, nhwc.transpose(0, 3, 1, 2), params):
      np.testing.assert_array_equal(out.transpose(0, 2, 3, 1), expected)
    # A cuboid through (T, H, W) of a video, and a segment of a sequence.
    video = jnp.stack([jnp.zeros((4, 3, 5, 2)), jnp.ones((4, 3, 5, 2))])
    cuboid = mix_params([[1, 0, 2, 3, 2, 4], [0] * 6], [0.9, 1.0], [1, 0])
    cuboid = cuboid._replace(applied=jnp.array([True, False]))
    paste3 = functools.partial(cutmix_jax.cut_and_paste, axes=(1, 2, 3))
    for out in self.run(paste3, video, cuboid):
      inside = np.zeros((4, 3, 5), bool)
      inside[1:3, 0:2, 2:4] = True
      np.testing.assert_array_equal(
          np.asarray(out)[0, ..., 0], inside.astype(np.float32)
      )
      np.testing.assert_array_equal(out[1], video[1])
    seq = jnp.arange(2 * 7, dtype=jnp.float32).reshape(2, 7)
    segment = mix_params([[2, 5], [0, 7]], [0.6, 0.0], [1, 0])
    paste1 = functools.partial(cutmix_jax.cut_and_paste, axes=(1,))
    for out in self.run(paste1, seq, segment):
      np.testing.assert_array_equal(
          out, [[0, 1, 9, 10, 11, 5, 6], [0, 1, 2, 3, 4, 5, 6]]
      )

  # ------------------------------------------------------------------ blend

  def test_blend_hand_computed(self):
    images = jnp.array([[0.0, 4.0], [8.0, 2.0], [1.0, 1.0], [-0.0, 3.0]])
    params = mix_params(
        np.zeros((4, 4)),
        [0.25, 0.5, 1.0, 0.5],
        [1, 0, 0, 2],
        applied=[True, True, True, False],
        is_cutmix=[False] * 4,
    )
    for out in self.run(cutmix_jax.blend, images[..., None], params):
      np.testing.assert_allclose(
          np.asarray(out)[:3, :, 0], [[6.0, 2.5], [4.0, 3.0], [1.0, 1.0]]
      )
      # A row not applied keeps its bits (-0.0 stays -0.0).
      np.testing.assert_array_equal(bits(out[3]), bits(images[3, :, None]))
    # A batch of scalars, [B], as in 0.2.
    for out in self.run(cutmix_jax.blend, images[:, 0], params):
      np.testing.assert_allclose(np.asarray(out)[:3], [6.0, 4.0, 1.0])

  def test_blend_of_uint8_rounds_then_clips(self):
    images = jnp.array([0, 255, 1, 2], jnp.uint8).reshape(4, 1, 1, 1)
    params = mix_params(
        np.zeros((4, 4)),
        [0.5, 0.999, 0.5, 0.25],
        [1, 0, 3, 2],
        is_cutmix=[False] * 4,
    )
    for out in self.run(cutmix_jax.blend, images, params):
      # 127.5 -> 128 (half to even), 254.745 -> 255, 1.5 -> 2, 1.25 -> 1.
      assert out.dtype == jnp.uint8
      np.testing.assert_array_equal(np.asarray(out).ravel(), [128, 255, 2, 1])

  def test_blend_of_equal_values_returns_that_value(self, blend_dtype):
    """Issue 17, 13: uint32 4294967295 blended with itself stays itself."""
    dtype = blend_dtype
    if jnp.issubdtype(dtype, jnp.integer):
      info = jnp.iinfo(dtype)
      values = [info.max, info.min, info.max - 1, info.min + 1, 7]
    else:
      info = jnp.finfo(dtype)
      values = [float(info.max), -float(info.max), float(info.tiny), 0.1, 7]
    # Every row holds the same values, so every blend is of equal values.
    row = jnp.asarray(np.array(values, np.float64)).astype(dtype)
    images = jnp.broadcast_to(row, (4, len(values)))
    params = mix_params(
        np.zeros((4, 2)),
        [0.3, 0.5, 0.999, 1e-4],
        [1, 2, 3, 0],
        is_cutmix=[False] * 4,
    )
    for out in self.run(cutmix_jax.blend, images, params):
      assert out.dtype == images.dtype
      np.testing.assert_array_equal(bits(out), bits(images))

  # ------------------------------------------------------------ mix_labels

  def test_mix_labels_hand_computed(self):
    params = mix_params(
        [[0, 0, 2, 2], [0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 3, 3]],
        [0.75, 1.0, 0.9, 0.4],
        [2, 1, 0, 0],
        applied=[True, False, True, False],
    )
    labels = jnp.array([0, 1, 2, 1])
    plain = functools.partial(cutmix_jax.mix_labels, num_classes=3)
    for out in self.run(plain, labels, params):
      assert out.dtype == jnp.float32 and out.shape == (4, 3)
      # Row 3 is not applied: its own label, whatever lam says.
      np.testing.assert_allclose(
          out,
          [[0.75, 0, 0.25], [0, 1, 0], [0.1, 0, 0.9], [0, 1, 0]],
          atol=1e-7,
      )
    smoothed = functools.partial(
        cutmix_jax.mix_labels, num_classes=3, label_smoothing=0.3
    )
    s = lambda k: np.eye(3)[k] * 0.7 + 0.1  # noqa: E731
    for out in self.run(smoothed, labels, params):
      # Smooth first (eps / K everywhere), then mix.
      np.testing.assert_allclose(
          out,
          [0.75 * s(0) + 0.25 * s(2), s(1), 0.9 * s(2) + 0.1 * s(0), s(1)],
          atol=1e-6,
      )
    # Float labels are mixed as given, smoothed the same way.
    soft = jnp.array(
        [[0.5, 0.5, 0.0], [0, 0, 1], [0.2, 0.2, 0.6], [1, 0, 0]], jnp.float32
    )
    for out in self.run(cutmix_jax.mix_labels, soft, params):
      np.testing.assert_allclose(
          out[0], 0.75 * soft[0] + 0.25 * soft[2], atol=1e-7
      )
      np.testing.assert_array_equal(
          out[np.array([1, 3])], soft[np.array([1, 3])]
      )

  # -------------------------------------------------------- pasted_fraction

  def test_pasted_fraction_is_clipped_to_the_array(self):
    """Issue 17, 5: a box beyond the array reports what the mask pastes."""
    box = jnp.array(
        [
            [8, 8, 24, 24],
            [0, 0, 0, 5],
            [3, 4, 2, 9],
            [0, 0, 32, 32],
            [1, 2, 4, 7],
            [0, 0, 100, 100],
            [-5, -5, 8, 8],
            [30, 30, 40, 40],
        ],
        jnp.int32,
    )
    frac = functools.partial(cutmix_jax.pasted_fraction, size=(32, 32))
    expected = [0.25, 0, 0, 1, 15 / 1024, 1, 64 / 1024, 4 / 1024]
    for out in self.run(frac, box):
      assert out.dtype == jnp.float32
      np.testing.assert_allclose(out, expected, rtol=0, atol=1e-7)
    four = functools.partial(cutmix_jax.pasted_fraction, size=(4, 4))
    for out in self.run(four, jnp.array([[0, 0, 100, 100]])):
      np.testing.assert_array_equal(out, [1.0])
    # 3-D boxes whose unclipped volume overflows int32.
    big = functools.partial(cutmix_jax.pasted_fraction, size=(1200,) * 3)
    cube = jnp.array([[0, 0, 0, 2000, 2000, 2000], [0, 0, 0, 600, 1300, 1300]])
    for out in self.run(big, cube):
      np.testing.assert_allclose(out, [1.0, 0.5], rtol=1e-6)

  # ---------------------------------------------------- mixed_cross_entropy

  def test_mixed_cross_entropy_hand_computed(self):
    logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    params = mix_params(
        [[0, 0, 1, 2], [0, 0, 0, 0]],
        [0.75, 0.3],
        [1, 0],
        applied=[True, False],
    )
    for loss in self.run(
        cutmix_jax.mixed_cross_entropy, logits, jnp.array([0, 2]), params
    ):
      # Row 0: 0.75 * -log 0.5 + 0.25 * -log 0.25 (its partner's class 2).
      # Row 1 is not applied: -log 0.8, whatever its lam (as in 0.2).
      assert loss.dtype == jnp.float32 and loss.shape == (2,)
      np.testing.assert_allclose(
          loss, [0.75 * np.log(2) + 0.25 * np.log(4), -np.log(0.8)], rtol=1e-6
      )

  def test_mixed_cross_entropy_is_the_soft_label_cross_entropy(
      self, label_smoothing
  ):
    rng = np.random.default_rng(0)
    k, batch = 7, 9
    labels = jnp.asarray(rng.integers(0, k, batch), jnp.int32)
    logits = jnp.asarray(rng.normal(size=(batch, k)) * 3, jnp.float32)
    params = mix_params(
        np.zeros((batch, 4)),
        rng.random(batch),
        rng.permutation(batch),
        applied=rng.random(batch) < 0.7,
        is_cutmix=rng.random(batch) < 0.5,
    )
    soft = cutmix_jax.mix_labels(
        labels, params, num_classes=k, label_smoothing=label_smoothing
    )
    loss_fn = functools.partial(
        cutmix_jax.mixed_cross_entropy, label_smoothing=label_smoothing
    )
    for loss in self.run(loss_fn, logits, labels, params):
      np.testing.assert_allclose(
          loss, _soft_cross_entropy(logits, soft), rtol=1e-5, atol=1e-5
      )


# float8 and int4 have no promotion path to float32: the core casts them.
SELECT_DTYPES = ["uint8", "bfloat16", "float16", "float32", "int32", "bool"]
SELECT_DTYPES += ["float8_e4m3fn", "int4"]
BLEND_DTYPES = [
    "float8_e4m3fn",
    "int4",
    "uint8",
    "int8",
    "uint16",
    "int16",
    "uint32",
    "int32",
    "float16",
    "bfloat16",
    "float32",
]
ALL_CASES = {
    "select_dtype": SELECT_DTYPES,
    "blend_dtype": BLEND_DTYPES,
    "label_smoothing": [0.0, 0.1],
}


class TestEager(CoreProperties):
  """Every dtype: unfused, each operation rounds on its own."""

  variant = EAGER
  grid = ALL_CASES


class TestJit(CoreProperties):
  """Every dtype: fused, XLA may keep a blend in float32 throughout."""

  variant = JIT
  grid = ALL_CASES


class TestVmap(CoreProperties):
  """Batching: a dtype of each kind (an integer, a narrow float, a bool)."""

  variant = VMAP
  grid = {
      "select_dtype": ["bfloat16", "bool"],
      "blend_dtype": ["uint32", "bfloat16"],
      "label_smoothing": [0.1],
  }


def test_the_random_functions_apply_their_params_with_the_core():
  """What `with_params` returns is what the core reproduces from it."""
  rng = np.random.default_rng(1)
  images = jnp.asarray(rng.normal(size=(8, 16, 12, 3)), jnp.float32)
  labels = jnp.arange(8) % 5
  for fn, kw in (
      (cutmix_jax.cutmix, dict(mode="elem", label_mode="larger_area")),
      (cutmix_jax.mixup, dict(mode="pair")),
      (cutmix_jax.mixup_or_cutmix, dict(mode="elem", label_smoothing=0.1)),
  ):
    out, soft, params = cutmix_jax.with_params(fn)(
        jax.random.key(4), images, labels, num_classes=5, **kw
    )
    cut = np.asarray(params.is_cutmix)
    np.testing.assert_array_equal(
        np.asarray(out)[cut],
        np.asarray(cutmix_jax.cut_and_paste(images, params))[cut],
    )
    np.testing.assert_allclose(
        np.asarray(out)[~cut],
        np.asarray(cutmix_jax.blend(images, params))[~cut],
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        soft,
        cutmix_jax.mix_labels(
            labels,
            params,
            num_classes=5,
            label_smoothing=kw.get("label_smoothing", 0.0),
        ),
        atol=1e-7,
    )


def test_wide_bounds_given_eagerly_are_clipped_not_wrapped():
  """NumPy's int64 bounds beyond int32 (2**32 + 1 would wrap to 1) are
  clipped, as any box is; under `jit`, JAX itself casts its arguments."""
  wide = np.array([[0, 0, 2**32 + 1, 2**32 + 1], [-(2**40), 0, 2, 4]])
  np.testing.assert_array_equal(
      cutmix_jax.pasted_fraction(wide, (4, 4)), [1.0, 0.5]
  )
  params = mix_params(np.zeros((2, 4)), [0.0, 1.0], [1, 0])
  params = params._replace(box=wide, applied=jnp.array([True, False]))
  images = jnp.arange(2.0).reshape(2, 1, 1, 1) * jnp.ones((2, 4, 4, 1))
  out = cutmix_jax.cut_and_paste(images, params)
  np.testing.assert_array_equal(out[0], images[1])
