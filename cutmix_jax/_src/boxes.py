"""Box geometry: ``int32[..., 2k]`` boxes (starts, ends), always clipped."""

from collections.abc import Sequence
import math

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import arguments


def per_axis(values, shape, dtype=jnp.int32) -> jax.Array:
  """Values of the cut axes, ``(k,)`` or ``(2k,)``, broadcast to ``shape``
  explicitly: a user may set JAX to refuse implicit rank promotion."""
  return jnp.broadcast_to(jnp.asarray(values, dtype), shape)


def box_from_center(center, cut_size, size: Sequence[int]) -> jax.Array:
  """The paper's box ``[c - cut // 2, c + cut // 2)``, clipped to ``size``."""
  center = jnp.asarray(center, jnp.int32)
  half = per_axis(cut_size, center.shape) // 2
  box = jnp.concatenate([center - half, center + half], -1)
  return jnp.clip(box, 0, per_axis(tuple(size) * 2, box.shape))


def cut_sides(lam: jax.Array, size: Sequence[int]) -> jax.Array:
  """The paper's sides ``floor(n_i (1 - lam)^(1/k))``, ``int32[..., k]``."""
  rest = 1.0 - jnp.asarray(lam, jnp.float32)
  ratio = (rest, jnp.sqrt(rest), jnp.cbrt(rest))[len(size) - 1]
  n = per_axis(size, (*ratio.shape, len(size)), jnp.float32)
  return jnp.floor(ratio[..., None] * n).astype(jnp.int32)


def fraction(box: jax.Array, size: Sequence[int]) -> jax.Array:
  """The clipped fraction of the cut axes each box covers, ``float32[...]``."""
  k = len(size)
  limit = per_axis(size, (*box.shape[:-1], k))
  sides = jnp.clip(box[..., k:], 0, limit) - jnp.clip(box[..., :k], 0, limit)
  area = jnp.prod(jnp.maximum(sides, 0), axis=-1, dtype=jnp.int32)
  # XLA turns a division by a scalar into a product by its reciprocal, one ulp
  # off; a divisor per box (equal to n, as area <= n) keeps the exact quotient.
  total = jnp.maximum(area, math.prod(size)).astype(jnp.float32)
  return area.astype(jnp.float32) / total


def pasted_fraction(box: ArrayLike, size: Sequence[int]) -> jax.Array:
  """The fraction of the cut axes covered by each box, clipped to ``size``.

  CutMix's weight of an example's own label is ``1 - pasted_fraction``.

  Args:
    box: ``int[..., 2k]`` boxes: the ``k`` starts, then the ``k`` ends.
    size: ``(n_1, ..., n_k)``, the sizes of the cut axes (static).

  Returns:
    ``float32[...]``, in ``[0, 1]``.

  Raises:
    TypeError, ValueError: for non-integer bounds, or not ``2 * len(size)``.

  Examples:
    >>> import cutmix_jax
    >>> float(cutmix_jax.pasted_fraction([8, 8, 24, 24], (32, 32)))
    0.25
    >>> float(cutmix_jax.pasted_fraction([0, 0, 100, 100], (4, 4)))
    1.0
  """
  sides = arguments.check("size", size)
  return fraction(arguments.check("box", box, rule="bounds", size=sides), sides)


def place(key: jax.Array, sides: jax.Array, size: Sequence[int]) -> jax.Array:
  """Boxes of ``sides`` fully inside ``size``, every position equally likely."""
  limit = per_axis(size, sides.shape) - sides + 1
  start = jax.random.randint(key, sides.shape, 0, limit, jnp.int32)
  return jnp.concatenate([start, start + sides], axis=-1)


def rescale(box: jax.Array, source: Sequence[int], target: Sequence[int]):
  """Maps boxes between resolutions, each bound rounded to the nearest integer."""
  ratios = [t / s for s, t in zip(source, target)] * 2
  scaled = box.astype(jnp.float32) * per_axis(ratios, box.shape, jnp.float32)
  scaled = jnp.round(scaled).astype(jnp.int32)
  return jnp.clip(scaled, 0, per_axis(tuple(target) * 2, box.shape))


def mask(
    box: jax.Array, ndim: int, axes: Sequence[int], size: Sequence[int]
) -> jax.Array:
  """Each example's box as a ``bool`` mask of rank ``ndim``, broadcastable."""
  # Only the batch and cut axes have their size: XLA fuses it into the select.
  k = len(axes)
  bounds = box.reshape((box.shape[0], 2 * k) + (1,) * (ndim - 1))
  inside = jnp.ones_like(bounds[:, 0], bool)
  for i, (axis, n) in enumerate(zip(axes, size)):
    shape = [n if a == axis else 1 for a in range(ndim)]
    index = jax.lax.broadcasted_iota(jnp.int32, shape, axis)
    inside = inside & (index >= bounds[:, i]) & (index < bounds[:, k + i])
  return inside
