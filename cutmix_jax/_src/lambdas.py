"""``lam ~ Beta(alpha, alpha)`` for any alpha, bounded and in ``[0, 1]``.

A known alpha has been checked (finite, > 0) before it arrives here. A
traced one has not, so its value decides at run time: 0, negative or NaN
gives lambda 1 (nothing mixed), a value below float32's smallest normal
number is drawn as that number (lambda is 0 or 1, each with probability
1/2), and ``inf`` gives 0.5. ``alpha == 1`` (the paper's) draws a
Uniform(0, 1), which is exactly Beta(1, 1), whatever type holds the 1.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cutmix_jax._src import validation

_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)
_LARGEST = float(np.finfo(np.float32).max)
_SMALLEST_NORMAL_BITS = int(np.float32(_SMALLEST_NORMAL).view(np.int32))
_INF_BITS = int(np.float32(np.inf).view(np.int32))


def sample_lambda(
    rng: jax.Array, alpha, shape: Sequence[int] = ()
) -> jax.Array:
  """``lam ~ Beta(alpha, alpha)``, ``float32[shape]``, for a checked ``alpha``.

  ``alpha`` is a Python float (already checked) or a traced scalar; see the
  module docs for what a traced value outside ``(0, inf)`` gives.
  """
  shape = tuple(shape)
  if not validation.is_traced(alpha):
    if alpha == 1:
      return jax.random.uniform(rng, shape)
    a = jnp.float32(max(alpha, _SMALLEST_NORMAL))
    return jax.random.beta(rng, a, a, shape)
  a = jnp.asarray(alpha, jnp.float32)
  # Read the sign and range from the bits: XLA on CPU flushes subnormal
  # floats to zero in comparisons, and a subnormal alpha is a valid one.
  bits = jax.lax.bitcast_convert_type(a, jnp.int32)
  on = (bits > 0) & (bits <= _INF_BITS)  # positive, subnormals too; not NaN
  safe = jnp.where(
      bits < _SMALLEST_NORMAL_BITS,
      _SMALLEST_NORMAL,
      jnp.where(bits >= _INF_BITS, _LARGEST, a),
  )
  lam = jnp.where(
      a == 1,
      jax.random.uniform(rng, shape),
      jax.random.beta(rng, safe, safe, shape),
  )
  return jnp.where(on, lam, 1.0)
