"""Draws made from raw ``uint32`` words: uniform floats, integers, permutations.

A CutMix call needs a handful of small draws: a coin, a lambda, a centre, a
partner permutation. Drawing each with its own `jax.random` call runs one
Threefry kernel per draw (``randint`` runs two and ``permutation`` splits its
key again; on CPU each is a rolled loop of small kernels). On a small batch
those kernels, not the pixels, were most of the call: on a 2-core CPU, for
256x32x32x3 uint8, 0.14 to 0.26 ms of parameter sampling against a 0.05 to
0.12 ms floor, and a 0.8 to 1.0 s first call. A sampler therefore draws all
its words with one `jax.random.bits` call and turns them into draws with the
integer arithmetic below, and sorts with one operand (see `permutation`):
0.04 ms (batch mode) and 0.35 to 0.45 s after. The laws are those of JAX's
own samplers (see each function).
"""

import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

# `below` multiplies 16-bit halves of a word by n in uint32 arithmetic.
MAX_BELOW = 1 << 16


def uniform(words: jax.Array) -> jax.Array:
  """``float32`` uniform on ``[0, 1)`` from ``uint32`` words, as `jax.random.uniform`.

  The top 23 bits of each word become the mantissa of a float in ``[1, 2)``,
  and 1 is subtracted: every multiple of ``2**-23`` in ``[0, 1)`` is equally
  likely.
  """
  mantissa = (words >> 9) | jnp.uint32(0x3F800000)
  return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0


def below(words: jax.Array, n: ArrayLike) -> jax.Array:
  """``int32`` integers in ``[0, n)`` from ``uint32`` words: ``floor(words * n / 2**32)``.

  Lemire's multiply-shift, computed exactly from 16-bit halves so it stays in
  ``uint32``. Each value has probability within ``n / 2**32`` of ``1 / n``
  (``5e-8`` for a 224-pixel side), like `jax.random.randint`'s own bias.

  Args:
    words: ``uint32[...]`` random words.
    n: int, broadcastable to ``words``: the exclusive bound, ``1 <= n <= 2**16``
      (callers check static bounds; traced ones are box sides, below that).

  Returns:
    ``int32[...]``.
  """
  n = jnp.asarray(n).astype(jnp.uint32)
  high = (words >> 16) * n
  low = (words & jnp.uint32(0xFFFF)) * n
  return ((high + (low >> 16)) >> 16).astype(jnp.int32)


def _index_bits(size: int) -> int:
  """Bits that hold an index in ``range(size)``: at least 1."""
  return max(1, (size - 1).bit_length())


def permutation_words(size: int) -> int:
  """How many words per element `permutation` needs (its sorting rounds).

  Each round sorts on ``32 - k`` random bits per element, ``k`` the bits of
  an index. Rounds are added until the random bits per element are at least
  those of `jax.random.permutation`'s keys (32 per round, its rounds rule), so
  ties, which fall back to index order, are no likelier than in JAX: for a
  batch of 256, two rounds (48 bits; any tie has probability below
  ``2**-32``) where JAX sorts once on 32 bits.
  """
  jax_rounds = max(1, math.ceil(3 * math.log(max(size, 1)) / math.log(2.0**32)))
  return math.ceil(32 * jax_rounds / (32 - _index_bits(size)))


def permutation(words: jax.Array) -> jax.Array:
  """A uniformly random permutation of ``range(B)``, by rounds of one-operand sorts.

  XLA:CPU sorts a lone ``uint32`` array far faster than a key with a payload
  (measured about 0.005 against 0.06 ms for 256 elements, on 2 cores), so
  each round packs a position into the low ``k`` bits of a random key, sorts
  the keys alone and reads the positions back. Rounds run from the last word
  to the first, each stable with respect to the order before it, like a
  least-significant-digit radix sort, so the result orders the elements by
  the high bits of ``(words[0], words[1], ...)``, ties by index.

  Args:
    words: ``uint32[r, B]``, ``r = permutation_words(B)``; ``words[t, e]`` is
      element ``e``'s key in round ``t``.

  Returns:
    ``int32[B]``: the elements in key order.
  """
  size = words.shape[-1]
  low = jnp.uint32((1 << _index_bits(size)) - 1)
  position = jnp.arange(size, dtype=jnp.uint32)
  order = jnp.arange(size, dtype=jnp.int32)
  for round_words in words[::-1]:
    keys = (round_words[order] & ~low) | position
    order = order[(jax.lax.sort(keys) & low).astype(jnp.int32)]
  return order


