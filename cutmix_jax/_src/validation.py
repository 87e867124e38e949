"""Trace-time argument checks on static shapes, dtypes and Python numbers.

Every check here looks only at what is known while tracing (shapes, dtypes and
concrete Python numbers). Traced values pass through unchecked: checking them
would need a host round trip inside the user's jitted step.
"""

import numbers
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("batch", "elem", "pair")
LABEL_MODES = ("area", "larger_area", "complete")


def _describe(x) -> str:
  shape = getattr(x, "shape", None)
  dtype = getattr(x, "dtype", None)
  if shape is not None and dtype is not None:
    return f"{dtype}{list(shape)}"
  return repr(x)


def _is_concrete_number(x) -> bool:
  return isinstance(x, numbers.Number) and not isinstance(x, bool)


def check_rng(rng) -> None:
  """Accepts a typed key (`jax.random.key`) or a raw `uint32[2]` key."""
  dtype = getattr(rng, "dtype", None)
  if dtype is None:
    raise TypeError(
        "rng: expected a PRNG key from jax.random.key(seed) or "
        f"jax.random.PRNGKey(seed), got {_describe(rng)}.")
  if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    if np.shape(rng) != ():
      raise ValueError(
          "rng: expected a single PRNG key (shape ()), got a key array of "
          f"shape {tuple(np.shape(rng))}; split it outside, or use jax.vmap.")
    return
  if dtype != jnp.uint32 or tuple(np.shape(rng)) != (2,):
    raise TypeError(
        "rng: expected a PRNG key from jax.random.key(seed) or "
        f"jax.random.PRNGKey(seed) (uint32[2]), got {_describe(rng)}.")


def normalize_spatial_axes(spatial_axes: Sequence[int], ndim: int,
                           *, arg: str = "images") -> tuple[int, int]:
  """Returns the two spatial axes as non-negative ints, or raises."""
  try:
    axes = tuple(int(a) for a in spatial_axes)
  except TypeError:
    raise TypeError(
        "spatial_axes: expected a pair of ints such as (1, 2), got "
        f"{spatial_axes!r}.") from None
  if len(axes) != 2:
    raise ValueError(
        f"spatial_axes: expected two axes (height, width), got {axes}.")
  normalized = []
  for a in axes:
    if not -ndim <= a < ndim:
      raise ValueError(
          f"spatial_axes: axis {a} is out of range for {arg} of rank {ndim}; "
          f"expected axes in [1, {ndim - 1}].")
    normalized.append(a % ndim)
  if normalized[0] == normalized[1]:
    raise ValueError(f"spatial_axes: expected two different axes, got {axes}.")
  if 0 in normalized:
    raise ValueError(
        f"spatial_axes: axis 0 is the batch axis of {arg}, got {axes}.")
  return normalized[0], normalized[1]


def check_images(images, spatial_axes: Sequence[int],
                 *, arg: str = "images") -> tuple[int, int, int, int]:
  """Checks a batched array; returns (batch, height, width, h_axis, w_axis)."""
  shape = np.shape(images)
  dtype = getattr(images, "dtype", None) or np.asarray(images).dtype
  if len(shape) < 3:
    raise ValueError(
        f"{arg}: expected a batch of images of rank >= 3 such as "
        f"(batch, height, width, channels), got shape {tuple(shape)}.")
  if not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
    raise TypeError(
        f"{arg}: expected a numeric dtype (float, bfloat16, integer), got {dtype}.")
  h_axis, w_axis = normalize_spatial_axes(spatial_axes, len(shape), arg=arg)
  return shape[0], h_axis, w_axis, len(shape)


def check_alpha(alpha, *, arg: str = "alpha", allow_zero: bool = False) -> None:
  if _is_concrete_number(alpha):
    if allow_zero:
      if not alpha >= 0:
        raise ValueError(f"{arg}: expected alpha >= 0 (0 disables), got {alpha}.")
    elif not alpha > 0:
      raise ValueError(
          f"{arg}: expected alpha > 0 (the Beta(alpha, alpha) parameter), "
          f"got {alpha}.")
  else:
    check_scalar(alpha, arg=arg)


def check_probability(prob, *, arg: str = "prob") -> None:
  if _is_concrete_number(prob):
    if not 0.0 <= prob <= 1.0:
      raise ValueError(f"{arg}: expected a probability in [0, 1], got {prob}.")
  else:
    check_scalar(prob, arg=arg)


def check_label_smoothing(label_smoothing) -> None:
  if _is_concrete_number(label_smoothing):
    if not 0.0 <= label_smoothing < 1.0:
      raise ValueError(
          "label_smoothing: expected a value in [0, 1), got "
          f"{label_smoothing}.")
  else:
    check_scalar(label_smoothing, arg="label_smoothing")


