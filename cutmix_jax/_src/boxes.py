"""Box geometry: the paper's ``rand_bbox`` in integers, for 1 to 3 axes.

A box over ``k`` cut axes of sizes ``size = (n_1, ..., n_k)`` is stored as
``int32[..., 2k]``: the ``k`` starts, then the ``k`` ends, so a 2-D box is
``(y0, x0, y1, x1)`` and covers rows ``[y0, y1)`` and columns ``[x0, x1)``.
Every function here is deterministic; `sampling` draws their inputs. The label
weight is always computed from the same clipped integers that build the mask,
so the two can never disagree.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import box_options
from cutmix_jax._src import params as params_lib


def _num_axes(box: jax.Array, arg: str = "box") -> int:
  if box.ndim < 1 or box.shape[-1] not in (2, 4, 6):
    raise ValueError(
        f"{arg}: expected int[..., 2k] boxes (k starts, then k ends) for k in "
        f"1..3, got shape {box.shape}."
    )
  return box.shape[-1] // 2


def _as_box(box: ArrayLike, size: Sequence[int] | None = None) -> jax.Array:
  box = jnp.asarray(box)
  if not jnp.issubdtype(box.dtype, jnp.integer):
    raise TypeError(f"box: expected integer bounds, got {box.dtype}.")
  k = _num_axes(box)
  if size is not None and len(size) != k:
    raise ValueError(
        f"box: boxes over {k} axes (shape {box.shape}) do not fit the size "
        f"{tuple(size)} of {len(size)} axes."
    )
  return box.astype(jnp.int32)


def box_from_center(
    center: ArrayLike, cut_size: ArrayLike, size: Sequence[int]
) -> jax.Array:
  """Clips a box of the given sides around a centre, as the paper does.

  On each axis ``start = clip(c - cut // 2, 0, n)`` and
  ``end = clip(c + cut // 2, 0, n)``. A box that sticks out is clipped, so it
  can be smaller than ``cut_size``; an odd side loses one element to the
  floor division, as in the reference code.

  Args:
    center: ``int[..., k]``, the centre on each cut axis, in ``[0, n_i)``.
    cut_size: ``int[..., k]``, the unclipped sides (broadcast with
      ``center``).
    size: ``(n_1, ..., n_k)``, the sizes of the cut axes (static).

  Returns:
    ``int32[..., 2k]`` boxes: the ``k`` starts, then the ``k`` ends.

  Raises:
    ValueError: if ``center`` or ``cut_size`` has no axis of ``k`` entries.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.box_from_center([1, 30], [8, 8], (32, 32)).tolist()
    [0, 26, 5, 32]
  """
  size = box_options.check_size(size)
  limit = jnp.asarray(size, jnp.int32)
  center = jnp.asarray(center, jnp.int32)
  half = jnp.asarray(cut_size, jnp.int32) // 2
  for name, x in (("center", center), ("cut_size", half)):
    if x.ndim < 1 or x.shape[-1] != len(size):
      raise ValueError(
          f"{name}: expected a last axis of {len(size)} (one entry per cut "
          f"axis of size {size}), got shape {x.shape}."
      )
  center, half = jnp.broadcast_arrays(center, half)
  start = jnp.clip(center - half, 0, limit)
  end = jnp.clip(center + half, 0, limit)
  return jnp.concatenate([start, end], axis=-1)


def cut_sides(lam: ArrayLike, size: Sequence[int]) -> jax.Array:
  """The paper's unclipped sides for a lambda: ``floor(n_i (1 - lam)^(1/k))``.

  For two axes this is the paper's ``cut_rat = sqrt(1 - lam)``; for one axis
  the side is ``floor(n (1 - lam))``, for three the cube root. The unclipped
  box then covers a fraction of about ``1 - lam``.

  Args:
    lam: float, any shape ``S``: the Beta draw, in ``[0, 1]``.
    size: ``(n_1, ..., n_k)`` (static).

  Returns:
    ``int32[*S, k]``.
  """
  size = box_options.check_size(size)
  rest = 1.0 - jnp.asarray(lam, jnp.float32)
  ratio = (rest, jnp.sqrt(rest), jnp.cbrt(rest))[len(size) - 1]
  sides = jnp.floor(ratio[..., None] * jnp.asarray(size, jnp.float32))
  return sides.astype(jnp.int32)


def box_from_lambda(
    lam: ArrayLike, center: ArrayLike, size: Sequence[int]
) -> jax.Array:
  """The paper's ``rand_bbox`` for a given lambda and centre (no randomness).

  Args:
    lam: float, shape ``S``: the Beta draw.
    center: ``int[*S, k]``: the centre on each cut axis.
    size: ``(n_1, ..., n_k)`` (static).

  Returns:
    ``int32[*S, 2k]`` boxes.

  Examples:
    >>> import cutmix_jax
    >>> # lam = 0.75 cuts a 16x16 box (a quarter of a 32x32 image).
    >>> cutmix_jax.box_from_lambda(0.75, [16, 16], (32, 32)).tolist()
    [8, 8, 24, 24]
  """
  return box_from_center(center, cut_sides(lam, size), size)


def box_area(box: ArrayLike) -> jax.Array:
  """The number of elements inside ``int[..., 2k]`` boxes, as ``int32[...]``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.box_area([[8, 8, 24, 24], [3, 0, 3, 9]]).tolist()
    [256, 0]
  """
  box = _as_box(box)
  k = box.shape[-1] // 2
  extent = jnp.maximum(box[..., k:] - box[..., :k], 0)
  return jnp.prod(extent, axis=-1, dtype=jnp.int32)


def pasted_fraction(box: ArrayLike, size: Sequence[int]) -> jax.Array:
  """The fraction of the cut axes covered by each box, ``float32[...]``.

  CutMix's label weight of the example's own class is
  ``1 - pasted_fraction``.

  Args:
    box: ``int[..., 2k]`` boxes.
    size: ``(n_1, ..., n_k)``, the sizes of the cut axes.

  Returns:
    ``float32[...]``.

  Examples:
    >>> import cutmix_jax
    >>> float(cutmix_jax.pasted_fraction([8, 8, 24, 24], (32, 32)))
    0.25
  """
  size = box_options.check_size(size)
  area = box_area(_as_box(box, size))
  total = 1
  for n in size:
    total *= n
  return area.astype(jnp.float32) / jnp.float32(total)


def rescale_boxes(
    box: ArrayLike, source_size: Sequence[int], target_size: Sequence[int]
) -> jax.Array:
  """Maps boxes from one resolution to another (for feature-level CutMix).

  Each bound is scaled and rounded to the nearest integer, so a box keeps
  its relative place; the pasted fraction at the target resolution can
  differ slightly from the source one (recompute it with `pasted_fraction`;
  `cutmix` with ``input_size`` does).

  Args:
    box: ``int[..., 2k]`` boxes at ``source_size``.
    source_size: ``(n_1, ..., n_k)`` the boxes were drawn for.
    target_size: ``(m_1, ..., m_k)`` of the array they are applied to.

  Returns:
    ``int32[..., 2k]`` boxes at ``target_size``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.rescale_boxes([8, 8, 24, 24], (32, 32), (8, 8)).tolist()
    [2, 2, 6, 6]
  """
  source = box_options.check_size(source_size, arg="source_size")
  target = box_options.check_size(target_size, arg="target_size")
  if len(source) != len(target):
    raise ValueError(
        f"source_size, target_size: expected the same number of axes, got "
        f"{source} and {target}."
    )
  box = _as_box(box, source)
  scale = jnp.asarray([t / s for s, t in zip(source, target)] * 2, jnp.float32)
  limit = jnp.asarray(list(target) * 2, jnp.int32)
  scaled = jnp.round(box.astype(jnp.float32) * scale).astype(jnp.int32)
  return jnp.clip(scaled, 0, limit)


def settle_boxes(
    params: params_lib.MixParams, size: Sequence[int]
) -> params_lib.MixParams:
  """Derives CutMix rows' flags and area weights from their boxes at ``size``.

  A CutMix row stays applied only if its box is not empty at this size; it
  then gets ``lam = 1 - pasted_fraction(box, size)``, and otherwise the box
  of zeros and ``lam = 1``. MixUp rows are returned as they are. The
  samplers call this at the size they drew for, `cutmix` again at the size
  of the array it pastes into (the two differ for feature maps).
  """
  cut = params.is_cutmix
  applied = jnp.where(
      cut, params.applied & (box_area(params.box) > 0), params.applied
  )
  pasted = cut & applied
  return params._replace(
      box=jnp.where(pasted[:, None], params.box, 0).astype(jnp.int32),
      lam=jnp.where(
          cut,
          jnp.where(pasted, 1.0 - pasted_fraction(params.box, size), 1.0),
          params.lam,
      ).astype(jnp.float32),
      applied=applied,
  )
