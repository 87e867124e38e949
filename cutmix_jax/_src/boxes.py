"""Box geometry (the paper's `rand_bbox`, exactly) and box sampling.

The deterministic functions turn a lambda and a centre into integer bounds;
the sampling functions draw the lambda, the centre or the side lengths. All
bounds are ``int32`` and the label weight is always computed from the same
clipped integers that build the mask, so the two can never disagree.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import random_bits


def box_from_center(center_y: ArrayLike, center_x: ArrayLike,
                    cut_height: ArrayLike, cut_width: ArrayLike,
                    height: int, width: int) -> jax.Array:
  """Clips a box of the given sides around a centre, as the paper does.

  ``y0 = clip(cy - cut_h // 2, 0, H)`` and ``y1 = clip(cy + cut_h // 2, 0, H)``,
  the same for x. A box that sticks out of the image is clipped, so it can be
  smaller than ``cut_h x cut_w``; an odd side loses one pixel to the floor
  division, as in the reference code.

  Args:
    center_y: int, any shape ``S``: the centre row, in ``[0, H)``.
    center_x: int, shape ``S``: the centre column, in ``[0, W)``.
    cut_height: int, shape ``S``: the unclipped box height.
    cut_width: int, shape ``S``: the unclipped box width.
    height: ``H``, the image height (static).
    width: ``W``, the image width (static).

  Returns:
    ``int32[*S, 4]`` boxes ``(y0, x0, y1, x1)``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.box_from_center(1, 30, 8, 8, 32, 32).tolist()
    [0, 26, 5, 32]
  """
  cy = jnp.asarray(center_y, jnp.int32)
  cx = jnp.asarray(center_x, jnp.int32)
  half_h = jnp.asarray(cut_height, jnp.int32) // 2
  half_w = jnp.asarray(cut_width, jnp.int32) // 2
  y0 = jnp.clip(cy - half_h, 0, height)
  y1 = jnp.clip(cy + half_h, 0, height)
  x0 = jnp.clip(cx - half_w, 0, width)
  x1 = jnp.clip(cx + half_w, 0, width)
  return jnp.stack(jnp.broadcast_arrays(y0, x0, y1, x1), axis=-1)


def cut_sides(lam: ArrayLike, height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """The paper's unclipped box sides for a lambda: ``floor(side * sqrt(1 - lam))``.

  Args:
    lam: float, any shape ``S``: the Beta draw, in ``[0, 1]``.
    height: ``H`` (static).
    width: ``W`` (static).

  Returns:
    ``(cut_h, cut_w)``, each ``int32[*S]``.
  """
  ratio = jnp.sqrt(1.0 - jnp.asarray(lam, jnp.float32))
  cut_h = jnp.floor(height * ratio).astype(jnp.int32)
  cut_w = jnp.floor(width * ratio).astype(jnp.int32)
  return cut_h, cut_w


def box_from_lambda(lam: ArrayLike, center_y: ArrayLike, center_x: ArrayLike,
                    height: int, width: int) -> jax.Array:
  """The paper's ``rand_bbox`` for a given lambda and centre (no randomness).

  Args:
    lam: float, shape ``S``: the Beta draw.
    center_y: int, shape ``S``: the centre row.
    center_x: int, shape ``S``: the centre column.
    height: ``H`` (static).
    width: ``W`` (static).

  Returns:
    ``int32[*S, 4]`` boxes ``(y0, x0, y1, x1)``.

  Examples:
    >>> import cutmix_jax
    >>> # lam = 0.75 cuts a 16x16 box (a quarter of a 32x32 image).
    >>> cutmix_jax.box_from_lambda(0.75, 16, 16, 32, 32).tolist()
    [8, 8, 24, 24]
  """
  cut_h, cut_w = cut_sides(lam, height, width)
  return box_from_center(center_y, center_x, cut_h, cut_w, height, width)


def box_area(box: ArrayLike) -> jax.Array:
  """The number of pixels inside ``int[..., 4]`` boxes, as ``int32[...]``."""
  box = jnp.asarray(box, jnp.int32)
  rows = jnp.maximum(box[..., 2] - box[..., 0], 0)
  cols = jnp.maximum(box[..., 3] - box[..., 1], 0)
  return rows * cols


def pasted_fraction(box: ArrayLike, height: int, width: int) -> jax.Array:
  """The fraction of an ``H x W`` image covered by each box, ``float32[...]``.

  CutMix's label weight of the example's own class is ``1 - pasted_fraction``.

  Examples:
    >>> import cutmix_jax
    >>> float(cutmix_jax.pasted_fraction([8, 8, 24, 24], 32, 32))
    0.25
  """
  return box_area(box).astype(jnp.float32) / jnp.float32(height * width)


def is_one(alpha) -> bool:
  """Whether ``alpha`` is the Python number 1 (``Beta(1, 1)`` is ``Uniform(0, 1)``)."""
  return (isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
          and alpha == 1)


def lambda_from_words(words: jax.Array) -> jax.Array:
  """``lam ~ Beta(1, 1)``, which is exactly ``Uniform(0, 1)``, from ``uint32`` words.

  The paper's setting (``alpha = 1``) takes this path when ``alpha`` is a
  Python number: one word per draw and no rejection loop, where the Beta
  sampler (`random_bits.symmetric_beta`) draws two Gammas by rejection.
  """
  return random_bits.uniform(words)


def sample_beta_lambda(rng: jax.Array, alpha: ArrayLike, shape=()) -> jax.Array:
  """``lam ~ Beta(alpha, alpha)`` as ``float32[shape]``, for any (traced) ``alpha``."""
  return random_bits.symmetric_beta(rng, alpha, shape)


def centers_from_words(words_y: jax.Array, words_x: jax.Array, height: int,
                       width: int) -> tuple[jax.Array, jax.Array]:
  """The paper's uniform centres ``cy ~ U{0..H-1}``, ``cx ~ U{0..W-1}``.

  Args:
    words_y: ``uint32[*S]`` random words for the rows.
    words_x: ``uint32[*S]`` random words for the columns.
    height: ``H`` (static).
    width: ``W`` (static).

  Returns:
    ``(center_y, center_x)``, each ``int32[*S]``.
  """
  return random_bits.below(words_y, height), random_bits.below(words_x, width)


def sample_gaussian_centers(rng: jax.Array, height: int, width: int, shape,
                            center_std: ArrayLike) -> tuple[jax.Array, jax.Array]:
  """The paper's "center Gaussian" ablation: centres around the image middle.

  ``cy = floor(H * (0.5 + std * z))`` with ``z ~ N(0, 1)``, clipped to the
  image; the same for ``cx``. ``center_std`` is in units of the image side.

  Returns:
    ``(center_y, center_x)``, each ``int32[*shape]``.
  """
  std = jnp.asarray(center_std, jnp.float32)
  z = jax.random.normal(rng, (2,) + tuple(shape), jnp.float32)

  def place(z, side):
    return jnp.clip(jnp.floor(side * (0.5 + std * z)), 0, side - 1).astype(jnp.int32)

  return place(z[0], height), place(z[1], width)


def minmax_boxes_from_words(words: jax.Array, height: int, width: int,
                            minmax: tuple[float, float]) -> jax.Array:
  """timm's ``cutmix_minmax`` boxes: side ratios uniform in ``[lo, hi)``.

  Each side is drawn uniformly from ``[int(lo * side), int(hi * side))``
  and the box is placed fully inside the image (every position equally
  likely), so no clipping happens.

  Args:
    words: ``uint32[4, *S]`` random words.
    height: ``H`` (static).
    width: ``W`` (static).
    minmax: ``(lo, hi)``, already validated.

  Returns:
    ``int32[*S, 4]`` boxes ``(y0, x0, y1, x1)``.
  """
  lo, hi = minmax
  min_h, min_w = int(height * lo), int(width * lo)
  cut_h = min_h + random_bits.below(words[0], int(height * hi) - min_h)
  cut_w = min_w + random_bits.below(words[1], int(width * hi) - min_w)
  y0 = random_bits.below(words[2], height - cut_h + 1)
  x0 = random_bits.below(words[3], width - cut_w + 1)
  return jnp.stack([y0, x0, y0 + cut_h, x0 + cut_w], axis=-1)


def rescale_boxes(box: ArrayLike, source_size: tuple[int, int],
                  target_size: tuple[int, int]) -> jax.Array:
  """Maps boxes from one resolution to another (for feature-level CutMix).

  Each bound is scaled and rounded to the nearest integer, so a box keeps
  its relative place; the pasted fraction at the target resolution can
  differ slightly from the source one (recompute it with `pasted_fraction`).

  Args:
    box: ``int[..., 4]`` boxes at ``source_size``.
    source_size: ``(H, W)`` the boxes were drawn for.
    target_size: ``(h, w)`` of the feature map.

  Returns:
    ``int32[..., 4]`` boxes at ``target_size``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.rescale_boxes([8, 8, 24, 24], (32, 32), (8, 8)).tolist()
    [2, 2, 6, 6]
  """
  box = jnp.asarray(box, jnp.int32)
  (src_h, src_w), (dst_h, dst_w) = source_size, target_size
  scale = jnp.array([dst_h / src_h, dst_w / src_w, dst_h / src_h, dst_w / src_w],
                    jnp.float32)
  limit = jnp.array([dst_h, dst_w, dst_h, dst_w], jnp.int32)
  scaled = jnp.round(box.astype(jnp.float32) * scale).astype(jnp.int32)
  return jnp.clip(scaled, 0, limit)
