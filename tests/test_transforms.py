"""Compiled equals eager, no retrace for new run-time values, and gradients.

The random functions are compiled together in one jitted program (a module
fixture: compiling them is most of this file's time) whose outputs, for three
keys and three sets of ``alpha``, ``prob`` and ``label_smoothing``, must equal
the eager calls with the same values, given as Python numbers or as arrays.
(The properties themselves run eager, jitted and vmapped in test_provenance
and test_core.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import assert_trees_close
from conftest import check_cutmix_provenance
from conftest import constant_images
from conftest import rect_mask
from conftest import soft_reference
import cutmix_jax
from cutmix_jax import boxes

# The compiled program is built once, on one worker (see test_sharding).
pytestmark = pytest.mark.xdist_group("transforms")
K, B, H, W = 10, 7, 16, 12


def _options(prob, label_smoothing):
  return dict(
      num_classes=K, label_smoothing=label_smoothing, mode="elem", prob=prob
  )


# Every random function, with alpha, prob and smoothing as run-time values.
RANDOM_FNS = {
    "cutmix": lambda rng, x, y, a, p, ls: cutmix_jax.with_params(
        cutmix_jax.cutmix
    )(rng, x, y, a, **_options(p, ls)),
    "cutmix_minmax_larger_area": lambda rng, x, y, a, p, ls: (
        cutmix_jax.with_params(cutmix_jax.cutmix)(
            rng,
            x,
            y,
            a,
            box=boxes.minmax(0.2, 0.8),
            label_mode="larger_area",
            **_options(p, ls),
        )
    ),
    "mixup": lambda rng, x, y, a, p, ls: cutmix_jax.with_params(
        cutmix_jax.mixup
    )(rng, x, y, a, **_options(p, ls)),
    "mixup_or_cutmix": lambda rng, x, y, a, p, ls: cutmix_jax.with_params(
        cutmix_jax.mixup_or_cutmix
    )(rng, x, y, mixup_alpha=a, cutmix_alpha=a, **_options(p, ls)),
}
VALUES = ((1.0, 1.0, 0.0), (0.3, 0.0, 0.1), (2.0, 0.5, 0.2))


@pytest.fixture(scope="session")
def data():
  return constant_images(B, (H, W, 3), jnp.float32), jnp.arange(B) % K


@pytest.fixture(scope="session")
def compiled(data):
  """One jitted program with every random function, and its trace count."""
  traces = []

  def all_fns(*args):
    traces.append(1)  # a Python side effect: runs only while tracing
    return {name: fn(*args) for name, fn in RANDOM_FNS.items()}

  fn = jax.jit(all_fns)
  images, labels = data
  outs = [
      fn(jax.random.key(seed), images, labels, *values)
      for seed, values in enumerate(VALUES)
  ]
  return outs, traces


@pytest.mark.parametrize("name", sorted(RANDOM_FNS))
def test_compiled_equals_eager(compiled, data, name):
  outs, _ = compiled
  images, labels = data
  for seed, (values, out) in enumerate(zip(VALUES, outs)):
    # The same key and the same values, as Python numbers or as arrays,
    # give the same draws.
    for given in (values, [jnp.float32(v) for v in values]):
      eager = RANDOM_FNS[name](jax.random.key(seed), images, labels, *given)
      assert_trees_close(out[name], eager, err_msg=f"{name}, seed {seed}")


def test_new_run_time_values_do_not_retrace(compiled, data):
  outs, traces = compiled
  assert len(traces) == 1
  images, labels = data
  # ... and the traced values were used: prob 0 left everything unchanged,
  # label_smoothing 0.1 smoothed the labels.
  for name in RANDOM_FNS:
    mixed, soft, params = outs[1][name]
    np.testing.assert_array_equal(mixed, images)
    np.testing.assert_allclose(soft, soft_reference(labels, K, 0.1), atol=1e-7)
    assert not np.asarray(params.applied).any()
  # prob 0.5, alpha 2, smoothing 0.2: still an exact CutMix.
  mixed, soft, params = outs[2]["cutmix"]
  check_cutmix_provenance(
      mixed,
      soft,
      params,
      labels,
      num_classes=K,
      label_smoothing=0.2,
      prob_is_one=False,
  )


def test_a_jitted_step_that_returns_the_params():
  """`with_params` under jit with static options, as a train step uses it."""
  images = constant_images(B, (H, W, 3), jnp.uint8)
  labels = jnp.arange(B) % K
  step = jax.jit(
      cutmix_jax.with_params(cutmix_jax.cutmix),
      static_argnames=("num_classes", "mode", "box"),
  )
  out, soft, params = step(
      jax.random.key(1),
      images,
      labels,
      num_classes=K,
      mode="pair",
      box=boxes.fixed_size(6),
  )
  check_cutmix_provenance(
      out, soft, params, labels, num_classes=K, mode="pair", images=images
  )


# ------------------------------------------------------------------ grads


def test_grad_through_cutmix_scatters_back_to_source_pixels():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(B, H, W, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(B, H, W, 3)), jnp.float32)
  labels = jnp.arange(B)

  def loss(images):
    out, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
        jax.random.key(5), images, labels, num_classes=K, mode="elem"
    )
    return jnp.sum(out * w), params

  grad, params = jax.grad(loss, has_aux=True)(x)
  box, partner = np.asarray(params.box), np.asarray(params.partner)
  applied = np.asarray(params.applied)
  assert applied.sum() >= 3
  mask = np.stack([rect_mask(b, H, W) & a for b, a in zip(box, applied)])[
      ..., None
  ]
  w = np.asarray(w)
  expected = np.where(mask, 0.0, w)  # own pixels kept
  np.add.at(expected, partner, np.where(mask, w, 0.0))  # pasted: to partner
  np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)


def test_grad_through_mixup_images_and_float_labels():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(B, 6, 5, 2)), jnp.float32)
  # A background every image shares: equal pixels blend to themselves
  # exactly, yet their gradient still splits by lam.
  x = x.at[:, :3].set(0.5)
  w = jnp.asarray(rng.normal(size=(B, 6, 5, 2)), jnp.float32)
  soft = jax.nn.one_hot(jnp.arange(B), K)
  v = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)

  def loss(images, labels):
    out, mixed, params = cutmix_jax.with_params(cutmix_jax.mixup)(
        jax.random.key(6), images, labels, 0.4, mode="elem"
    )
    return jnp.sum(out * w) + jnp.sum(mixed * v), params

  (gx, gy), params = jax.grad(loss, argnums=(0, 1), has_aux=True)(x, soft)
  lam = np.asarray(params.lam, np.float64)
  partner = np.asarray(params.partner)
  assert np.asarray(params.applied).sum() >= 3

  def scatter(g):
    g = np.asarray(g, np.float64)
    shape = (-1,) + (1,) * (g.ndim - 1)
    out = lam.reshape(shape) * g
    np.add.at(out, partner, (1 - lam).reshape(shape) * g)
    return out

  np.testing.assert_allclose(gx, scatter(w), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(gy, scatter(v), rtol=1e-5, atol=1e-6)


def test_grad_of_mixed_cross_entropy_is_softmax_minus_target():
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)
  labels = jnp.arange(B) % K
  _, soft, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
      jax.random.key(7),
      constant_images(B, (H, W, 1), jnp.float32),
      labels,
      num_classes=K,
      mode="elem",
  )
  grad = jax.grad(
      lambda z: cutmix_jax.mixed_cross_entropy(z, labels, params).sum()
  )(logits)
  np.testing.assert_allclose(
      grad, jax.nn.softmax(logits) - soft, rtol=1e-5, atol=1e-6
  )


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_the_weight_is_differentiated_as_the_blend_at_the_ends_too(lam):
  # A weight (TransMix's, or one learned) gets the blend's derivative, own
  # minus partner's, even where the ends are selected bitwise; row 1 is not
  # applied, so its weight is no input. Images 0 and 10; labels 0 and 1.
  images = jnp.asarray([0.0, 10.0]).reshape(2, 1, 1, 1)
  logits = jnp.asarray([[2.0, 0.0], [0.0, 2.0]])

  def params(weight):
    return cutmix_jax.MixParams(
        box=jnp.zeros((2, 4), jnp.int32),
        lam=jnp.full(2, weight),
        partner=jnp.asarray([1, 0]),
        applied=jnp.asarray([True, False]),
        is_cutmix=jnp.asarray([False, False]),
    )

  outputs = {
      "blend": lambda w: cutmix_jax.blend(images, params(w))[:, 0, 0, 0],
      "mix_labels": lambda w: cutmix_jax.mix_labels(
          jnp.arange(2), params(w), num_classes=2
      )[:, 0],
      "mixed_cross_entropy": lambda w: cutmix_jax.mixed_cross_entropy(
          logits, jnp.arange(2), params(w)
      ),
  }
  own_minus_partner = {
      "blend": -10.0,
      "mix_labels": 1.0,
      "mixed_cross_entropy": float(
          jax.nn.log_softmax(logits[0])[1] - jax.nn.log_softmax(logits[0])[0]
      ),
  }
  for name, fn in outputs.items():
    derivative = jax.jacobian(fn)(jnp.float32(lam))
    np.testing.assert_allclose(
        derivative, [own_minus_partner[name], 0.0], rtol=1e-6, err_msg=name
    )


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("fn", ["cutmix", "resizemix"])
def test_the_label_weight_is_the_exact_fraction_under_jit(fn, mode):
  """``lam`` is ``1 - area / n`` in float32 bitwise, eager and jitted alike.

  XLA turns a division by a scalar into a product by its reciprocal, one ulp
  off on sizes whose cell count is not a power of two.
  """
  mix = jax.tree_util.Partial(
      cutmix_jax.with_params(getattr(cutmix_jax, fn)), num_classes=K, mode=mode
  )
  for size in [(7, 13), (31, 17), (28, 28)]:
    images, labels = jnp.zeros((16, *size, 1), jnp.uint8), jnp.arange(16) % K
    for seed in range(6):
      key = jax.random.key(seed)
      eager = mix(key, images, labels)[2]
      jitted = jax.jit(mix)(key, images, labels)[2]
      np.testing.assert_array_equal(jitted.lam, eager.lam)
      box = np.asarray(jitted.box, np.int64)
      area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
      exact = np.float32(1) - np.float32(area) / np.float32(np.prod(size))
      applied = np.asarray(jitted.applied)
      np.testing.assert_array_equal(
          np.asarray(jitted.lam)[applied], exact[applied]
      )
      fraction = cutmix_jax.pasted_fraction(jitted.box, size)
      np.testing.assert_array_equal(
          jitted.lam, np.where(applied, 1 - fraction, 1)
      )


def _calls_of_every_function():
  """One call of each public function, in the forms that broadcast per-axis
  sizes over a batch of boxes (per-example draws, every box rule, resizing)."""
  key, labels = jax.random.key(0), jnp.arange(B) % K
  images = jax.random.uniform(key, (B, H, W, 3))
  mix = cutmix_jax.with_params
  options = dict(num_classes=K, mode="elem")
  calls = {
      f"cutmix {rule}": lambda rule=rule: mix(cutmix_jax.cutmix)(
          key, images, labels, box=rule, label_smoothing=0.1, **options
      )
      for rule in (
          None,
          boxes.gaussian_center(0.2, boxes.fixed_size(4)),
          boxes.on_patch_grid(4, boxes.minmax(0.3, 0.9)),
          boxes.at_resolution((32, 24)),
      )
  }
  resized = mix(cutmix_jax.resizemix)(key, images > 0.5, labels, **options)[2]
  grid = calls[f"cutmix {boxes.on_patch_grid(4, boxes.minmax(0.3, 0.9))}"]
  calls |= {
      "mixup_or_cutmix": lambda: cutmix_jax.mixup_or_cutmix(
          key, images, labels, **options
      ),
      "one_of": lambda: cutmix_jax.one_of(
          key,
          images,
          labels,
          [(0.5, cutmix_jax.resizemix), (0.5, cutmix_jax.mixup)],
          **options,
      ),
      "cut_and_paste": lambda: cutmix_jax.cut_and_paste(
          jnp.ones((B, H, W), jnp.int32), resized
      ),
      "blend": lambda: cutmix_jax.blend(images, resized),
      "mix_labels": lambda: cutmix_jax.mix_labels(
          labels, resized, num_classes=K
      ),
      "mixed_cross_entropy": lambda: cutmix_jax.mixed_cross_entropy(
          jnp.zeros((B, K)), labels, resized, label_smoothing=0.1
      ),
      "transmix_weights": lambda: cutmix_jax.transmix_weights(
          jnp.ones((B, 12)), grid()[2], image_size=(H, W), patch_size=4
      ),
      "pasted_fraction": lambda: cutmix_jax.pasted_fraction(
          jnp.zeros((B, 4), jnp.int32), (H, W)
      ),
  }
  return calls


def test_no_implicit_promotion_under_jax_strictest_settings():
  """Users may set JAX to refuse implicit rank and dtype promotion: nothing
  the library does relies on either (per-axis sizes meet boxes of a batch).

  Jitted only: the calls close over concrete arrays, so the library takes
  its eager branches (values known, checked), and JAX checks promotion as
  each operation is traced, as it does eagerly.
  """
  for name, call in _calls_of_every_function().items():
    with jax.numpy_rank_promotion("raise"), jax.numpy_dtype_promotion("strict"):
      try:
        jax.block_until_ready(jax.jit(call)())
      except (ValueError, TypeError) as error:
        pytest.fail(f"{name}: {error}")
