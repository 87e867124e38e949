"""Argument checks: at trace time on shapes and dtypes, eagerly on known values.

Shapes, dtypes and Python options are known while tracing, so they are
checked there. A scalar such as ``alpha`` can be a Python or NumPy number, a
concrete JAX array (an eager call) or a tracer (inside ``jit``): its value is
checked in the first three cases, and a traced value passes to the sampler,
which keeps every loop bounded and every result in range whatever it is (see
`sampling`). Checking a traced value would need a host round trip inside the
user's step, or `jax.experimental.checkify`.

One kind of error per kind of mistake: `TypeError` for a wrong type or
dtype, `ValueError` for a wrong shape or value. Every message names the
argument, what was expected and what came.
"""

from collections.abc import Sequence
import numbers

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("batch", "elem", "pair")
LABEL_MODES = ("area", "larger_area", "complete")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_TRACED_ERRORS = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
)


def describe(x) -> str:
  """A short description of a value for error messages."""
  if is_traced(x):
    return f"a traced {x.dtype}{list(x.shape)}"
  shape = getattr(x, "shape", None)
  dtype = getattr(x, "dtype", None)
  if shape is not None and dtype is not None:
    return f"{dtype}{list(shape)}"
  return repr(x)


def is_traced(x) -> bool:
  """Whether ``x`` is a tracer, whose value is unknown until run time."""
  return isinstance(x, jax.core.Tracer)


def _static_error(arg: str, expected: str) -> TypeError:
  return TypeError(
      f"{arg}: expected {expected} known at trace time, got a traced value; "
      f"pass it as a Python value and mark it static, e.g. "
      f"jax.jit(fn, static_argnames=({arg!r},))."
  )


def _check_static(x, arg: str, expected: str) -> None:
  if is_traced(x):
    raise _static_error(arg, expected)


def _dtype_of(x):
  dtype = getattr(x, "dtype", None)
  if dtype is not None:
    return dtype
  if isinstance(x, (str, bytes)):
    return None
  try:
    return np.asarray(x).dtype
  except (TypeError, ValueError):
    return None


def scalar_value(x, arg: str) -> float | None:
  """Checks a numeric scalar; returns its value, or None if it is traced.

  Raises:
    TypeError: for a string, a bool, a non-numeric dtype or a non-scalar.
    ValueError: for a NaN or infinite value, or one that overflows float32.
  """
  dtype = _dtype_of(x)
  if (
      isinstance(x, (bool, np.bool_))
      or dtype is None
      or not (
          jnp.issubdtype(dtype, jnp.integer)
          or jnp.issubdtype(dtype, jnp.floating)
      )
  ):
    raise TypeError(f"{arg}: expected a real number, got {describe(x)}.")
  if np.shape(x) != ():
    raise TypeError(f"{arg}: expected a scalar, got {describe(x)}.")
  if is_traced(x):
    return None
  try:
    value = float(np.asarray(x))
  except _TRACED_ERRORS:
    return None
  if not np.isfinite(value):
    raise ValueError(f"{arg}: expected a finite number, got {value}.")
  if abs(value) > _FLOAT32_MAX:
    raise ValueError(
        f"{arg}: expected a number that fits float32 (|x| <= {_FLOAT32_MAX:.4g}), "
        f"got {value}."
    )
  return value


def check_alpha(alpha, *, arg: str = "alpha", allow_zero: bool = False):
  """Returns ``alpha`` as a Python float if it is known, else the tracer."""
  value = scalar_value(alpha, arg)
  if value is None:
    return alpha
  if allow_zero and value < 0:
    raise ValueError(
        f"{arg}: expected alpha >= 0 (0 turns it off), got {value}."
    )
  if not allow_zero and value <= 0:
    raise ValueError(
        f"{arg}: expected alpha > 0 (the Beta(alpha, alpha) parameter), "
        f"got {value}."
    )
  return value


def check_probability(prob, *, arg: str = "prob"):
  value = scalar_value(prob, arg)
  if value is not None and not 0.0 <= value <= 1.0:
    raise ValueError(f"{arg}: expected a probability in [0, 1], got {value}.")
  return prob if value is None else value


def check_label_smoothing(label_smoothing):
  value = scalar_value(label_smoothing, "label_smoothing")
  if value is not None and not 0.0 <= value < 1.0:
    raise ValueError(
        f"label_smoothing: expected a value in [0, 1), got {value}."
    )
  return label_smoothing if value is None else value


def check_center_std(center_std):
  if center_std is None:
    return None
  value = scalar_value(center_std, "center_std")
  if value is not None and value <= 0:
    raise ValueError(f"center_std: expected a value > 0, got {value}.")
  return center_std if value is None else value


