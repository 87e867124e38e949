"""The edges where trust is won or lost: extreme alphas, traced bad values, dtypes.

* No alpha hangs or gives NaN from finite inputs: a log grid from the
  smallest positive float32 to 1e6, as a Python number and traced.
* A traced alpha at or below 0, or NaN, mixes nothing (a warm-up schedule
  that starts at 0 is harmless); known bad values raise (test_validation).
* MixUp's lambda is Beta(alpha, alpha), Python or traced, from alpha 0.05 to
  1e3 (KS, with the power to reject a neighbouring alpha); a tiny alpha is a
  fair coin between 0 and 1. (The boxes' law: test_distributions.)
* The same key gives the same draw however alpha is written (an alpha of 0
  that turns a method off too).
* Every dtype blends within its range; with x64 the 64-bit integers too, the
  lambdas stay float32, the same key draws the same as without x64, and
  float64 labels and lambdas mix in float64.
"""

import functools
import os
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from conftest import bits
from conftest import clear_if_over
from conftest import constant_images
from conftest import python_program
from conftest import ROOT
import cutmix_jax

B, H, W, K = 6, 4, 5, 6
MODES = ("batch", "elem", "pair")
FNS = ("cutmix", "mixup", "mixup_or_cutmix")
F32 = np.finfo(np.float32)

ALPHA_GRID = [
    float(F32.smallest_subnormal),
    1e-38,
    float(F32.tiny),
    1e-20,
    1e-5,
    0.05,
    0.3,
    1.0,
    3.0,
    30.0,
    1e4,
    1e6,
]


def _run(fn, mode, alpha, images, labels, key=5):
  mix = cutmix_jax.with_params(getattr(cutmix_jax, fn))
  kw = dict(num_classes=K, mode=mode)
  if fn == "mixup_or_cutmix":
    return mix(
        jax.random.key(key),
        images,
        labels,
        mixup_alpha=alpha,
        cutmix_alpha=alpha,
        **kw,
    )
  return mix(jax.random.key(key), images, labels, alpha, **kw)


@functools.lru_cache(maxsize=None)
def _traced(fn, mode):
  """One compiled program per function and mode (alpha traced), shared below."""
  return jax.jit(functools.partial(_run, fn, mode))


def _check_finite_and_exact(out, soft, params, images):
  assert np.isfinite(np.asarray(out)).all()
  assert np.isfinite(np.asarray(soft)).all()
  np.testing.assert_allclose(np.asarray(soft).sum(-1), 1.0, atol=1e-6)
  lam = np.asarray(params.lam)
  assert lam.dtype == np.float32
  assert np.all((lam >= 0) & (lam <= 1)), lam
  keep = ~np.asarray(params.applied)
  np.testing.assert_array_equal(bits(out)[keep], bits(images)[keep])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fn", FNS)
def test_alpha_log_grid_python_and_traced(fn):
  """From the smallest positive float32 to 1e6: finite, in range, no hang."""
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(B, H, W, 3)), jnp.float32)
  labels = jnp.arange(B) % K
  for i, alpha in enumerate(ALPHA_GRID):
    mode = MODES[i % 3]
    for out, soft, params in (
        _run(fn, mode, alpha, images, labels),
        _traced(fn, mode)(jnp.float32(alpha), images, labels),
    ):
      _check_finite_and_exact(out, soft, params, images)


_N_LAMS = 20000
_MIXUP_DRAW = functools.partial(
    cutmix_jax.with_params(cutmix_jax.mixup),
    jax.random.key(11),
    jnp.zeros((_N_LAMS, 1), jnp.uint8),
    jnp.zeros((_N_LAMS, 1), jnp.float32),
    mode="elem",
)
_MIXUP_DRAW_TRACED = jax.jit(_MIXUP_DRAW)  # one program for every alpha


