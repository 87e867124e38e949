"""ResizeMix's paste: the whole partner, resized to the box, at static shapes.

Each box has its own size, known only at run time, so the partner is not
resized to a smaller array: it is resampled at the array's own size with a
per-example scale and translation (`jax.image.scale_and_translate`), which
puts the resized partner exactly where the box is; a select keeps it inside
the box. The values inside the box are those of ``jax.image.resize(partner,
box_shape, method)``.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from cutmix_jax._src import mixing


def _nearest(partners, start, side, axes, size) -> jax.Array:
  """Nearest-neighbour resampling, a pure gather (for masks and bools)."""
  out = partners
  for i, (axis, n) in enumerate(zip(axes, size)):
    position = jnp.arange(n, dtype=jnp.int32)[None, :] - start[:, i : i + 1]
    # jax.image.resize's own formula: floor((j + 0.5) * n / side), in float32.
    scaled = (position.astype(jnp.float32) + 0.5) * jnp.float32(n)
    source = jnp.floor(scaled / jnp.maximum(side[:, i : i + 1], 1))
    source = jnp.clip(source.astype(jnp.int32), 0, n - 1)
    shape = [1] * partners.ndim
    shape[0], shape[axis] = partners.shape[0], n
    out = jnp.take_along_axis(out, source.reshape(shape), axis=axis)
  return out


def _linear(partners, start, side, axes, size) -> jax.Array:
  """Bilinear resampling (antialiased when shrinking), cast back to the dtype."""
  dtype = partners.dtype
  compute = jnp.promote_types(dtype, jnp.float32)
  if not jnp.issubdtype(dtype, jnp.floating):
    compute = jnp.float32
  dims = tuple(a - 1 for a in axes)
  scale = side.astype(jnp.float32) / jnp.asarray(size, jnp.float32)

  def one(x, s, t):
    return jax.image.scale_and_translate(
        x.astype(compute), x.shape, dims, s, t.astype(jnp.float32), "linear"
    )

  out = jax.vmap(one)(partners, jnp.maximum(scale, 1e-6), start)
  return mixing.cast_to(out, dtype)


def resample(
    partners: jax.Array, box: jax.Array, axes: Sequence[int], size, method: str
) -> jax.Array:
  """Each row of ``partners`` resized into its box (``"linear"`` or ``"nearest"``)."""
  k = len(axes)
  start, side = box[:, :k], box[:, k:] - box[:, :k]
  resample = _nearest if method == "nearest" else _linear
  return resample(partners, start, side, axes, size)
