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


class StaticOptionTracedError(TypeError):
  """An option that shapes the program (a size, a mode, ...) arrived traced."""

  def __init__(self, arg: str, expected: str):
    super().__init__(
        f"{arg}: expected {expected} known at trace time, got a traced value; "
        f"pass it as a Python value and mark it static, e.g. "
        f"jax.jit(fn, static_argnames=({arg!r},))."
    )
    self.arg = arg


def check_static(x, arg: str, expected: str) -> None:
  if is_traced(x):
    raise StaticOptionTracedError(arg, expected)


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
  check_static(mode, arg, f"one of {MODES}")
  if not isinstance(mode, str) or mode not in MODES:
    raise ValueError(f"{arg}: expected one of {MODES}, got {mode!r}.")
  return mode


def check_label_mode(label_mode) -> str:
  check_static(label_mode, "label_mode", f"one of {LABEL_MODES}")
  if not isinstance(label_mode, str) or label_mode not in LABEL_MODES:
    raise ValueError(
        f"label_mode: expected one of {LABEL_MODES}, got {label_mode!r}."
    )
  return label_mode


def operator_index(x, arg: str) -> int:
  check_static(x, arg, "an int")
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
    kinds = (
        "float, bfloat16, integer or bool"
        if allow_bool
        else ("float, bfloat16 or integer")
    )
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
  check_static(num_classes, "num_classes", "a positive int")
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
