"""Who lends pixels to whom: random permutations and random pairings."""

import jax
import jax.numpy as jnp


def random_partners(rng: jax.Array, batch_size: int) -> jax.Array:
  """A uniformly random permutation of the batch, as the paper's ``randperm``.

  Example ``i`` takes its pasted region and its second label from example
  ``partner[i]``. A permutation can have fixed points; those examples are
  their own partner and stay unchanged.

  Returns:
    ``int32[batch_size]``.
  """
  return jax.random.permutation(rng, batch_size).astype(jnp.int32)


def random_pairs(rng: jax.Array, batch_size: int) -> jax.Array:
  """A random pairing of the batch: an involution, ``p[p[i]] == i``.

  The batch is shuffled and neighbours in the shuffled order are paired. With
  an odd batch the last example in that order pairs with itself.

  Returns:
    ``int32[batch_size]``.
  """
  order = random_partners(rng, batch_size)
  position = jnp.argsort(order).astype(jnp.int32)
  neighbour = position ^ 1
  neighbour = jnp.where(neighbour < batch_size, neighbour, position)
  return order[neighbour]


def pair_representative(partner: jax.Array) -> jax.Array:
  """For a pairing, the smaller index of each pair, so both share one draw."""
  return jnp.minimum(jnp.arange(partner.shape[0], dtype=jnp.int32), partner)