def check_rng(rng) -> jax.Array:
  """Accepts a typed key or a raw key of the default PRNG implementation.

  Returns:
    A typed key (raw keys are wrapped, so every draw uses the typed API).
  """
  dtype = getattr(rng, "dtype", None)
  if dtype is None:
    raise TypeError(
        "rng: expected a PRNG key from jax.random.key(seed) or "
        f"jax.random.PRNGKey(seed), got {describe(rng)}."
    )
  if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    if np.shape(rng) != ():
      raise ValueError(
          "rng: expected a single PRNG key (shape ()), got a key array of "
          f"shape {tuple(np.shape(rng))}; split it outside, or use jax.vmap."
      )
    return rng
  raw_shape = jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape
  if dtype != jnp.uint32 or tuple(np.shape(rng)) != raw_shape:
    raise TypeError(
        "rng: expected a PRNG key from jax.random.key(seed), or a raw key "
        f"from jax.random.PRNGKey(seed) (uint32{list(raw_shape)} for the "
        f"default implementation), got {describe(rng)}."
    )
  return jax.random.wrap_key_data(rng)


def check_mode(mode, *, arg: str = "mode") -> str:
  _check_static(mode, arg, f"one of {MODES}")
  if not isinstance(mode, str) or mode not in MODES:
    raise ValueError(f"{arg}: expected one of {MODES}, got {mode!r}.")
  return mode


def check_label_mode(label_mode) -> str:
  _check_static(label_mode, "label_mode", f"one of {LABEL_MODES}")
  if not isinstance(label_mode, str) or label_mode not in LABEL_MODES:
    raise ValueError(
        f"label_mode: expected one of {LABEL_MODES}, got {label_mode!r}."
    )
  return label_mode