def _mixup_lams(alpha, traced):
  if traced:
    _, _, params = _MIXUP_DRAW_TRACED(jnp.float32(alpha))
  else:
    _, _, params = _MIXUP_DRAW(alpha)
  drawn = np.asarray(params.partner) != np.arange(_N_LAMS)
  return np.asarray(params.lam)[drawn]


@pytest.mark.statistical
@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize("alpha", [0.05, 1.0, 1e3])
def test_lambda_follows_beta_where_a_test_has_power(alpha, traced):
  lam = _mixup_lams(alpha, traced)

  def reference(a):
    # Rounded to float32 as the draws are: at alpha = 0.05 a fifth of the
    # mass lies within one float32 step of 1.
    return np.random.default_rng(0).beta(a, a, 40000).astype(np.float32)

  assert stats.ks_2samp(lam, reference(alpha)).pvalue > 1e-3
  # ... and the test has power: a neighbouring alpha is rejected.
  assert stats.ks_2samp(lam, reference(alpha * 1.5)).pvalue < 1e-3


@pytest.mark.statistical
@pytest.mark.parametrize("traced", [False, True])
def test_tiny_alpha_is_a_fair_coin_between_0_and_1(traced):
  """Beta(a, a) for a -> 0 puts mass 1/2 on each end: lambda is 0 or 1."""
  lam = _mixup_lams(float(F32.smallest_subnormal), traced)
  assert np.all((lam == 0) | (lam == 1))
  assert stats.binomtest(int(np.sum(lam == 1)), lam.size, 0.5).pvalue > 1e-3


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
@pytest.mark.parametrize("fn", FNS)
def test_traced_alpha_at_or_below_zero_mixes_nothing(fn, bad):
  images = jnp.asarray(
      np.random.default_rng(1).normal(size=(B, H, W, 3)), jnp.float32
  )
  labels = jnp.arange(B) % K
  for mode in MODES:
    out, soft, params = _traced(fn, mode)(jnp.float32(bad), images, labels)
    assert not np.asarray(params.applied).any()
    # mixup_or_cutmix with both off marks its rows MixUp's, as 0.2 did.
    assert np.asarray(params.is_cutmix).all() == (fn == "cutmix")
    np.testing.assert_array_equal(bits(out), bits(images))
    np.testing.assert_array_equal(soft, np.eye(K, dtype=np.float32)[labels])


def test_traced_alpha_inf_gives_lambda_one_half():
  n = 64
  images = constant_images(n, (32, 32, 1), jnp.uint8)
  labels = jnp.zeros((n, 2), jnp.float32)
  for fn in (cutmix_jax.mixup, cutmix_jax.cutmix):
    _, _, params = jax.jit(
        lambda a, fn=fn: cutmix_jax.with_params(fn)(
            jax.random.key(0), images, labels, a, mode="elem"
        )
    )(jnp.float32(np.inf))
    applied = np.asarray(params.applied)
    assert applied.sum() > n // 2
    if fn is cutmix_jax.mixup:
      np.testing.assert_array_equal(np.asarray(params.lam)[applied], 0.5)
    else:
      # The box of lambda = 1/2: sides floor(32 sqrt(1/2)) = 22 -> half 11.
      box = np.asarray(params.box)[applied]
      assert (box[:, 2] - box[:, 0]).max() == 22


@pytest.mark.parametrize("fn", FNS)
def test_same_key_same_draw_however_alpha_is_written(fn):
  images = constant_images(B, (H, W, 3), jnp.float32)
  labels = jnp.arange(B, dtype=jnp.int32) % K
  forms = [0.3, np.float64(0.3), np.float32(0.3), jnp.float32(0.3)]
  results = [_run(fn, "elem", a, images, labels) for a in forms]
  results.append(_traced(fn, "elem")(jnp.float32(0.3), images, labels))
  for other in results[1:]:
    # The draws are identical; a blend compiled inside a larger program may
    # round differently (XLA fuses it), so pixels and labels are close.
    for a, b in zip(jax.tree.leaves(results[0][2]), jax.tree.leaves(other[2])):
      np.testing.assert_array_equal(a, b)
    for a, b in zip(results[0][:2], other[:2]):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("off", ["mixup_alpha", "cutmix_alpha"])
