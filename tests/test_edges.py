"""The edges where trust is won or lost: pass-through, extremes, known values.

* Examples that are not mixed come out bitwise unchanged, whatever the data
  holds (inf, NaN, -0.0, subnormals, integer extremes) in the example or its
  partner, in every function and mode.
* No alpha hangs or gives NaN from finite inputs: a log grid from the
  smallest positive float32 to 1e6, as a Python number and traced.
* Known bad values raise; traced ones are bounded and documented.
* The same key gives the same draw however alpha is written.
"""

import functools
import os
import subprocess
import sys
import textwrap

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from conftest import check_cutmix_provenance
from conftest import constant_images
import cutmix_jax

B, H, W, K = 6, 4, 5, 6
MODES = ("batch", "elem", "pair")
FNS = ("cutmix", "mixup", "mixup_or_cutmix")
F32 = np.finfo(np.float32)
SPECIAL_FLOATS = np.array(
    [
        np.inf,
        -np.inf,
        np.nan,
        -0.0,
        0.0,
        F32.smallest_subnormal,
        -F32.smallest_subnormal,
        F32.max,
        -F32.max,
        1.0,
        F32.tiny,
        0.5,
    ],
    np.float32,
)


def _special_images(dtype):
  """``B`` images whose values are the dtype's special values, shifted per example."""
  dtype = jnp.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.floating):
    values = jnp.asarray(SPECIAL_FLOATS).astype(dtype)
  elif dtype == jnp.bool_:
    values = jnp.array([True, False, False])
  else:
    info = jnp.iinfo(dtype)
    values = jnp.array(
        [info.min, info.max, 0, 1, info.max - 1, info.min + 1], dtype
    )
  n = H * W * 3
  index = (np.arange(n)[None, :] + 5 * np.arange(B)[:, None]) % values.shape[0]
  return values[index].reshape(B, H, W, 3)


def _bits(x):
  x = jnp.asarray(x)
  if x.dtype == jnp.bool_:
    return np.asarray(x)
  width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}
  return np.asarray(jax.lax.bitcast_convert_type(x, width[x.dtype.itemsize]))


def _call(fn, rng, images, labels, mode, prob, **kw):
  kw = dict(num_classes=K, mode=mode, prob=prob, return_params=True, **kw)
  if fn == "mixup_or_cutmix":
    return cutmix_jax.mixup_or_cutmix(rng, images, labels, **kw)
  return getattr(cutmix_jax, fn)(rng, images, labels, **kw)


def _assert_unmixed_rows_bitwise(images, out, params):
  keep = ~np.asarray(params.applied)
  np.testing.assert_array_equal(_bits(out)[keep], _bits(images)[keep])


@pytest.mark.parametrize(
    "dtype",
    ["float32", "bfloat16", "float16", "uint8", "int8", "int32", "uint32"],
)
@pytest.mark.parametrize("fn", FNS)
def test_unmixed_examples_pass_through_bitwise(fn, dtype):
  images = _special_images(dtype)
  labels = jnp.arange(B) % K
  for mode in MODES:
    for seed, prob in ((0, 0.0), (1, 0.5), (2, 1.0)):
      out, soft, params = _call(
          fn, jax.random.key(seed), images, labels, mode, prob
      )
      assert out.dtype == images.dtype
      _assert_unmixed_rows_bitwise(images, out, params)
      keep = ~np.asarray(params.applied)
      np.testing.assert_array_equal(
          np.asarray(soft)[keep], np.eye(K, dtype=np.float32)[labels][keep]
      )
      if prob == 0.0:
        assert not np.asarray(params.applied).any()
      # CutMix rows are a select: outside the box the example's own bits,
      # inside its partner's.
      cut = np.asarray(params.applied & params.is_cutmix)
      mask = np.asarray(cutmix_jax.box_mask(params.box, (H, W)))[..., None]
      partner_bits = _bits(images)[np.asarray(params.partner)]
      expected = np.where(mask, partner_bits, _bits(images))
      np.testing.assert_array_equal(_bits(out)[cut], expected[cut])


