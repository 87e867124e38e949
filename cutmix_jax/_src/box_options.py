"""Checks of the box geometry: the cut axes, their sizes, the box options.

The options that shape the box are ``minmax``, ``box_size`` and
``patch_size`` (``center_std``, a number, is checked with the scalars in
`validation`).
All of them are static (Python values known at trace time); a traced one is
refused with a hint to mark it static. `check_box_options` refuses the pairs
where one option would silently override the other.
"""

from collections.abc import Sequence
import numbers

import numpy as np

from cutmix_jax._src import validation


def _static_ints(
    value, arg: str, *, expected: str, known: str, repeat: int = 1
) -> tuple[int, ...]:
  """A static int or sequence of ints as a tuple; an int is repeated.

  Args:
    value: what came.
    arg: its name, for messages.
    expected: what a wrong type is told to be, e.g. "a tuple of 1 to 3 ints".
    known: what a traced value is told to be, e.g. "a tuple of ints".
    repeat: how many times a lone int is repeated.
  """
  validation.check_static(value, arg, known)
  if isinstance(value, (tuple, list)) and any(map(validation.is_traced, value)):
    raise validation.StaticOptionTracedError(arg, known)
  if isinstance(value, numbers.Integral) and not isinstance(value, bool):
    value = (value,) * repeat
  try:
    return tuple(validation.operator_index(v, arg) for v in value)
  except TypeError:
    raise TypeError(f"{arg}: expected {expected}, got {value!r}.") from None


def check_axes(
    axes,
    ndim: int,
    *,
    arg: str = "axes",
    array: str = "images",
    count: int | None = None,
) -> tuple[int, ...]:
  """Normalises the axes to cut over to non-negative, distinct, non-batch axes."""
  normalized = _static_ints(
      axes,
      arg,
      expected="a tuple of 1 to 3 ints such as (1, 2)",
      known="a tuple of ints",
  )
  if count is not None and len(normalized) != count:
    raise ValueError(f"{arg}: expected {count} axes, got {normalized}.")
  if not 1 <= len(normalized) <= 3:
    raise ValueError(f"{arg}: expected 1, 2 or 3 axes, got {normalized}.")
  out = []
  for a in normalized:
    if not -ndim <= a < ndim:
      raise ValueError(
          f"{arg}: axis {a} is out of range for {array} of rank {ndim}; "
          f"expected axes in [1, {ndim - 1}] (or negative)."
      )
    out.append(a % ndim)
  if len(set(out)) != len(out):
    raise ValueError(f"{arg}: expected different axes, got {normalized}.")
  if 0 in out:
    raise ValueError(
        f"{arg}: axis 0 is the batch axis of {array}, got {normalized}."
    )
  return tuple(out)


def resolve_axes(
    axes, spatial_axes, ndim: int, *, array: str = "images"
) -> tuple[int, ...]:
  """The axes to cut over from ``axes`` or its alias ``spatial_axes``.

  Neither given means ``(1, 2)``: the height and width of NHWC images.
  """
  if axes is None and spatial_axes is None:
    if ndim < 3:
      raise ValueError(
          f"{array}: expected a batch of images of rank >= 3 such as "
          f"(batch, height, width, channels), got rank {ndim}; to cut other "
          "axes pass axes=..., e.g. axes=(1,) for (batch, time)."
      )
    return check_axes((1, 2), ndim, arg="axes", array=array)
  if axes is not None and spatial_axes is not None:
    both = (
        check_axes(axes, ndim, arg="axes", array=array),
        check_axes(spatial_axes, ndim, arg="spatial_axes", array=array),
    )
    if both[0] != both[1]:
      raise ValueError(
          f"axes, spatial_axes: spatial_axes is the old name of axes; pass one "
          f"of them, got axes={axes!r} and spatial_axes={spatial_axes!r}."
      )
    return both[0]
  if axes is not None:
    return check_axes(axes, ndim, arg="axes", array=array)
  return check_axes(spatial_axes, ndim, arg="spatial_axes", array=array)