def test_an_alpha_of_zero_draws_the_same_python_or_traced(off):
  # A Python 0 leaves its method out of the program, a traced 0 is drawn and
  # never chosen: the method that mixes draws the same either way.
  images = constant_images(B, (H, W, 3), jnp.float32)
  labels = jnp.arange(B, dtype=jnp.int32) % K
  mix = functools.partial(
      cutmix_jax.with_params(cutmix_jax.mixup_or_cutmix),
      jax.random.key(5),
      images,
      labels,
      num_classes=K,
      mode="elem",
  )
  python = mix(**{off: 0.0})[2]
  traced = jax.jit(lambda a: mix(**{off: a})[2])(0.0)
  assert np.asarray(python.applied).any()
  for a, b in zip(jax.tree.leaves(python), jax.tree.leaves(traced)):
    np.testing.assert_array_equal(a, b)


def test_raw_keys_of_the_rbg_implementation_are_accepted():
  images = constant_images(B, (H, W, 3), jnp.float32)
  labels = jnp.arange(B) % K
  previous = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", "rbg")
  try:
    key = jax.random.PRNGKey(0)
    assert key.shape == (4,)
    out, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
        key, images, labels, num_classes=K, mode="elem"
    )
    assert np.asarray(params.applied).any()
  finally:
    jax.config.update("jax_default_prng_impl", previous)
  # Under the default implementation a uint32[4] is no key.
  with pytest.raises(TypeError, match="^rng"):
    cutmix_jax.cutmix(jnp.zeros(4, jnp.uint32), images, labels, num_classes=K)


# ---------------------------------------------------------------- integers


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "int4"])
def test_low_bit_dtypes_are_computed_in_float32(dtype):
  """float8 and int4 have no promotion path to float32: each computation
  casts them (ResizeMix's resampling, soft labels, the loss's logits)."""
  key, labels = jax.random.key(0), jnp.arange(4)
  images = jnp.asarray(np.arange(4 * 8 * 8) % 7).reshape(4, 8, 8, 1)
  images = images.astype(dtype)
  mixed, _, params = cutmix_jax.with_params(cutmix_jax.resizemix)(
      key, images, labels, (0.5, 0.9), num_classes=4
  )
  assert mixed.dtype == images.dtype and np.asarray(params.applied).any()
  values = np.asarray(mixed, np.float32)
  assert values.min() >= 0 and values.max() <= 6  # resampled within range
  soft = jnp.eye(4, dtype="float8_e4m3fn")
  _, mixed_soft, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
      key, jnp.zeros((4, 8, 8, 1)), soft
  )
  assert mixed_soft.dtype == jnp.float32
  np.testing.assert_allclose(mixed_soft.sum(axis=1), 1.0, rtol=1e-6)
  logits = jnp.zeros((4, 4), "float8_e4m3fn")
  loss = cutmix_jax.mixed_cross_entropy(logits, labels, params)
  np.testing.assert_allclose(loss, np.log(4), rtol=1e-6)


def test_mixup_uint32_blends_in_range():
  top = np.iinfo(np.uint32).max
  x = jnp.asarray(
      np.array(
          [[0, top, 7, 1 << 31], [top] * 4, [0] * 4, [top - 1, 1, 2, 3]],
          np.uint32,
      ).reshape(4, 2, 2, 1)
  )
  out, _, params = cutmix_jax.with_params(cutmix_jax.mixup)(
      jax.random.key(0), x, jnp.arange(4), 0.5, num_classes=4, mode="elem"
  )
  assert out.dtype == jnp.uint32
  lam = np.asarray(params.lam, np.float64).reshape(-1, 1, 1, 1)
  xs = np.asarray(x, np.float64)
  ref = lam * xs + (1 - lam) * xs[np.asarray(params.partner)]
  # float32 arithmetic: within its relative precision of the exact blend.
  np.testing.assert_allclose(
      np.asarray(out, np.float64), ref, rtol=2**-22, atol=1
  )
  keep = ~np.asarray(params.applied)
  np.testing.assert_array_equal(np.asarray(out)[keep], np.asarray(x)[keep])


