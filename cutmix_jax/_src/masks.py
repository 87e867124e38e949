"""Box masks from iota comparisons: static shapes, no dynamic slicing."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import box_options


def broadcast_box_mask(
    box: jax.Array, ndim: int, axes: Sequence[int], size: Sequence[int]
) -> jax.Array:
  """A boolean mask of rank ``ndim`` that broadcasts against the batch.

  The batch sits on axis 0 and cut axis ``axes[i]`` (of size ``size[i]``)
  keeps its size; every other axis has size 1, so the mask is never
  materialised at the full array size: XLA fuses the comparisons into the
  select that uses it.
  """
  k = len(axes)
  batch_shape = (box.shape[0],) + (1,) * (ndim - 1)
  inside = jnp.ones(batch_shape, bool)
  for i, (axis, n) in enumerate(zip(axes, size)):
    shape = [1] * ndim
    shape[axis] = n
    index = jax.lax.broadcasted_iota(jnp.int32, shape, axis)
    start = box[:, i].reshape(batch_shape)
    end = box[:, k + i].reshape(batch_shape)
    inside = inside & (index >= start) & (index < end)
  return inside


def box_mask(box: ArrayLike, size: Sequence[int]) -> jax.Array:
  """The elements inside each box, as ``bool[B, *size]``.

  Args:
    box: ``int[B, 2k]`` boxes (``k`` starts, then ``k`` ends); for an image,
      ``(y0, x0, y1, x1)`` covers rows ``[y0, y1)`` and columns ``[x0, x1)``.
    size: ``(n_1, ..., n_k)`` (static).

  Returns:
    ``bool[B, n_1, ..., n_k]``.

  Raises:
    ValueError, TypeError: for boxes that do not fit ``size``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.box_mask([[1, 0, 3, 2]], (4, 3)).astype(int)[0].tolist()
    [[0, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0]]
  """
  size = box_options.check_size(size)
  box = jnp.asarray(box)
  if not jnp.issubdtype(box.dtype, jnp.integer):
    raise TypeError(f"box: expected integer bounds, got {box.dtype}.")
  if box.ndim != 2 or box.shape[-1] != 2 * len(size):
    raise ValueError(
        f"box: expected shape (batch, {2 * len(size)}) for {len(size)} cut "
        f"axes, got {box.shape}."
    )
  axes = tuple(range(1, len(size) + 1))
  return broadcast_box_mask(box.astype(jnp.int32), len(size) + 1, axes, size)
