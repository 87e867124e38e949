"""Who lends pixels to whom: random permutations and random pairings."""

import jax
import jax.numpy as jnp

from cutmix_jax._src import random_bits


def partners_from_words(words: jax.Array) -> jax.Array:
  """A uniformly random permutation of the batch, as the paper's ``randperm``.

  Example ``i`` takes its pasted region and its second label from example
  ``partner[i]``. A permutation can have fixed points; those examples are
  their own partner and stay unchanged.

  Args:
    words: ``uint32[k, B]`` random words, ``k = random_bits.permutation_words(B)``.

  Returns:
    ``int32[B]``.
  """
  return random_bits.permutation(words)


def pairs_from_words(words: jax.Array) -> jax.Array:
  """A random pairing of the batch: an involution, ``p[p[i]] == i``.

  The batch is shuffled and neighbours in the shuffled order are paired. With
  an odd batch the last example in that order pairs with itself.

  Args:
    words: ``uint32[k, B]`` random words, as for `partners_from_words`.

  Returns:
    ``int32[B]``.
  """
  order = random_bits.permutation(words)
  size = order.shape[0]
  index = jnp.arange(size, dtype=jnp.int32)
  # The inverse permutation by a scatter, where a second sort would cost more.
  position = jnp.zeros(size, jnp.int32).at[order].set(index, unique_indices=True)
  neighbour = position ^ 1
  neighbour = jnp.where(neighbour < size, neighbour, position)
  return order[neighbour]


def pair_representative(partner: jax.Array) -> jax.Array:
  """For a pairing, the smaller index of each pair, so both share one draw."""
  return jnp.minimum(jnp.arange(partner.shape[0], dtype=jnp.int32), partner)