@pytest.mark.parametrize(
    "dtype", ["uint8", "int8", "uint32", "int32", "bfloat16", "float32"]
)
def test_mixup_of_equal_images_returns_them(dtype):
  """Issue 17, 13: two equal uint32 4294967295 pixels blend to themselves."""
  if jnp.issubdtype(dtype, jnp.integer):
    info = jnp.iinfo(dtype)
    row = jnp.asarray(
        np.array([info.max, info.min, info.max - 1, 3], np.dtype(dtype))
    )
  else:
    info = jnp.finfo(dtype)
    row = jnp.asarray(
        [float(info.max), -float(info.max), float(info.tiny), 0.3]
    ).astype(dtype)
  images = jnp.broadcast_to(row, (8, 2, 2, 4))
  # (The mode only decides how many lambdas are drawn: test_core blends
  # equal values with hand-given ones, in every dtype, eager, jit and vmap.)
  out, _, params = cutmix_jax.with_params(cutmix_jax.mixup)(
      jax.random.key(0), images, jnp.arange(8), num_classes=8, mode="elem"
  )
  assert np.asarray(params.applied).any()
  np.testing.assert_array_equal(bits(out), bits(images))


def _draws() -> list[np.ndarray]:
  """Every field of what each kind of draw gives, for the x64 program to match:
  Beta lambdas, uniform centres, sides and places, coins, the switch."""
  x, box = jnp.zeros((8, 12, 10, 3)), cutmix_jax.boxes
  calls = [
      (cutmix_jax.cutmix, dict(alpha=0.3, prob=0.6)),
      (cutmix_jax.cutmix, dict(box=box.minmax(0.2, 0.8), mode="pair")),
      (cutmix_jax.mixup_or_cutmix, dict(prob=0.7)),
  ]
  out = []
  for fn, options in calls:
    options = {"mode": "elem", "num_classes": 8, **options}
    mix = cutmix_jax.with_params(fn)
    _, _, params = mix(jax.random.key(3), x, jnp.arange(8), **options)
    out += [np.asarray(v) for v in params if v is not None]
  return out