def check_axes(
    axes,
    ndim: int,
    *,
    arg: str = "axes",
    array: str = "images",
    count: int | None = None,
) -> tuple[int, ...]:
  """Normalises the axes to cut over to non-negative, distinct, non-batch axes."""
  _check_static(axes, arg, "a tuple of ints")
  if isinstance(axes, (tuple, list)) and any(map(is_traced, axes)):
    raise _static_error(arg, "a tuple of ints")
  if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
    axes = (axes,)
  try:
    normalized = tuple(operator_index(a, arg) for a in axes)
  except TypeError:
    raise TypeError(
        f"{arg}: expected a tuple of 1 to 3 ints such as (1, 2), got "
        f"{axes!r}."
    ) from None
  if count is not None and len(normalized) != count:
    raise ValueError(f"{arg}: expected {count} axes, got {tuple(axes)}.")
  if not 1 <= len(normalized) <= 3:
    raise ValueError(f"{arg}: expected 1, 2 or 3 axes, got {tuple(axes)}.")
  out = []
  for a in normalized:
    if not -ndim <= a < ndim:
      raise ValueError(
          f"{arg}: axis {a} is out of range for {array} of rank {ndim}; "
          f"expected axes in [1, {ndim - 1}] (or negative)."
      )
    out.append(a % ndim)
  if len(set(out)) != len(out):
    raise ValueError(f"{arg}: expected different axes, got {tuple(axes)}.")
  if 0 in out:
    raise ValueError(
        f"{arg}: axis 0 is the batch axis of {array}, got {tuple(axes)}."
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


def check_patch_size(patch_size, size: Sequence[int]) -> tuple[int, ...] | None:
  """One patch side per cut axis, each dividing its axis."""
  if patch_size is None:
    return None
  _check_static(patch_size, "patch_size", "an int or a tuple of ints")
  if isinstance(patch_size, (tuple, list)) and any(map(is_traced, patch_size)):
    raise _static_error("patch_size", "an int or a tuple of ints")
  if isinstance(patch_size, numbers.Integral):
    patch_size = (patch_size,) * len(size)
  try:
    sides = tuple(operator_index(v, "patch_size") for v in patch_size)
  except TypeError:
    raise TypeError(
        "patch_size: expected an int or one int per cut axis, got "
        f"{patch_size!r}."
    ) from None
  if len(sides) != len(size) or min(sides) < 1:
    raise ValueError(
        f"patch_size: expected {len(size)} positive sides (one per cut axis), "
        f"got {sides}."
    )
  if any(n % p for n, p in zip(size, sides)):
    raise ValueError(
        f"patch_size: expected sides that divide the cut axes {tuple(size)}, "
        f"got {sides}."
    )
  return sides


def operator_index(x, arg: str) -> int:
  _check_static(x, arg, "an int")
  if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
    raise TypeError(f"{arg}: expected an int, got {describe(x)}.")
  return int(x)


def check_batch(
    x, *, arg: str = "images", min_rank: int = 1, allow_bool: bool = True
) -> tuple[int, ...]:
  """Checks a batched array's dtype and rank; returns its shape."""
  dtype = _dtype_of(x)
  numeric = dtype is not None and (
      jnp.issubdtype(dtype, jnp.integer)
      or jnp.issubdtype(dtype, jnp.floating)
      or (allow_bool and jnp.issubdtype(dtype, jnp.bool_))
  )
  if not numeric:
    kinds = "float, bfloat16, integer" + (" or bool" if allow_bool else "")
    raise TypeError(f"{arg}: expected a {kinds} dtype, got {dtype}.")
  shape = tuple(np.shape(x))
  if len(shape) < min_rank:
    raise ValueError(
        f"{arg}: expected a batch of rank >= {min_rank}, got shape {shape}."
    )
  if shape[0] == 0:
    raise ValueError(f"{arg}: expected a non-empty batch, got shape {shape}.")
  return shape


def check_same_batch(shape, batch_size: int, *, arg: str, against: str) -> None:
  if shape[0] != batch_size:
    raise ValueError(
        f"{arg}: expected a batch of {batch_size} to match {against}, got "
        f"{shape[0]} (shape {tuple(shape)})."
    )


def check_num_classes(num_classes) -> int | None:
  if num_classes is None:
    return None
  _check_static(num_classes, "num_classes", "a positive int")
  if (
      isinstance(num_classes, (bool, np.bool_))
      or not isinstance(num_classes, numbers.Integral)
      or num_classes < 1
  ):
    raise ValueError(
        f"num_classes: expected a positive int, got {num_classes!r}."
    )
  return int(num_classes)


def check_labels(labels, batch_size: int, num_classes) -> int:
  """Checks labels against the batch; returns the number of classes.

  Integer labels whose values are known (an eager call) must lie in
  ``[0, num_classes)``; traced ones can be checked with
  `check_labels_in_range` under `checkify`.
  """
  num_classes = check_num_classes(num_classes)
  shape = tuple(np.shape(labels))
  dtype = _dtype_of(labels)
  if dtype is not None and jnp.issubdtype(dtype, jnp.integer):
    if len(shape) != 1:
      raise ValueError(
          f"labels: integer labels must have shape (batch,), got {shape}."
      )
    if num_classes is None:
      raise ValueError(
          "num_classes: integer labels need num_classes to be one-hot "
          "encoded; pass num_classes=K, or pass one-hot float labels (batch, K)."
      )
    _check_known_labels_in_range(labels, num_classes)
  elif dtype is not None and jnp.issubdtype(dtype, jnp.floating):
    if len(shape) != 2:
      raise ValueError(
          "labels: float labels must be one-hot or soft, of shape "
          f"(batch, num_classes), got {shape}."
      )
    if num_classes is not None and shape[1] != num_classes:
      raise ValueError(
          f"labels: float labels have {shape[1]} classes on their last axis "
          f"but num_classes={num_classes}."
      )
    num_classes = shape[1]
  else:
    raise TypeError(
        "labels: expected integer class indices (batch,) or float labels "
        f"(batch, num_classes), got dtype {dtype}."
    )
  check_same_batch(shape, batch_size, arg="labels", against="images")
  return num_classes


def _check_known_labels_in_range(labels, num_classes: int) -> None:
  if is_traced(labels):
    return
  try:
    values = np.asarray(labels)
  except _TRACED_ERRORS:
    return
  bad = (values < 0) | (values >= num_classes)
  if values.size and bad.any():
    raise ValueError(
        f"labels: expected class indices in [0, {num_classes}), got "
        f"{values[bad][:5].tolist()} (min {values.min()}, max {values.max()})."
    )


def check_batch_size(batch_size) -> int:
  value = operator_index(batch_size, "batch_size")
  if value < 1:
    raise ValueError(
        f"batch_size: expected a positive int, got {batch_size!r}."
    )
  return value


def check_size(size, *, arg: str = "size") -> tuple[int, ...]:
  """The sizes of the axes to cut over, 1 to 3 positive ints."""
  _check_static(size, arg, "a tuple of ints")
  if isinstance(size, (tuple, list)) and any(map(is_traced, size)):
    raise _static_error(arg, "a tuple of ints")
  if isinstance(size, numbers.Integral):
    size = (size,)
  try:
    sides = tuple(operator_index(s, arg) for s in size)
  except TypeError:
    raise TypeError(
        f"{arg}: expected a tuple of 1 to 3 ints, got {size!r}."
    ) from None
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
  _check_static(minmax, "minmax", "a pair (lo, hi) of floats")
  if isinstance(minmax, (tuple, list)) and any(map(is_traced, minmax)):
    raise _static_error("minmax", "a pair (lo, hi) of floats")
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
  if box_size is None:
    return None
  _check_static(box_size, "box_size", "an int or a tuple of ints")
  if isinstance(box_size, (tuple, list)) and any(map(is_traced, box_size)):
    raise _static_error("box_size", "an int or a tuple of ints")
  if isinstance(box_size, numbers.Integral):
    box_size = (box_size,) * len(size)
  try:
    sides = tuple(operator_index(v, "box_size") for v in box_size)
  except TypeError:
    raise TypeError(
        f"box_size: expected an int or one int per cut axis, got {box_size!r}."
    ) from None
  if len(sides) != len(size):
    raise ValueError(
        f"box_size: expected {len(size)} sides (one per cut axis), got {sides}."
    )
  if min(sides) < 1:
    raise ValueError(f"box_size: expected positive sides, got {sides}.")
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