def test_cutmix_pastes_bool_masks_bitwise():
  images = _special_images(jnp.bool_)
  out, _, params = _call(
      "cutmix", jax.random.key(0), images, jnp.arange(B), "elem", 0.5
  )
  _assert_unmixed_rows_bitwise(images, out, params)


@pytest.mark.parametrize("fn", FNS)
def test_batch_of_one_with_inf_is_unchanged(fn):
  images = _special_images(jnp.float32)[:1]
  for mode in MODES:
    out, soft, params = _call(
        fn, jax.random.key(0), images, jnp.array([3]), mode, 1.0
    )
    assert not np.asarray(params.applied).any()
    np.testing.assert_array_equal(_bits(out), _bits(images))
    np.testing.assert_array_equal(soft, np.eye(K, dtype=np.float32)[[3]])


def test_issue_example_mixup_prob_zero_keeps_zeros_beside_inf():
  x = jnp.stack([jnp.zeros((2, 2, 1)), jnp.full((2, 2, 1), jnp.inf)])
  out, _ = cutmix_jax.mixup(
      jax.random.key(1), x, jnp.arange(2), num_classes=2, prob=0.0
  )
  np.testing.assert_array_equal(_bits(out), _bits(x))
  # -0.0 stays -0.0 (a blend with weight 1 would give +0.0).
  x = jnp.stack([jnp.full((2, 2, 1), -0.0), jnp.ones((2, 2, 1))])
  out, _ = cutmix_jax.mixup(
      jax.random.key(1), x, jnp.arange(2), num_classes=2, prob=0.0
  )
  assert np.signbit(np.asarray(out[0])).all()


@pytest.mark.parametrize("fn", FNS)
def test_nan_label_row_does_not_leak_into_unmixed_partners(fn):
  labels = np.eye(K, dtype=np.float32)[np.arange(B) % K]
  labels[2] = np.nan
  images = constant_images(B, (H, W, 3), jnp.float32)
  for mode in MODES:
    _, soft, params = getattr(cutmix_jax, fn)(
        jax.random.key(4),
        images,
        jnp.asarray(labels),
        mode=mode,
        prob=0.5,
        return_params=True,
    )
    keep = ~np.asarray(params.applied)
    np.testing.assert_array_equal(_bits(soft)[keep], _bits(labels)[keep])
  # mix_labels with nothing applied is the identity, bitwise.
  nothing = params._replace(applied=jnp.zeros(B, bool), lam=jnp.ones(B))
  np.testing.assert_array_equal(
      _bits(cutmix_jax.mix_labels(labels, nothing)), _bits(labels)
  )


# ---------------------------------------------------------------- integers


def test_mixup_uint32_blends_in_range():
  top = np.iinfo(np.uint32).max
  x = jnp.asarray(
      np.array(
          [[0, top, 7, 1 << 31], [top] * 4, [0] * 4, [top - 1, 1, 2, 3]],
          np.uint32,
      ).reshape(4, 2, 2, 1)
  )
  out, _, params = cutmix_jax.mixup(
      jax.random.key(0),
      x,
      jnp.arange(4),
      0.5,
      num_classes=4,
      mode="elem",
      return_params=True,
  )
  assert out.dtype == jnp.uint32
  lam = np.asarray(params.lam, np.float64).reshape(-1, 1, 1, 1)
  xs = np.asarray(x, np.float64)
  ref = lam * xs + (1 - lam) * xs[np.asarray(params.partner)]
  # float32 arithmetic: within its relative precision of the exact blend.
  np.testing.assert_allclose(
      np.asarray(out, np.float64), ref, rtol=2**-22, atol=1
  )
  _assert_unmixed_rows_bitwise(x, out, params)


