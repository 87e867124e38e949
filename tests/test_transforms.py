"""Requirement 4: every public function eager, under jit, under vmap; grads; no retrace.

Compiling the samplers dominates the cost of these tests on CPU, so the
six random functions are compiled together in one jitted program (a module
fixture) whose outputs are compared, function by function, with eager calls.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import check_cutmix_provenance
from conftest import constant_images
from conftest import rect_mask
from conftest import soft_reference
import cutmix_jax

K, B, H, W = 10, 7, 32, 24
N = 3  # leading vmap axis


def _data_kwargs(prob, label_smoothing):
  return dict(
      num_classes=K,
      label_smoothing=label_smoothing,
      return_params=True,
      mode="elem",
      prob=prob,
  )


# Every random public function, with traced alpha, prob and smoothing.
RANDOM_FNS = {
    "cutmix": lambda rng, x, y, a, p, ls: cutmix_jax.cutmix(
        rng, x, y, a, **_data_kwargs(p, ls)
    ),
    "mixup": lambda rng, x, y, a, p, ls: cutmix_jax.mixup(
        rng, x, y, a, **_data_kwargs(p, ls)
    ),
    "mixup_or_cutmix": lambda rng, x, y, a, p, ls: cutmix_jax.mixup_or_cutmix(
        rng, x, y, mixup_alpha=a, cutmix_alpha=a, **_data_kwargs(p, ls)
    ),
    "sample_cutmix_params": lambda rng, x, y, a, p, ls: (
        cutmix_jax.sample_cutmix_params(rng, B, (H, W), a, mode="elem", prob=p)
    ),
    "sample_mixup_params": lambda rng, x, y, a, p, ls: (
        cutmix_jax.sample_mixup_params(rng, B, a, mode="elem", prob=p)
    ),
    "sample_mixup_or_cutmix_params": lambda rng, x, y, a, p, ls: (
        cutmix_jax.sample_mixup_or_cutmix_params(
            rng, B, (H, W), mixup_alpha=a, cutmix_alpha=a, mode="elem", prob=p
        )
    ),
}


def _random_fns(*args):
  return {name: fn(*args) for name, fn in RANDOM_FNS.items()}


RANDOM_NAMES = (
    "cutmix",
    "mixup",
    "mixup_or_cutmix",
    "sample_cutmix_params",
    "sample_mixup_params",
    "sample_mixup_or_cutmix_params",
)
ARGS_1 = (1.0, 1.0, 0.0)  # alpha, prob, label_smoothing
ARGS_2 = (0.3, 0.0, 0.1)  # different values, same types: must not retrace
ARGS_3 = (2.0, 0.5, 0.2)


def _assert_same(a, b, exact_floats=False):
  """Same pytree; integer and bool leaves equal, float leaves close."""
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(la, lb):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape and x.dtype == y.dtype
    if np.issubdtype(x.dtype, np.floating) and not exact_floats:
      np.testing.assert_allclose(
          x.astype(np.float32), y.astype(np.float32), rtol=1e-6, atol=1e-6
      )
    else:
      np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def data():
  images = constant_images(B, (H, W, 3), jnp.float32)
  labels = jnp.arange(B, dtype=jnp.int32)
  return images, labels


@pytest.fixture(scope="module")
def jitted(data):
  """One jitted program with all six random functions, and its trace count."""
  traces = []

  def counted(*args):
    traces.append(1)  # a Python side effect: runs only while tracing
    return _random_fns(*args)

  # Compiling the samplers is most of this file's time; they are
  # compiled without LLVM's optimisations (the program's semantics, which is
  # what is compared with the eager calls, do not depend on them).
  fn = jax.jit(counted, compiler_options={"xla_backend_optimization_level": 0})
  images, labels = data
  outs = [
      fn(jax.random.key(seed), images, labels, *args)
      for seed, args in ((0, ARGS_1), (1, ARGS_2), (2, ARGS_3))
  ]
  return outs, traces


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_random_fn_jit_matches_eager(jitted, data, name):
  outs, _ = jitted
  images, labels = data
  for seed, args, out in zip((0, 1, 2), (ARGS_1, ARGS_2, ARGS_3), outs):
    # The jitted call traced alpha, prob and smoothing; the same key and the
    # same values as Python numbers or as arrays give the same draws.
    for values in (args, [jnp.asarray(v, jnp.float32) for v in args]):
      eager = RANDOM_FNS[name](jax.random.key(seed), images, labels, *values)
      _assert_same(out[name], eager)


def test_jit_does_not_retrace_for_new_alpha_prob_smoothing(jitted, data):
  outs, traces = jitted
  assert len(traces) == 1
  images, labels = data
  # ... and the traced values were used: prob=0 left everything unchanged,
  # label_smoothing=0.1 smoothed the labels.
  for name in ("cutmix", "mixup", "mixup_or_cutmix"):
    mixed, soft, params = outs[1][name]
    np.testing.assert_array_equal(mixed, images)
    np.testing.assert_allclose(soft, soft_reference(labels, K, 0.1), atol=1e-7)
    assert not np.asarray(params.applied).any()
  # prob=1 mixed every example that has another partner and a box.
  params = outs[0]["cutmix"][2]
  np.testing.assert_array_equal(
      params.applied,
      (params.partner != np.arange(B)) & (cutmix_jax.box_area(params.box) > 0),
  )
  # prob=0.5, alpha=2, smoothing 0.2: still an exact CutMix.
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


def test_cutmix_traced_prob_one_and_zero_same_program(data):
  """prob as a traced scalar: one compiled program serves both values."""
  images, labels = data
  traces = []

  def step(rng, images, labels, prob):
    traces.append(1)
    return cutmix_jax.cutmix(
        rng,
        images,
        labels,
        num_classes=K,
        mode="batch",
        box_size=8,
        prob=prob,
        return_params=True,
    )

  fn = jax.jit(step)
  key = jax.random.key(3)
  _, _, on = fn(key, images, labels, jnp.float32(1.0))
  off_images, off_labels, off = fn(key, images, labels, jnp.float32(0.0))
  assert len(traces) == 1
  np.testing.assert_array_equal(on.applied, on.partner != np.arange(B))
  assert not np.asarray(off.applied).any()
  np.testing.assert_array_equal(off_images, images)
  np.testing.assert_allclose(off_labels, soft_reference(labels, K), atol=0)


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_random_fn_vmap_matches_loop(data, name):
  images, labels = data
  keys = jax.random.split(jax.random.key(42), N)
  xs = jnp.stack([images * (n + 1) for n in range(N)])
  ys = jnp.stack([(labels + n) % K for n in range(N)])

  def one(rng, x, y):
    return RANDOM_FNS[name](rng, x, y, *ARGS_1)

  batched = jax.vmap(one)(keys, xs, ys)
  looped = [one(keys[n], xs[n], ys[n]) for n in range(N)]
  _assert_same(batched, jax.tree.map(lambda *v: jnp.stack(v), *looped))


# ---------------------------------------------------- the deterministic core


def _stack(trees):
  return jax.tree.map(lambda *v: jnp.stack(v), *trees)


@pytest.fixture(scope="module")
def core_inputs():
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(N, B, H, W, 2)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, K, (N, B)), jnp.int32)
  params = _stack(
      [
          cutmix_jax.sample_mixup_or_cutmix_params(
              jax.random.key(n), B, (H, W), mode="elem"
          )
          for n in range(N)
      ]
  )
  lam = jnp.asarray(rng.random((N, B)), jnp.float32)
  center = jnp.asarray(rng.integers(0, (H, W), (N, B, 2)), jnp.int32)
  sides = jnp.asarray(rng.integers(0, (H + 1, W + 1), (N, B, 2)), jnp.int32)
  return dict(
      images=images,
      labels=labels,
      params=params,
      lam=lam,
      center=center,
      sides=sides,
      box=params.box,
  )


CORE_CASES = {
    "box_from_center": (
        lambda c, s: cutmix_jax.box_from_center(c, s, (H, W)),
        ("center", "sides"),
    ),
    "box_from_lambda": (
        lambda lam, c: cutmix_jax.box_from_lambda(lam, c, (H, W)),
        ("lam", "center"),
    ),
    "box_area": (cutmix_jax.box_area, ("box",)),
    "pasted_fraction": (
        lambda b: cutmix_jax.pasted_fraction(b, (H, W)),
        ("box",),
    ),
    "rescale_boxes": (
        lambda b: cutmix_jax.rescale_boxes(b, (H, W), (8, 6)),
        ("box",),
    ),
    "box_mask": (lambda b: cutmix_jax.box_mask(b, (H, W)), ("box",)),
    "cut_and_paste": (cutmix_jax.cut_and_paste, ("images", "params")),
    "cut_and_paste_nchw": (
        lambda x, p: cutmix_jax.cut_and_paste(
            x.transpose(0, 3, 1, 2), p, spatial_axes=(2, 3)
        ),
        ("images", "params"),
    ),
    "blend": (cutmix_jax.blend, ("images", "params")),
    "mix_images": (cutmix_jax.mix_images, ("images", "params")),
    "mix_labels": (
        lambda y, p: cutmix_jax.mix_labels(
            y, p, num_classes=K, label_smoothing=0.1
        ),
        ("labels", "params"),
    ),
    "soft_labels": (
        lambda y: cutmix_jax.soft_labels(y, K, label_smoothing=0.1),
        ("labels",),
    ),
    "label_weights": (
        lambda p: cutmix_jax.label_weights(p, (H, W), label_mode="larger_area"),
        ("params",),
    ),
}


@pytest.mark.parametrize("name", sorted(CORE_CASES))
def test_core_fn_eager_jit_vmap(core_inputs, name):
  fn, arg_names = CORE_CASES[name]
  batched_args = [core_inputs[a] for a in arg_names]
  per_n = [
      [jax.tree.map(lambda v: v[n], a) for a in batched_args] for n in range(N)
  ]
  eager = [fn(*args) for args in per_n]
  jitted = jax.jit(fn)
  for args, expected in zip(per_n, eager):
    _assert_same(jitted(*args), expected)
  _assert_same(jax.vmap(fn)(*batched_args), _stack(eager))


def test_core_fn_results_are_consistent(core_inputs):
  """Cross-checks between core functions (eager), example by example."""
  params = jax.tree.map(lambda v: v[0], core_inputs["params"])
  images = core_inputs["images"][0]
  mask = cutmix_jax.box_mask(params.box, (H, W))
  np.testing.assert_array_equal(
      mask.sum((1, 2)), cutmix_jax.box_area(params.box)
  )
  pasted = cutmix_jax.cut_and_paste(images, params)
  np.testing.assert_array_equal(
      pasted, jnp.where(mask[..., None], images[params.partner], images)
  )
  for i in range(B):
    np.testing.assert_array_equal(mask[i], rect_mask(params.box[i], H, W))


# ------------------------------------------------------------------ grads


def test_grad_through_cutmix_scatters_back_to_source_pixels():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.normal(size=(B, H, W, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(B, H, W, 3)), jnp.float32)
  labels = jnp.arange(B)

  def loss(images):
    out, _, params = cutmix_jax.cutmix(
        jax.random.key(5),
        images,
        labels,
        num_classes=K,
        mode="elem",
        return_params=True,
    )
    return jnp.sum(out * w), params

  grad, params = jax.grad(loss, has_aux=True)(x)
  box, partner = np.asarray(params.box), np.asarray(params.partner)
  assert np.asarray(params.applied).sum() >= 3
  mask = np.stack([rect_mask(b, H, W) for b in box])[..., None]
  w = np.asarray(w)
  expected = np.where(mask, 0.0, w)  # own pixels kept
  np.add.at(expected, partner, np.where(mask, w, 0.0))  # pasted: to partner
  np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-6)


def test_grad_through_mixup_and_float_labels():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.normal(size=(B, 6, 5, 2)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(B, 6, 5, 2)), jnp.float32)
  soft = jax.nn.one_hot(jnp.arange(B), K)
  v = jnp.asarray(rng.normal(size=(B, K)), jnp.float32)

  def loss(images, labels):
    out, mixed, params = cutmix_jax.mixup(
        jax.random.key(6), images, labels, 0.4, mode="elem", return_params=True
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