def _sides_per_axis(value, size: Sequence[int], arg: str) -> tuple[int, ...]:
  """An int, or one int per cut axis, known at trace time; positive sides."""
  sides = _static_ints(
      value,
      arg,
      expected="an int or one int per cut axis",
      known="an int or a tuple of ints",
      repeat=len(size),
  )
  if len(sides) != len(size) or min(sides) < 1:
    raise ValueError(
        f"{arg}: expected {len(size)} positive sides (one per cut axis), got "
        f"{sides}."
    )
  return sides


def check_patch_size(patch_size, size: Sequence[int]) -> tuple[int, ...] | None:
  """One patch side per cut axis, each dividing its axis."""
  if patch_size is None:
    return None
  sides = _sides_per_axis(patch_size, size, "patch_size")
  if any(n % p for n, p in zip(size, sides)):
    raise ValueError(
        f"patch_size: expected sides that divide the cut axes {tuple(size)}, "
        f"got {sides}."
    )
  return sides


def check_size(size, *, arg: str = "size") -> tuple[int, ...]:
  """The sizes of the axes to cut over, 1 to 3 positive ints."""
  sides = _static_ints(
      size, arg, expected="a tuple of 1 to 3 ints", known="a tuple of ints"
  )
  if not 1 <= len(sides) <= 3 or min(sides) < 1:
    raise ValueError(f"{arg}: expected 1 to 3 positive sides, got {sides}.")
  # Box areas are int32.
  if int(np.prod(sides)) >= 1 << 31:
    raise ValueError(
        f"{arg}: expected at most 2**31 - 1 elements in the cut axes, got "
        f"{sides}."
    )
  return sides


def check_minmax(minmax, size: Sequence[int]) -> tuple[float, float] | None:
  if minmax is None:
    return None
  validation.check_static(minmax, "minmax", "a pair (lo, hi) of floats")
  if isinstance(minmax, (tuple, list)) and any(
      map(validation.is_traced, minmax)
  ):
    raise validation.StaticOptionTracedError(
        "minmax", "a pair (lo, hi) of floats"
    )
  try:
    lo, hi = (float(v) for v in minmax)
  except (TypeError, ValueError):
    raise TypeError(
        f"minmax: expected a pair (lo, hi) of floats, got {minmax!r}."
    ) from None
  if not 0.0 < lo < hi <= 1.0:
    raise ValueError(f"minmax: expected 0 < lo < hi <= 1, got ({lo}, {hi}).")
  for side in size:
    if int(side * lo) >= int(side * hi):
      raise ValueError(
          f"minmax: ({lo}, {hi}) leaves no box side to draw for an axis of "
          f"{side} (int({lo} * {side}) = int({hi} * {side}))."
      )
  return lo, hi


def check_box_size(box_size, size: Sequence[int]) -> tuple[int, ...] | None:
  """One box side per cut axis, none larger than its axis."""
  if box_size is None:
    return None
  sides = _sides_per_axis(box_size, size, "box_size")
  if any(b > s for b, s in zip(sides, size)):
    raise ValueError(
        f"box_size: the box {sides} is larger than the images {tuple(size)}."
    )
  return sides


def check_box_options(*, minmax, box_size, center_std, patch_size=None) -> None:
  """Refuses option pairs where one would silently override the other."""
  if patch_size is not None and box_size is not None:
    raise ValueError(
        "patch_size, box_size: both set; a fixed box_size in pixels need not "
        "fall on the patch grid, so pass one of them."
    )
  if minmax is not None and box_size is not None:
    raise ValueError(
        "minmax, box_size: both set, but minmax draws the box sides itself; "
        "pass one of them."
    )
  if minmax is not None and center_std is not None:
    raise ValueError(
        "minmax, center_std: both set, but minmax places the box itself "
        "(uniformly, inside the image); pass one of them."
    )
