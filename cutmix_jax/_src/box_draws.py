"""Drawing boxes by the configured rule, and checking the options that pick it.

The rules: the paper's (a side from ``lam ~ Beta(alpha, alpha)``, a uniform
centre, clipped), its two ablations (a Gaussian centre, a fixed size),
timm's ``minmax`` (uniform sides, placed fully inside) and any of them on a
ViT's patch grid. Boxes are ``int32[..., 2k]``: the ``k`` starts, then the
``k`` ends.
"""

import jax
import jax.numpy as jnp

from cutmix_jax._src import box_options
from cutmix_jax._src import boxes
from cutmix_jax._src import lambdas
from cutmix_jax._src import validation


def _gaussian_centers(rng, shape, size, center_std) -> jax.Array:
  """The paper's "center Gaussian" ablation: ``floor(n (0.5 + std z))``, clipped."""
  z = jax.random.normal(rng, tuple(shape) + (len(size),), jnp.float32)
  sides = jnp.asarray(size, jnp.float32)
  std = jnp.asarray(center_std, jnp.float32)
  center = jnp.floor(sides * (0.5 + std * z))
  return jnp.clip(center, 0, sides - 1).astype(jnp.int32)


def draw_boxes(
    rng, shape, size, *, alpha, minmax, center_std, box_size, patch_size=None
):
  """``int32[*shape, 2k]`` boxes drawn by the configured rule.

  With ``patch_size`` the rule runs on the patch grid (``size // patch``)
  and the box is scaled up by the patch, so its edges fall on patch
  boundaries.
  """
  if patch_size is not None:
    grid = tuple(n // p for n, p in zip(size, patch_size))
    box = draw_boxes(
        rng,
        shape,
        grid,
        alpha=alpha,
        minmax=minmax,
        center_std=center_std,
        box_size=box_size,
    )
    return box * jnp.asarray(tuple(patch_size) * 2, jnp.int32)
  side_key, place_key = jax.random.split(rng)
  k = len(size)
  limit = jnp.asarray(size, jnp.int32)
  if minmax is not None:
    # timm's cutmix_minmax: sides uniform in [int(lo n), int(hi n)), the box
    # placed fully inside (every position equally likely).
    lo = jnp.asarray([int(n * minmax[0]) for n in size], jnp.int32)
    hi = jnp.asarray([int(n * minmax[1]) for n in size], jnp.int32)
    sides = jax.random.randint(side_key, tuple(shape) + (k,), lo, hi)
    start = jax.random.randint(place_key, sides.shape, 0, limit - sides + 1)
    return jnp.concatenate([start, start + sides], axis=-1)
  if center_std is None:
    center = jax.random.randint(place_key, tuple(shape) + (k,), 0, limit)
  else:
    center = _gaussian_centers(place_key, shape, size, center_std)
  if box_size is not None:
    sides = jnp.asarray(box_size, jnp.int32)
  else:
    sides = boxes.cut_sides(lambdas.sample_lambda(side_key, alpha, shape), size)
  return boxes.box_from_center(center, sides, size)


def checked_box_options(size, alpha, minmax, center_std, box_size, patch_size):
  size = box_options.check_size(size)
  box_options.check_box_options(
      minmax=minmax,
      box_size=box_size,
      center_std=center_std,
      patch_size=patch_size,
  )
  patch_size = box_options.check_patch_size(patch_size, size)
  grid = (
      size
      if patch_size is None
      else tuple(n // p for n, p in zip(size, patch_size))
  )
  minmax = box_options.check_minmax(minmax, grid)
  box_size = box_options.check_box_size(box_size, size)
  center_std = validation.check_center_std(center_std)
  if minmax is None and box_size is None:
    alpha = validation.check_alpha(alpha)
  return size, dict(
      alpha=alpha,
      minmax=minmax,
      center_std=center_std,
      box_size=box_size,
      patch_size=patch_size,
  )
