"""`one_of` and `mixup_or_cutmix`: choices, their frequencies and results.

Each property is written once in a base class and run eagerly, under
`jax.jit` and under `jax.vmap` (`conftest.VARIANTS`). The methods are chosen
with their probabilities (chi-square), per batch, example or pair, and each
example gets its choice's result, read back against references that do not
look at how the library computes (`numpy_resize` for ResizeMix's values).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from conftest import bits
from conftest import EAGER
from conftest import JIT
from conftest import rect_mask
from conftest import soft_reference
from conftest import VMAP
import cutmix_jax
from numpy_resize import random_images
from numpy_resize import resize_reference

K = 10
P_MIN = 1e-3  # p-value threshold of the distribution tests (fixed seeds)


def _labels(batch):
  return jnp.arange(batch, dtype=jnp.int32) % K


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
