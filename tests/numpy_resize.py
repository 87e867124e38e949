"""``jax.image.resize`` transcribed in NumPy, and random images it changes.

The references of ResizeMix's pasted values (`test_resizemix`, `test_one_of`):
in NumPy, so that each box's shape costs no compile;
`test_resizemix.test_resize_reference_is_jax_image_resize` holds them to JAX.
"""

import jax.numpy as jnp
import numpy as np


def random_images(shape, dtype, seed=0):
  """Random values that a resize changes: floats in [0, 1), integers, bools."""
  rng = np.random.default_rng(seed)
  if dtype == jnp.bool_:
    return jnp.asarray(rng.random(shape) < 0.5)
  if jnp.issubdtype(dtype, jnp.integer):
    return jnp.asarray(rng.integers(0, 256, shape), dtype)
  return jnp.asarray(rng.random(shape), dtype)


def as_float(x):
  return np.asarray(jnp.asarray(x).astype(jnp.float32), np.float64)


def _linear_weights(m, n):
  """float64[m, n]: ``jax.image.resize``'s "linear" weights from m cells to n.

  A NumPy transcription of ``jax._src.image.scale.compute_weight_mat`` (the
  triangle kernel, widened by ``m / n`` when shrinking: antialiased),
  normalised by column, zero where the sample falls outside the input.
  """
  inv_scale = m / n
  sample = (np.arange(n) + 0.5) * inv_scale - 0.5
  distance = np.abs(sample[None, :] - np.arange(m)[:, None])
  weights = np.maximum(0.0, 1.0 - distance / max(inv_scale, 1.0))
  total = weights.sum(axis=0, keepdims=True)
  weights = np.where(
      np.abs(total) > 1000.0 * np.finfo(np.float32).eps,
      weights / np.where(total != 0, total, 1),
      0.0,
  )
  inside = (sample >= -0.5) & (sample <= m - 0.5)
  return np.where(inside[None, :], weights, 0.0)


def _nearest_indices(m, n):
  """``jax.image.resize``'s "nearest" sources, ``floor((j + 0.5) m / n)`` in float32."""
  j = np.arange(n, dtype=np.float32) + np.float32(0.5)
  return np.floor(j * np.float32(m) / np.float32(n)).astype(np.int32)


def resize_reference(example, box, axes, method):
  """``jax.image.resize`` of one example to its box's sides on the cut axes.

  In float64 for "linear".
  """
  k = len(axes)
  sides = [int(e - s) for s, e in zip(box[:k], box[k:])]
  if method == "nearest":
    out = np.asarray(example)
    for axis, side in zip(axes, sides):
      out = np.take(out, _nearest_indices(out.shape[axis - 1], side), axis - 1)
    return out
  out = as_float(example)
  for axis, side in zip(axes, sides):
    dim = axis - 1
    if out.shape[dim] != side:  # jax.image.resize skips the equal sizes
      out = np.moveaxis(
          np.tensordot(
              out, _linear_weights(out.shape[dim], side), axes=([dim], [0])
          ),
          -1,
          dim,
      )
  return out