# Marsaglia-Tsang proposals per gamma draw in one round. For a shape >= 1
# each is accepted with probability >= 0.95, so a round of two leaves a draw
# unaccepted with probability <= 0.0025 and the loop below rarely runs.
_PROPOSALS = 2


def _normal(words: jax.Array) -> jax.Array:
  """Standard normals from ``uint32`` words, as `jax.random.normal` makes them."""
  u = 2.0 * uniform(words) - 1.0
  u = jnp.maximum(u, jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0)))
  return jnp.sqrt(jnp.float32(2.0)) * jax.lax.erf_inv(u)


def _propose_log_gamma(key: jax.Array, alpha: jax.Array, shape: tuple[int, ...]):
  """One round of log-Gamma(alpha) draws: ``(values, accepted)`` of ``shape``.

  Marsaglia and Tsang (2000) for ``Gamma(alpha + 1)``, then the boost
  ``Gamma(alpha) = Gamma(alpha + 1) * U ** (1 / alpha)``, all in log space so
  that small alphas (``U ** 5`` for alpha 0.2) do not underflow.
  """
  d = alpha + (1.0 - 1.0 / 3.0)
  c = jax.lax.rsqrt(9.0 * d)
  words = jax.random.bits(key, (2 * _PROPOSALS + 1,) + shape, jnp.uint32)
  x = _normal(words[:_PROPOSALS])
  log_u = jnp.log(uniform(words[_PROPOSALS:2 * _PROPOSALS]))
  v = (1.0 + c * x) ** 3
  log_v = jnp.log(jnp.where(v > 0, v, 1.0))
  accepted = (v > 0) & (log_u < 0.5 * x * x + d - d * v + d * log_v)
  first = jnp.argmax(accepted, axis=0)
  log_v = jnp.take_along_axis(log_v, first[None], axis=0)[0]
  # 1 - U lies in (0, 1], so its log is finite.
  log_boost = jnp.log(1.0 - uniform(words[2 * _PROPOSALS])) / alpha
  return jnp.log(d) + log_v + log_boost, jnp.any(accepted, axis=0)


def symmetric_beta(rng: jax.Array, alpha: ArrayLike, shape=()) -> jax.Array:
  """``Beta(alpha, alpha)`` draws as ``float32[shape]``, for a Python or traced ``alpha > 0``.

  ``X / (X + Y)`` for independent ``X, Y ~ Gamma(alpha)``, computed as
  ``sigmoid(log X - log Y)``. Every draw is a vectorised round of proposals;
  a `jax.lax.while_loop` redraws the rare ones that no proposal accepted, so
  the law is exact. `jax.random.beta` runs its Gamma sampler as a loop over
  the elements on CPU: 0.35 ms for 256 draws there against
  about 0.03 ms for this, and a compile about 1 s shorter.
  """
  alpha = jnp.asarray(alpha, jnp.float32)
  shape = (2,) + tuple(shape)
  first_key, retry_key = jax.random.split(rng)
  log_gamma, accepted = _propose_log_gamma(first_key, alpha, shape)

  def redraw(state):
    log_gamma, accepted, key = state
    key, round_key = jax.random.split(key)
    new_log_gamma, new_accepted = _propose_log_gamma(round_key, alpha, shape)
    return (jnp.where(accepted, log_gamma, new_log_gamma),
            accepted | new_accepted, key)

  log_gamma, _, _ = jax.lax.while_loop(
      lambda state: ~jnp.all(state[1]), redraw, (log_gamma, accepted, retry_key))
  return jax.nn.sigmoid(log_gamma[0] - log_gamma[1])