def check_scalar(x, *, arg: str) -> None:
  if isinstance(x, bool) or np.shape(x) != ():
    raise TypeError(f"{arg}: expected a scalar number, got {_describe(x)}.")


def check_mode(mode: str, *, arg: str = "mode") -> None:
  if mode not in MODES:
    raise ValueError(f"{arg}: expected one of {MODES}, got {mode!r}.")


def check_label_mode(label_mode: str) -> None:
  if label_mode not in LABEL_MODES:
    raise ValueError(
        f"label_mode: expected one of {LABEL_MODES}, got {label_mode!r}.")


def check_minmax(minmax) -> tuple[float, float] | None:
  if minmax is None:
    return None
  try:
    lo, hi = (float(v) for v in minmax)
  except (TypeError, ValueError):
    raise TypeError(
        f"minmax: expected a pair (lo, hi) of floats, got {minmax!r}.") from None
  if not 0.0 < lo < hi <= 1.0:
    raise ValueError(f"minmax: expected 0 < lo < hi <= 1, got ({lo}, {hi}).")
  return lo, hi


def check_box_size(box_size, height: int, width: int):
  if box_size is None:
    return None
  if isinstance(box_size, numbers.Integral):
    box_size = (box_size, box_size)
  try:
    bh, bw = (int(v) for v in box_size)
  except (TypeError, ValueError):
    raise TypeError(
        f"box_size: expected an int or a pair (height, width), got {box_size!r}.") from None
  if bh < 1 or bw < 1:
    raise ValueError(f"box_size: expected positive sides, got ({bh}, {bw}).")
  if bh > height or bw > width:
    raise ValueError(
        f"box_size: the box ({bh}, {bw}) is larger than the images "
        f"({height}, {width}).")
  return bh, bw


def check_center_std(center_std) -> None:
  if center_std is None:
    return
  if _is_concrete_number(center_std):
    if not center_std > 0:
      raise ValueError(f"center_std: expected a value > 0, got {center_std}.")
  else:
    check_scalar(center_std, arg="center_std")


def check_labels(labels, batch_size: int, num_classes: int | None) -> int:
  """Checks labels against the batch; returns the number of classes."""
  shape = np.shape(labels)
  dtype = getattr(labels, "dtype", None) or np.asarray(labels).dtype
  if num_classes is not None and (
      not isinstance(num_classes, numbers.Integral) or num_classes < 1):
    raise ValueError(
        f"num_classes: expected a positive int, got {num_classes!r}.")
  if jnp.issubdtype(dtype, jnp.integer):
    if len(shape) != 1:
      raise ValueError(
          "labels: integer labels must have shape (batch,), got "
          f"{tuple(shape)}.")
    if num_classes is None:
      raise ValueError(
          "num_classes: integer labels need num_classes to be one-hot "
          "encoded; pass num_classes=K, or pass one-hot float labels (batch, K).")
  elif jnp.issubdtype(dtype, jnp.floating):
    if len(shape) != 2:
      raise ValueError(
          "labels: float labels must be one-hot or soft, of shape "
          f"(batch, num_classes), got {tuple(shape)}.")
    if num_classes is not None and shape[1] != num_classes:
      raise ValueError(
          f"labels: float labels have {shape[1]} classes on their last axis "
          f"but num_classes={num_classes}.")
    num_classes = shape[1]
  else:
    raise TypeError(
        "labels: expected integer class indices (batch,) or float labels "
        f"(batch, num_classes), got dtype {dtype}.")
  if shape[0] != batch_size:
    raise ValueError(
        f"labels: expected a batch of {batch_size} to match images, got "
        f"{shape[0]} (labels shape {tuple(shape)}).")
  return num_classes


def check_batch_size(batch_size) -> int:
  if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
    raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}.")
  return int(batch_size)


def check_image_size(height, width) -> tuple[int, int]:
  for name, v in (("height", height), ("width", width)):
    if not isinstance(v, numbers.Integral) or v < 1:
      raise ValueError(f"{name}: expected a positive int, got {v!r}.")
    # Centres are drawn with 16-bit arithmetic (`random_bits.below`).
    if v >= 1 << 16:
      raise ValueError(f"{name}: expected at most 65535 pixels, got {v}.")
  # Box areas are int32.
  if height * width >= 1 << 31:
    raise ValueError(
        f"height, width: expected at most 2**31 - 1 pixels in all, got "
        f"{height} x {width}.")
  return int(height), int(width)
