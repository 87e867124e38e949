"""Box masks from iota comparisons: static shapes, no dynamic slicing."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def broadcast_box_mask(box: ArrayLike, ndim: int, height: int, width: int,
                       h_axis: int, w_axis: int) -> jax.Array:
  """A boolean mask of rank ``ndim`` that broadcasts against the batch.

  The batch sits on axis 0, rows on ``h_axis``, columns on ``w_axis`` and
  every other axis has size 1, so the mask is never materialised at the full
  array size: XLA fuses the comparisons into the select.
  """
  box = jnp.asarray(box, jnp.int32)
  batch = box.shape[0]

  def along(axis, size):
    shape = [1] * ndim
    shape[axis] = size
    return jax.lax.broadcasted_iota(jnp.int32, shape, axis)

  def bound(column):
    return box[:, column].reshape((batch,) + (1,) * (ndim - 1))

  rows, cols = along(h_axis, height), along(w_axis, width)
  inside_rows = (rows >= bound(0)) & (rows < bound(2))
  inside_cols = (cols >= bound(1)) & (cols < bound(3))
  return inside_rows & inside_cols


def box_mask(box: ArrayLike, height: int, width: int) -> jax.Array:
  """The pixels inside each box, as ``bool[B, H, W]``.

  Args:
    box: ``int[B, 4]`` boxes ``(y0, x0, y1, x1)``; rows ``[y0, y1)`` and
      columns ``[x0, x1)`` are inside.
    height: ``H`` (static).
    width: ``W`` (static).

  Returns:
    ``bool[B, H, W]``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.box_mask([[1, 0, 3, 2]], 4, 3).astype(int)[0].tolist()
    [[0, 0, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0]]
  """
  box = jnp.asarray(box, jnp.int32)
  if box.ndim != 2 or box.shape[-1] != 4:
    raise ValueError(f"box: expected shape (batch, 4), got {box.shape}.")
  return broadcast_box_mask(box, 3, height, width, 1, 2)
