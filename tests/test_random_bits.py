"""The arithmetic that turns raw uint32 words into draws (a private module).

Its laws are checked in distribution by `test_distributions.py`; here the
arithmetic itself is checked exactly against numpy's 64-bit integers, on
words chosen to include the edges.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from cutmix_jax._src import random_bits

EDGE_WORDS = np.array([0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                       0xFFFF0000, 0xFFFFFFFE, 0xFFFFFFFF], np.uint64)


def _words(seed, n=4096):
  random = np.random.default_rng(seed).integers(0, 1 << 32, n, dtype=np.uint64)
  return np.concatenate([EDGE_WORDS, random])


@pytest.mark.parametrize("n", [1, 2, 3, 24, 32, 224, 1000, 65535, 65536])
def test_below_is_the_exact_multiply_shift(n):
  words = _words(n)
  expected = (words * np.uint64(n)) >> np.uint64(32)
  got = jax.jit(random_bits.below)(jnp.asarray(words, jnp.uint32), n)
  np.testing.assert_array_equal(np.asarray(got), expected.astype(np.int64))
  assert got.dtype == jnp.int32


def test_below_takes_a_bound_per_word():
  words = _words(7)
  bounds = 1 + np.arange(words.size) % 50
  expected = (words * bounds.astype(np.uint64)) >> np.uint64(32)
  got = random_bits.below(jnp.asarray(words, jnp.uint32), jnp.asarray(bounds))
  np.testing.assert_array_equal(np.asarray(got), expected.astype(np.int64))


def test_uniform_matches_jax_and_stays_below_one():
  words = _words(3)
  got = np.asarray(random_bits.uniform(jnp.asarray(words, jnp.uint32)))
  expected = (words >> np.uint64(9)).astype(np.float64) / 2.0**23
  np.testing.assert_array_equal(got, expected.astype(np.float32))
  assert got.min() == 0.0 and got.max() == 1.0 - 2.0**-23


def _key_order(words, size):
  """numpy's lexicographic order by the high bits of (words[0], words[1], ...), then index."""
  k = max(1, (size - 1).bit_length())
  high = np.asarray(words, np.uint64) >> np.uint64(k)
  return np.lexsort((np.arange(size),) + tuple(high[::-1]))


@pytest.mark.parametrize("size,rows", [(1, 2), (5, 2), (256, 2), (2000, 4)])
def test_permutation_orders_by_its_keys(size, rows):
  assert random_bits.permutation_words(size) == rows
  words = jax.random.bits(jax.random.key(size), (rows, size), jnp.uint32)
  perm = np.asarray(jax.jit(random_bits.permutation)(words))
  np.testing.assert_array_equal(np.sort(perm), np.arange(size))
  np.testing.assert_array_equal(perm, _key_order(words, size))


def test_permutation_has_at_least_jaxs_key_bits():
  for size in (2, 100, 256, 1625, 1626, 4096, 65535):
    k = max(1, (size - 1).bit_length())
    jax_rounds = 1 if size <= 1625 else 2
    assert random_bits.permutation_words(size) * (32 - k) >= 32 * jax_rounds


def test_permutation_breaks_ties_by_index():
  # Six elements use the low 3 bits for positions: keys that differ only
  # there tie. Round 0 decides first; its ties fall to round 1, then index.
  round0 = np.array([5, 5, 3, 5, 0, 0], np.uint32) << 3
  round1 = np.array([1, 0, 0, 1, 7, 7], np.uint32) << 3 | np.uint32(6)
  words = jnp.asarray(np.stack([round0, round1]))
  np.testing.assert_array_equal(np.asarray(random_bits.permutation(words)),
                                [4, 5, 2, 1, 0, 3])
  np.testing.assert_array_equal(_key_order(words, 6), [4, 5, 2, 1, 0, 3])


@pytest.mark.parametrize("alpha", [0.05, 0.2, 0.7, 1.0, 3.0])
def test_symmetric_beta_matches_jax_beta_in_law(alpha):
  # 2 x 100000 gamma draws: about 500 are not accepted in the first round at
  # alpha 0.05, so the redraw loop runs too. Compared with JAX's own float32
  # Beta (numpy's float64 one differs from both by its float32 rounding at
  # tiny alphas). alpha is traced: one compile serves every value.
  n = 100_000
  draw = jax.jit(random_bits.symmetric_beta, static_argnums=2)
  ours = np.asarray(draw(jax.random.key(0), jnp.float32(alpha), (n,)))
  theirs = np.asarray(jax.random.beta(jax.random.key(1), alpha, alpha, (n,)))
  assert np.all((ours >= 0) & (ours <= 1))
  assert stats.ks_2samp(ours, theirs).pvalue > 1e-3
  assert stats.ks_2samp(np.minimum(ours, 1 - ours),
                        np.minimum(theirs, 1 - theirs)).pvalue > 1e-3
  np.testing.assert_allclose(ours.var(), 1 / (4 * (2 * alpha + 1)), rtol=0.02)


def test_symmetric_beta_rejects_a_wrong_alpha_and_vmaps():
  n = 50_000
  ours = np.asarray(random_bits.symmetric_beta(jax.random.key(0), 0.4, (n,)))
  wrong = np.random.default_rng(0).beta(0.5, 0.5, n).astype(np.float32)
  assert stats.ks_2samp(ours, wrong).pvalue < 1e-6
  keys = jax.random.split(jax.random.key(1), 3)
  alphas = jnp.array([0.2, 1.0, 4.0])
  batched = jax.vmap(lambda k, a: random_bits.symmetric_beta(k, a, (n,)))(keys, alphas)
  variances = np.asarray(batched).var(axis=1)
  np.testing.assert_allclose(variances, 1 / (4 * (2 * np.asarray(alphas) + 1)), rtol=0.03)