_X64_SCRIPT = textwrap.dedent("""
    import sys, jax, jax.numpy as jnp, numpy as np
    import cutmix_jax
    assert jax.config.jax_enable_x64
    sys.path.insert(0, "tests")
    from test_edges import _draws
    np.savez(sys.argv[1], *_draws())
    labels = jnp.eye(4, dtype=jnp.float64)
    for fn in (cutmix_jax.mixup, cutmix_jax.mixup_or_cutmix):
      soft = fn(jax.random.key(0), jnp.zeros((4, 8, 6, 3)), labels, mode="elem")[1]
      # 1 - lam in float64, not float32: the rows sum to 1.
      assert soft.dtype == jnp.float64 and np.all(soft.sum(1) == 1), soft
    params = cutmix_jax.MixParams(box=None, lam=jnp.array([1 / 3, 1.0]),
      partner=jnp.array([1, 0]), applied=jnp.array([True, False]),
      is_cutmix=jnp.array([False, False]))  # a float64 lam, kept as given
    out = cutmix_jax.blend(jnp.array([[0.0], [1.0]]), params)
    assert abs(out[0, 0] - 2 / 3) < 1e-15, out  # float32's lam: 3e-8 off
    images = jnp.zeros((4, 8, 6, 3))
    for fn in (cutmix_jax.cutmix, cutmix_jax.mixup, cutmix_jax.mixup_or_cutmix):
      twin = cutmix_jax.with_params(fn)
      for call in (twin, jax.jit(twin, static_argnames="num_classes")):
        _, soft, p = call(jax.random.key(0), images, jnp.arange(4), num_classes=4)
        # Issue 17, 12: the lambdas are float32 with x64 as without.
        assert p.lam.dtype == jnp.float32, (fn.__name__, p.lam.dtype)
        assert p.box.dtype == jnp.int32 and p.partner.dtype == jnp.int32
        assert soft.dtype == jnp.float32, soft.dtype
    for dtype in (np.uint64, np.int64, np.uint32):
      info = np.iinfo(dtype)
      x = jnp.asarray(np.array([info.min, info.max, 12345, info.max - 3],
                               dtype).reshape(4, 1, 1, 1))
      assert x.dtype == dtype, x.dtype
      out, _, p = cutmix_jax.with_params(cutmix_jax.mixup)(
          jax.random.key(0), x, jnp.arange(4), 0.5, num_classes=4,
          mode="elem")
      assert out.dtype == dtype
      lam = np.asarray(p.lam, np.float64).reshape(-1, 1, 1, 1)
      xs = np.asarray(x).astype(np.float64)
      ref = lam * xs + (1 - lam) * xs[np.asarray(p.partner)]
      got = np.asarray(out).astype(np.float64)
      assert np.all(np.abs(got - ref) <= np.abs(ref) * 2.0 ** -23 + 1), (
          got, ref)
      keep = ~np.asarray(p.applied)
      assert np.array_equal(np.asarray(out)[keep], np.asarray(x)[keep])
      # A blend of equal values is that value (issue 17, 13).
      same = jnp.broadcast_to(x[1:2], x.shape)
      out = cutmix_jax.mixup(jax.random.key(1), same, jnp.arange(4),
                             num_classes=4, mode="elem")[0]
      assert np.array_equal(np.asarray(out), np.asarray(same)), (dtype, out)
    print("X64 OK")
""")


@pytest.mark.timeout(200)
def test_x64_keeps_float32_lambdas_and_blends_64_bit_integers(tmp_path):
  out = python_program(
      _X64_SCRIPT.replace("sys.argv[1]", repr(str(tmp_path / "x64.npz"))),
      timeout=180,
      env=dict(JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu"),
  )
  assert "X64 OK" in out
  with np.load(tmp_path / "x64.npz") as x64:
    drawn = [x64[f"arr_{i}"] for i in range(len(x64.files))]
  for without, with_x64 in zip(_draws(), drawn, strict=True):
    np.testing.assert_array_equal(without, with_x64)


def test_python_program_is_bounded():
  """The helper above kills a program that runs past its time (and fails)."""
  with pytest.raises(pytest.fail.Exception, match="ran past"):
    python_program("import time; time.sleep(30)", timeout=1)
  assert os.environ.get("XLA_FLAGS")  # conftest set the compile-speed flags


def test_the_compilation_cache_is_used_and_bounded(tmp_path):
  """conftest keeps compiled programs in .cache/jax, and clears it when full."""
  cache = jax.config.jax_compilation_cache_dir
  assert cache == os.path.join(ROOT, ".cache", "jax")
  jax.jit(lambda x: x * 3 + 1)(jnp.arange(5)).block_until_ready()
  assert os.listdir(cache)  # this program, if no earlier one
  folder = tmp_path / "cache"
  folder.mkdir()
  with open(folder / "entry", "wb") as f:
    f.truncate(2048)  # sparse: 2 KiB on paper
  assert not clear_if_over(str(folder), 2048) and folder.exists()
  assert clear_if_over(str(folder), 2047) and not folder.exists()
  assert not clear_if_over(str(folder), 0)  # none: nothing to clear