_X64_SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import cutmix_jax
    assert jax.config.jax_enable_x64
    for dtype in (np.uint64, np.int64, np.uint32):
      info = np.iinfo(dtype)
      x = jnp.asarray(np.array([info.min, info.max, 12345, info.max - 3],
                               dtype).reshape(4, 1, 1, 1))
      assert x.dtype == dtype, x.dtype
      out, _, p = cutmix_jax.mixup(jax.random.key(0), x, jnp.arange(4), 0.5,
                                   num_classes=4, mode="elem",
                                   return_params=True)
      assert out.dtype == dtype
      lam = np.asarray(p.lam, np.float64).reshape(-1, 1, 1, 1)
      xs = np.asarray(x).astype(np.float64)
      ref = lam * xs + (1 - lam) * xs[np.asarray(p.partner)]
      got = np.asarray(out).astype(np.float64)
      assert np.all(np.abs(got - ref) <= np.abs(ref) * 2.0 ** -50 + 1), (got, ref)
      keep = ~np.asarray(p.applied)
      assert np.array_equal(np.asarray(out)[keep], np.asarray(x)[keep])
    print("X64 OK")
""")


@pytest.mark.timeout(300)
def test_mixup_64_bit_integers_with_x64():
  env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
  result = subprocess.run(
      [sys.executable, "-c", _X64_SCRIPT],
      env=env,
      capture_output=True,
      text=True,
      timeout=240,
      cwd=os.path.dirname(os.path.dirname(__file__)),
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert "X64 OK" in result.stdout


# ------------------------------------------------------------------ alpha

ALPHA_GRID = [
    float(F32.smallest_subnormal),
    1e-40,
    1e-38,
    float(F32.tiny),
    1e-30,
    1e-20,
    1e-10,
    1e-5,
    1e-3,
    0.05,
    0.3,
    1.0,
    3.0,
    30.0,
    1e3,
    1e4,
    1e5,
    1e6,
]


def _run_alpha(fn, mode, alpha, images, labels):
  if fn == "mixup_or_cutmix":
    return cutmix_jax.mixup_or_cutmix(
        jax.random.key(5),
        images,
        labels,
        mixup_alpha=alpha,
        cutmix_alpha=alpha,
        num_classes=K,
        mode=mode,
        return_params=True,
    )
  return getattr(cutmix_jax, fn)(
      jax.random.key(5),
      images,
      labels,
      alpha,
      num_classes=K,
      mode=mode,
      return_params=True,
  )


@functools.lru_cache(maxsize=None)
def _traced(fn, mode):
  """One compiled program per function and mode, shared by the tests below.

  Called with ``jnp.float32`` alphas only, so every call reuses it.
  """
  return jax.jit(functools.partial(_run_alpha, fn, mode))


def _check_finite_and_exact(out, soft, params, images):
  assert np.isfinite(np.asarray(out)).all()
  assert np.isfinite(np.asarray(soft)).all()
  np.testing.assert_allclose(np.asarray(soft).sum(-1), 1.0, atol=1e-6)
  lam = np.asarray(params.lam)
  assert np.all((lam >= 0) & (lam <= 1)), lam
  _assert_unmixed_rows_bitwise(images, out, params)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("fn", FNS)
def test_alpha_log_grid_python_and_traced_every_mode(fn):
  """From the smallest positive float32 to 1e6: finite, in range, no hang."""
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(B, H, W, 3)), jnp.float32)
  labels = jnp.arange(B) % K
  for mode in MODES:
    for alpha in ALPHA_GRID:
      for out, soft, params in (
          _run_alpha(fn, mode, alpha, images, labels),
          _traced(fn, mode)(jnp.float32(alpha), images, labels),
      ):
        _check_finite_and_exact(out, soft, params, images)


def _mixup_lams(alpha, traced):
  n = 20000
  fn = functools.partial(
      cutmix_jax.sample_mixup_params, jax.random.key(11), n, mode="elem"
  )
  params = jax.jit(fn)(jnp.float32(alpha)) if traced else fn(alpha)
  drawn = np.asarray(params.partner) != np.arange(n)
  return np.asarray(params.lam)[drawn]


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("alpha", [0.05, 0.3, 1.0, 3.0, 1e3, 1e6])
def test_lambda_follows_beta_where_a_test_has_power(alpha, traced):
  lam = _mixup_lams(alpha, traced)

  def reference(a):
    # Rounded to float32 as the draws are: at alpha = 0.05 a fifth of the
    # mass lies within one float32 step of 1.
    return np.random.default_rng(0).beta(a, a, 40000).astype(np.float32)

  assert stats.ks_2samp(lam, reference(alpha)).pvalue > 1e-3
  # ... and the test has power: a neighbouring alpha is rejected.
  assert stats.ks_2samp(lam, reference(alpha * 1.5)).pvalue < 1e-3


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("alpha", [float(F32.smallest_subnormal), 1e-38, 1e-30])
def test_tiny_alpha_is_a_fair_coin_between_0_and_1(alpha, traced):
  """Beta(a, a) for a -> 0 puts mass 1/2 on each end: lambda is 0 or 1."""
  lam = _mixup_lams(alpha, traced)
  ones = np.sum(lam == 1)
  # lam == 1 draws mix nothing and report 1; the rest must be exactly 0.
  assert np.all((lam == 0) | (lam == 1))
  assert stats.binomtest(int(ones), lam.size, 0.5).pvalue > 1e-3


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
@pytest.mark.parametrize("fn", FNS)
def test_traced_alpha_at_or_below_zero_mixes_nothing(fn, bad):
  """A warm-up schedule that starts at 0 (or NaN) is harmless: no mixing."""
  images = _special_images(jnp.float32)
  labels = jnp.arange(B) % K
  for mode in MODES:
    out, soft, params = _traced(fn, mode)(jnp.float32(bad), images, labels)
    assert not np.asarray(params.applied).any()
    np.testing.assert_array_equal(_bits(out), _bits(images))
    np.testing.assert_array_equal(soft, np.eye(K, dtype=np.float32)[labels])


def test_traced_alpha_inf_gives_lambda_one_half():
  params = jax.jit(
      functools.partial(
          cutmix_jax.sample_mixup_params, jax.random.key(0), 64, mode="elem"
      )
  )(jnp.float32(np.inf))
  applied = np.asarray(params.applied)
  assert applied.any()
  np.testing.assert_array_equal(np.asarray(params.lam)[applied], 0.5)
  # CutMix: the box of lambda = 1/2, sides floor(n sqrt(1/2)).
  params = jax.jit(
      functools.partial(
          cutmix_jax.sample_cutmix_params,
          jax.random.key(0),
          64,
          (32, 32),
          mode="elem",
      )
  )(jnp.float32(np.inf))
  box = np.asarray(params.box)[np.asarray(params.applied)]
  assert (box[:, 2] - box[:, 0]).max() <= 22 and (
      box[:, 2] - box[:, 0]
  ).max() >= 20


@pytest.mark.parametrize(
    "bad",
    [
        jnp.float32(-1.0),
        np.float32("nan"),
        jnp.float32(np.inf),
        np.float64(1e39),
    ],
)
@pytest.mark.parametrize(
    "fn", FNS + ("sample_cutmix_params", "sample_mixup_params")
)
def test_known_array_alpha_is_checked_eagerly(fn, bad):
  images = constant_images(B, (H, W, 3), jnp.float32)
  with pytest.raises(ValueError, match="alpha"):
    if fn == "sample_cutmix_params":
      cutmix_jax.sample_cutmix_params(jax.random.key(0), B, (H, W), bad)
    elif fn == "sample_mixup_params":
      cutmix_jax.sample_mixup_params(jax.random.key(0), B, bad)
    else:
      _run_alpha(fn, "batch", bad, images, jnp.arange(B) % K)


@pytest.mark.parametrize("fn", FNS)
@pytest.mark.parametrize("value", [1.0, 0.3])
def test_same_key_same_draw_however_alpha_is_written(fn, value):
  images = constant_images(B, (H, W, 3), jnp.float32)
  labels = jnp.arange(B, dtype=jnp.int32) % K
  forms = [value, np.float64(value), np.float32(value), jnp.float32(value)]
  results = [_run_alpha(fn, "elem", a, images, labels) for a in forms]
  results.append(_traced(fn, "elem")(jnp.float32(value), images, labels))
  for other in results[1:]:
    # The draws are identical; a blend compiled inside a larger program may
    # round differently (XLA fuses it), so pixels and labels are close.
    for a, b in zip(jax.tree.leaves(results[0][2]), jax.tree.leaves(other[2])):
      np.testing.assert_array_equal(a, b)
    for a, b in zip(results[0][:2], other[:2]):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------- other inputs


def test_known_out_of_range_labels_raise_traced_ones_are_checkified():
  images = constant_images(B, (H, W, 3), jnp.float32)
  for bad in (jnp.array([0, 1, 2, 3, 4, -1]), np.array([0, 1, 2, 3, 4, K])):
    for fn in FNS:
      with pytest.raises(ValueError, match=r"labels: expected class indices"):
        _run_alpha(fn, "batch", 1.0, images, bad)

  def step(labels):
    cutmix_jax.check_labels_in_range(labels, K)
    return cutmix_jax.cutmix(jax.random.key(0), images, labels, num_classes=K)

  err, _ = jax.jit(checkify.checkify(step))(jnp.array([0, 1, 2, 3, 4, K]))
  assert "labels" in err.get()


def test_empty_boxes_are_not_applied_and_keep_their_labels():
  """box_size=1 has half-side 0: every box is empty, nothing is pasted."""
  images = constant_images(B, (H, W, 3), jnp.float32)
  labels = jnp.arange(B) % K
  for label_mode in ("area", "larger_area", "complete"):
    for mode in MODES:
      out, soft, params = cutmix_jax.cutmix(
          jax.random.key(0),
          images,
          labels,
          num_classes=K,
          mode=mode,
          box_size=1,
          label_mode=label_mode,
          return_params=True,
      )
      assert not np.asarray(params.applied).any()
      np.testing.assert_array_equal(out, images)
      np.testing.assert_array_equal(soft, np.eye(K, dtype=np.float32)[labels])


def test_applied_means_pixels_were_pasted_at_small_alpha():
  images = constant_images(64, (8, 8, 1), jnp.float32)
  labels = jnp.arange(64) % K
  out, soft, params = cutmix_jax.cutmix(
      jax.random.key(3),
      images,
      labels,
      0.2,
      num_classes=K,
      mode="elem",
      label_mode="complete",
      return_params=True,
  )
  area = np.asarray(cutmix_jax.box_area(params.box))
  assert np.any(area == 0) and np.any(area > 0)
  np.testing.assert_array_equal(np.asarray(params.applied), area > 0)
  check_cutmix_provenance(
      out,
      soft,
      params,
      labels,
      num_classes=K,
      label_mode="complete",
      mode="elem",
      images=images,
  )


@pytest.mark.parametrize(
    "name, static, expected",
    [
        ("num_classes", dict(), "num_classes"),
        ("spatial_axes", dict(num_classes=K), "spatial_axes"),
        ("minmax", dict(num_classes=K), "minmax"),
        ("box_size", dict(num_classes=K), "box_size"),
    ],
)
def test_traced_static_arguments_say_to_mark_them_static(
    name, static, expected
):
  values = {
      "num_classes": K,
      "spatial_axes": (1, 2),
      "minmax": (0.2, 0.8),
      "box_size": 2,
  }
  images = constant_images(B, (H, W, 3), jnp.float32)
  fn = jax.jit(
      lambda v: cutmix_jax.cutmix(
          jax.random.key(0), images, jnp.arange(B) % K, **static, **{name: v}
      )
  )
  with pytest.raises(TypeError, match=rf"{expected}:.*static_argnames"):
    fn(values[name])


def test_raw_keys_of_the_rbg_implementation_are_accepted():
  previous = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", "rbg")
  try:
    key = jax.random.PRNGKey(0)
    assert key.shape == (4,)
    images = constant_images(B, (H, W, 3), jnp.float32)
    out, soft, params = cutmix_jax.cutmix(
        key, images, jnp.arange(B) % K, num_classes=K, return_params=True
    )
    check_cutmix_provenance(
        out, soft, params, jnp.arange(B) % K, num_classes=K, images=images
    )
  finally:
    jax.config.update("jax_default_prng_impl", previous)
  with pytest.raises(TypeError, match="rng"):
    cutmix_jax.cutmix(
        jnp.zeros(4, jnp.uint32), images, jnp.arange(B) % K, num_classes=K
    )
