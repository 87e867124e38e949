"""The checks' toolkit: one message form, and what every argument rule builds on.

Every message reads ``"{arg}: expected {what}, got {what came}."``: `TypeError`
for a wrong type or dtype, `ValueError` for a wrong shape or value.
"""

import contextlib
import numbers
from typing import NoReturn

import jax
import jax.numpy as jnp
import numpy as np

REAL: tuple = (jnp.integer, jnp.floating)


def is_traced(x) -> bool:
  return isinstance(x, jax.core.Tracer)


def known_values(x) -> np.ndarray | None:
  """The values of ``x``, or None if traced or spread over several processes:
  a process that read only its own part would raise alone, and the others
  would wait for it forever in their next collective."""
  for leaf in jax.tree.leaves(x):  # a list of tracers too
    if is_traced(leaf) or not getattr(leaf, "is_fully_addressable", True):
      return None
  return np.asarray(x)


def describe(x) -> str:
  """A short description of a value for messages."""
  if is_traced(x):
    return f"a traced {x.dtype}{list(x.shape)}"
  if isinstance(x, (jax.Array, np.ndarray, np.generic)):
    return f"{x.dtype}{list(np.shape(x))}"
  return type(x).__name__ if len(repr(x)) > 60 else repr(x)


def refuse(arg: str, expected: str, got, error=ValueError) -> NoReturn:
  """Raises ``error`` in the one message form."""
  raise error(f"{arg}: expected {expected}, got {got}.")


def require(ok, arg: str, expected: str, got, error=ValueError) -> None:
  """Raises ``error`` in the one message form unless ``ok``."""
  if not ok:
    refuse(arg, expected, got, error)


class StaticOptionTracedError(TypeError):
  """An option that shapes the program arrived as an array, not a Python value."""

  def __init__(self, arg: str, expected: str, value):
    hint = "pass a Python value"
    if is_traced(value):
      # The argument it comes from may have another name (boxes.minmax's lo).
      hint += (
          " (under jax.jit, list the argument it comes from in static_argnames)"
      )
    super().__init__(
        f"{arg}: expected {expected} known at trace time, got "
        f"{describe(value)}; {hint}."
    )
    self.arg = arg


def static(x, arg: str, expected: str):
  """``x``, unless it is an array: options that shape the program are Python."""
  if isinstance(x, jax.Array):
    raise StaticOptionTracedError(arg, expected, x)
  return x


def static_int(x, arg: str, expected: str, low=None, high=None) -> int:
  """``x``, a Python int (not a bool) in ``[low, high]``."""
  static(x, arg, expected)
  ok = isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))
  require(ok, arg, expected, describe(x), TypeError)
  ok = (low is None or x >= low) and (high is None or x <= high)
  require(ok, arg, expected, x)
  return int(x)


def static_string(options: tuple[str, ...]):
  """The rule of an option that is one of the strings ``options``."""

  def rule(x, arg: str) -> str:
    static(x, arg, f"one of {options}")
    require(isinstance(x, str) and x in options, arg, f"one of {options}", x)
    return x

  return rule


def dtype_of(x):
  """The dtype ``x`` has or would have as an array; None if it has none."""
  if hasattr(x, "dtype") or isinstance(x, (str, bytes, dict)) or x is None:
    return getattr(x, "dtype", None)
  for convert in (np.asarray, jnp.asarray):  # jnp: a list of tracers (jit)
    with contextlib.suppress(TypeError, ValueError):
      return convert(x).dtype
  return None


def float_for(dtype) -> jnp.dtype:
  """The float that arithmetic on ``dtype`` values runs in: float64 for
  float64, else float32 (float8, float4 and int4 have no promotion path)."""
  return jnp.dtype(jnp.float64 if dtype == jnp.float64 else jnp.float32)


def is_kind(dtype, *kinds) -> bool:
  return dtype is not None and any(jnp.issubdtype(dtype, k) for k in kinds)


def array(x, arg: str, kinds: str, dtypes=REAL) -> jax.Array:
  """``x`` as an array whose dtype is one of ``dtypes`` (named ``kinds``)."""
  is_array = not (x is None or isinstance(x, (dict, str, bytes, set)))
  require(is_array, arg, "an array", type(x).__name__, TypeError)
  x = _read_list(x)
  dtype = dtype_of(x)
  require(dtype is not None, arg, "a rectangular array", describe(x), TypeError)
  require(is_kind(dtype, *dtypes), arg, f"{kinds} dtype", dtype, TypeError)
  # int64 would wrap into JAX's int32 silently.
  narrow = jax.dtypes.canonicalize_dtype(dtype)
  wraps = narrow != dtype and narrow.kind in "iu"
  if wraps and isinstance(x, np.ndarray) and x.size:
    low, high = x.min(), x.max()
    fits = np.iinfo(narrow).min <= low and high <= np.iinfo(narrow).max
    expected = "values that fit JAX's integers (int32 without x64)"
    require(fits, arg, expected, f"{dtype} values in [{low}, {high}]")
  return jnp.asarray(x)


def _read_list(x):
  """A list or tuple read by NumPy (JAX would wrap its large ints; a list of
  tracers stays a list); anything else as given."""
  if isinstance(x, (list, tuple)):
    with contextlib.suppress(ValueError, TypeError):
      return np.asarray(x)
  return x


def int32_range(x):
  """Integers clipped to int32's range, so that no cast wraps them (a box is
  clipped to the size anyway, a partner checked as given); others as given."""
  x = _read_list(x)
  if not isinstance(x, (np.ndarray, jax.Array)) or x.dtype.kind not in "iu":
    return x
  info, int32 = np.iinfo(x.dtype), np.iinfo(np.int32)
  lo, hi = max(info.min, int32.min), min(info.max, int32.max)
  return x if (lo, hi) == (info.min, info.max) else x.clip(lo, hi)
