"""The argument rules: every check of a user's argument, written once.

Each public function checks each of its arguments once, at its entry, with
`check`, then works through private functions that trust what they get.
`check` looks the argument's name up in `_RULES`, the one description of the
options: whether an option is static (it shapes the program, so it must be a
Python value known at trace time) or a run-time number (it may be traced),
its type and its range.

Shapes, dtypes and static options are known while tracing, so they are
checked there. A run-time number such as ``alpha`` is checked when its value
is known (a Python or NumPy number, or a concrete JAX array); a traced value
passes unchecked, and the samplers keep every result in range whatever it is
(a traced ``alpha`` that is 0, negative or NaN mixes nothing).

`TypeError` for a wrong type or dtype, `ValueError` for a wrong shape or
value; every message starts with the argument's name, then says what was
expected and what came.
"""

from collections.abc import Callable
import dataclasses
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("batch", "elem", "pair")
LABEL_MODES = ("area", "larger_area", "complete")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Box areas are int32.
_MAX_ELEMENTS = (1 << 31) - 1


def is_traced(x) -> bool:
  """Whether ``x`` is a tracer, whose value is unknown until run time."""
  return isinstance(x, jax.core.Tracer)


def describe(x) -> str:
  """A short description of a value for messages."""
  if is_traced(x):
    return f"a traced {x.dtype}{list(x.shape)}"
  if isinstance(x, (jax.Array, np.ndarray, np.generic)):
    return f"{x.dtype}{list(np.shape(x))}"
  if isinstance(x, (dict, list, tuple)) and len(repr(x)) > 60:
    return type(x).__name__
  return repr(x)


class StaticOptionTracedError(TypeError):
  """An option that shapes the program arrived as an array, not a Python value."""

  def __init__(self, arg: str, expected: str, value):
    super().__init__(
        f"{arg}: expected {expected} known at trace time, got "
        f"{describe(value)}; pass a Python value (under jax.jit, mark it "
        f"static: jax.jit(fn, static_argnames=({arg!r},)))."
    )
    self.arg = arg


def _static(x, arg: str, expected: str) -> None:
  if isinstance(x, jax.Array):
    raise StaticOptionTracedError(arg, expected, x)


def _dtype_of(x):
  dtype = getattr(x, "dtype", None)
  if dtype is not None or isinstance(x, (str, bytes, dict)) or x is None:
    return dtype
  try:
    return np.asarray(x).dtype
  except (TypeError, ValueError):
    return None


def _is_real(dtype) -> bool:
  return dtype is not None and (
      jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)
  )


def _array(x, arg: str, *, kinds: str, allow_bool: bool = True) -> jax.Array:
  """``x`` as an array of a real (or bool) dtype."""
  if x is None or isinstance(x, (dict, str, bytes, set)):
    raise TypeError(f"{arg}: expected an array, got {type(x).__name__}.")
  dtype = _dtype_of(x)
  if not (_is_real(dtype) or (allow_bool and dtype == np.bool_)):
    raise TypeError(f"{arg}: expected {kinds} dtype, got {dtype}.")
  return jnp.asarray(x)


@dataclasses.dataclass(frozen=True)
class _Number:
  """A run-time scalar option with a range; known values are checked."""

  low: float
  high: float
  low_open: bool = False
  high_open: bool = False
  meaning: str = ""

  def __str__(self) -> str:
    if self.high == math.inf:
      bound = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
      return f"a value {bound}{self.meaning}"
    lo, hi = "[("[self.low_open], "])"[self.high_open]
    return f"a value in {lo}{self.low:g}, {self.high:g}{hi}{self.meaning}"

  def __call__(self, x, arg: str):
    dtype = _dtype_of(x)
    if isinstance(x, (bool, np.bool_)) or not _is_real(dtype):
      raise TypeError(f"{arg}: expected a real number, got {describe(x)}.")
    if np.shape(x) != ():
      raise TypeError(f"{arg}: expected a scalar, got {describe(x)}.")
    if is_traced(x):
      return x
    value = float(np.asarray(x))
    if not math.isfinite(value):
      raise ValueError(f"{arg}: expected a finite number, got {value}.")
    if abs(value) > _FLOAT32_MAX:
      raise ValueError(
          f"{arg}: expected a number that fits float32, got {value}."
      )
    below = value <= self.low if self.low_open else value < self.low
    above = value >= self.high if self.high_open else value > self.high
    if below or above:
      raise ValueError(f"{arg}: expected {self}, got {value}.")
    return value


def _choice(options: tuple[str, ...]) -> Callable:
  def check(x, arg: str) -> str:
    _static(x, arg, f"one of {options}")
    if not isinstance(x, str) or x not in options:
      raise ValueError(f"{arg}: expected one of {options}, got {x!r}.")
    return x

  return check


def _int(x, arg: str, expected: str = "an int") -> int:
  _static(x, arg, expected)
  if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
    raise TypeError(f"{arg}: expected {expected}, got {describe(x)}.")
  return int(x)


def _num_classes(x, arg: str) -> int | None:
  if x is None:
    return None
  value = _int(x, arg, "a positive int")
  if value < 1:
    raise ValueError(f"{arg}: expected a positive int, got {value}.")
  return value


def ints(x, arg: str, *, count: int | None = None) -> tuple[int, ...]:
  """A static int, or a tuple of them, as a tuple; an int is repeated."""
  _static(x, arg, "an int or a tuple of ints")
  if isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_)):
    x = (x,) * (count or 1)
  if not isinstance(x, (tuple, list)):
    raise TypeError(f"{arg}: expected an int or a tuple of ints, got {x!r}.")
  values = tuple(_int(v, arg, "an int or a tuple of ints") for v in x)
  if count is not None and len(values) != count:
    raise ValueError(
        f"{arg}: expected {count} values (one per cut axis), got {values}."
    )
  return values


def _sides(x, arg: str) -> tuple[int, ...]:
  """1 to 3 positive sizes (of cut axes, patches, boxes) as a tuple."""
  values = ints(x, arg)
  if not 1 <= len(values) <= 3 or min(values) < 1:
    raise ValueError(f"{arg}: expected 1 to 3 positive sides, got {values}.")
  if math.prod(values) > _MAX_ELEMENTS:
    raise ValueError(
        f"{arg}: expected at most 2**31 - 1 elements, got {values}."
    )
  return values


def _side_or_sides(x, arg: str) -> int | tuple[int, ...]:
  """A positive int (for every cut axis) or 1 to 3 of them."""
  values = _sides(x, arg)
  return values if isinstance(x, (tuple, list)) else values[0]


def _minmax(x, arg: str) -> tuple[float, float]:
  _static(x, arg, "a pair (lo, hi) of floats")
  try:
    lo, hi = (float(v) for v in x)
  except (TypeError, ValueError):
    raise TypeError(
        f"{arg}: expected a pair (lo, hi) of floats, got {x!r}."
    ) from None
  if not 0.0 < lo < hi <= 1.0:
    raise ValueError(f"{arg}: expected 0 < lo < hi <= 1, got ({lo}, {hi}).")
  return lo, hi


def _std(x, arg: str) -> float:
  _static(x, arg, "a positive float")
  return _Number(0, math.inf, low_open=True)(x, arg)


def _rng(x, arg: str) -> jax.Array:
  """A typed key, or a raw key of the default implementation (wrapped)."""
  dtype = getattr(x, "dtype", None)
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    if np.shape(x) != ():
      raise ValueError(
          f"{arg}: expected a single PRNG key (shape ()), got a key array of "
          f"shape {tuple(np.shape(x))}; split it outside, or use jax.vmap."
      )
    return x
  raw_shape = jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape
  if dtype != jnp.uint32 or tuple(np.shape(x)) != raw_shape:
    raise TypeError(
        f"{arg}: expected a PRNG key from jax.random.key(seed), or a raw key "
        f"from jax.random.PRNGKey(seed) (uint32{list(raw_shape)}), got "
        f"{describe(x)}."
    )
  return jax.random.wrap_key_data(x)


def _batch(x, arg: str, *, allow_bool: bool, min_rank: int = 1) -> jax.Array:
  kinds = "a float, bfloat16, integer" + (" or bool" if allow_bool else "")
  x = _array(x, arg, kinds=kinds, allow_bool=allow_bool)
  if x.ndim < min_rank:
    raise ValueError(
        f"{arg}: expected a batch of rank >= {min_rank}, got shape {x.shape}."
    )
  if x.shape[0] == 0:
    raise ValueError(f"{arg}: expected a non-empty batch, got shape {x.shape}.")
  return x


def _images(x, arg: str, *, allow_bool: bool = True) -> jax.Array:
  return _batch(x, arg, allow_bool=allow_bool, min_rank=2)


def _axes(x, arg: str, *, shape: tuple[int, ...]) -> tuple[int, ...]:
  """The cut axes of ``images`` of this shape; (1, 2) (NHWC) by default."""
  ndim = len(shape)
  if x is None:
    if ndim < 3:
      raise ValueError(
          f"images: expected images of rank >= 3 such as (batch, height, "
          f"width, channels), got shape {shape}; to cut other axes pass "
          "axes=..., e.g. axes=(1,) for (batch, time)."
      )
    if ndim == 4 and shape[1] <= 4 < shape[3]:
      raise ValueError(
          f"images: shape {shape} looks channels-first (NCHW), but the "
          "default axes=(1, 2) cut NHWC's height and width; pass axes=(2, 3) "
          "for NCHW, or axes=(1, 2) to cut axes 1 and 2 as they are."
      )
    x = (1, 2)
  axes = ints(x, arg)
  if not 1 <= len(axes) <= 3:
    raise ValueError(f"{arg}: expected 1, 2 or 3 axes, got {axes}.")
  if any(not -ndim <= a < ndim for a in axes):
    raise ValueError(
        f"{arg}: expected axes in [1, {ndim - 1}] of images of shape {shape}, "
        f"got {axes}."
    )
  axes = tuple(a % ndim for a in axes)
  if len(set(axes)) != len(axes) or 0 in axes:
    raise ValueError(
        f"{arg}: expected different axes other than the batch axis 0, got "
        f"{tuple(x)}."
    )
  size = tuple(shape[a] for a in axes)
  if min(size) < 1 or math.prod(size) > _MAX_ELEMENTS:
    raise ValueError(
        f"images: expected cut axes {axes} of 1 to 2**31 - 1 elements, got "
        f"shape {shape}."
    )
  return axes


def _box(x, arg: str, *, size: tuple[int, ...] | None):
  """A box rule from `cutmix_jax.boxes`, able to paste on cut axes of ``size``."""
  from cutmix_jax._src import box_rules

  if x is None:
    x = box_rules.paper()
  if not isinstance(x, box_rules.BoxRule):
    _static(x, arg, "a rule from cutmix_jax.boxes")
    raise TypeError(
        f"{arg}: expected a rule from cutmix_jax.boxes such as "
        f"boxes.minmax(0.2, 0.8), got {describe(x)}."
    )
  if size is not None:
    x.validate(size, f"cut axes of size {size}")
  return x


def _axis_name(x, arg: str):
  if x is not None:
    _static(x, arg, "a mesh axis name")
    hash(x)
  return x


def _known_labels_in_range(labels: jax.Array, num_classes: int) -> None:
  if is_traced(labels):
    return
  values = np.asarray(labels).astype(np.int64)
  bad = (values < 0) | (values >= num_classes)
  if bad.any():
    raise ValueError(
        f"labels: expected class indices in [0, {num_classes}), got "
        f"{values[bad][:5].tolist()} (min {values.min()}, max {values.max()})."
    )


def _labels(
    x, arg: str, *, batch: int | None, num_classes: int | None
) -> tuple[jax.Array, int]:
  """Integer ``(B,)`` or float ``(B, K)`` labels; returns them and ``K``."""
  x = _array(x, arg, kinds="integer or float", allow_bool=False)
  if jnp.issubdtype(x.dtype, jnp.integer):
    if x.ndim != 1:
      raise ValueError(
          f"{arg}: integer labels must have shape (batch,), got {x.shape}."
      )
    if num_classes is None:
      raise ValueError(
          "num_classes: integer labels need num_classes to be one-hot "
          "encoded; pass num_classes=K, or one-hot float labels (batch, K)."
      )
    _known_labels_in_range(x, num_classes)
  else:
    if x.ndim != 2:
      raise ValueError(
          f"{arg}: float labels must be one-hot or soft, of shape (batch, "
          f"num_classes), got {x.shape}."
      )
    if num_classes is not None and x.shape[1] != num_classes:
      raise ValueError(
          f"{arg}: float labels have {x.shape[1]} classes on their last axis "
          f"but num_classes={num_classes}."
      )
    num_classes = x.shape[1]
  if batch is not None and x.shape[0] != batch:
    raise ValueError(
        f"{arg}: expected a batch of {batch} to match images, got "
        f"{x.shape[0]} (shape {x.shape})."
    )
  return x, num_classes


def _class_indices(x, arg: str, *, logits_shape) -> jax.Array:
  """Integer labels ``(B,)`` for the loss, whose classes the logits give."""
  x = _array(x, arg, kinds="an integer", allow_bool=False)
  if not jnp.issubdtype(x.dtype, jnp.integer):
    raise TypeError(
        f"{arg}: expected integer class indices, got {x.dtype}; for soft "
        "labels use optax.softmax_cross_entropy(logits, mixed_labels)."
    )
  if x.shape != logits_shape[:1]:
    raise ValueError(
        f"{arg}: expected shape ({logits_shape[0]},) to match logits, got "
        f"{x.shape}."
    )
  _known_labels_in_range(x, logits_shape[1])
  return x


def _logits(x, arg: str) -> jax.Array:
  x = _array(x, arg, kinds="a float", allow_bool=False)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise TypeError(f"{arg}: expected a float dtype, got {x.dtype}.")
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError(
        f"{arg}: expected float[batch, num_classes], got shape {x.shape}."
    )
  return x


def _bounds(x, arg: str, *, size: tuple[int, ...]) -> jax.Array:
  """Integer boxes ``[..., 2k]`` for ``k = len(size)`` cut axes."""
  x = _array(x, arg, kinds="an integer", allow_bool=False)
  if not jnp.issubdtype(x.dtype, jnp.integer):
    raise TypeError(f"{arg}: expected integer bounds, got {x.dtype}.")
  if x.ndim < 1 or x.shape[-1] != 2 * len(size):
    raise ValueError(
        f"{arg}: expected int[..., {2 * len(size)}] boxes ({len(size)} starts, "
        f"then {len(size)} ends) for the size {size}, got shape {x.shape}."
    )
  return x.astype(jnp.int32)


# The fields of MixParams: dtype kind, the dtype they are stored in, and
# their shape after the batch axis.
_FIELDS = {
    "box": (jnp.integer, jnp.int32, "2k"),
    "lam": (jnp.floating, jnp.float32, ""),
    "partner": (jnp.integer, jnp.int32, ""),
    "applied": (jnp.bool_, jnp.bool_, ""),
    "is_cutmix": (jnp.bool_, jnp.bool_, ""),
}


def _params(x, arg: str, *, batch: int, num_axes: int | None = None):
  """Drawn or hand-built `MixParams` for a batch of ``batch``."""
  from cutmix_jax._src import sampling

  if not isinstance(x, sampling.MixParams):
    raise TypeError(
        f"{arg}: expected cutmix_jax.MixParams, got {type(x).__name__}."
    )
  fields = {}
  for name, (kind, dtype, rest) in _FIELDS.items():
    value = getattr(x, name)
    try:
      value = jnp.asarray(value)
    except TypeError:
      raise TypeError(
          f"{arg}: expected an array for {name}, got {describe(value)}."
      ) from None
    if not jnp.issubdtype(value.dtype, kind) and not (
        name == "lam" and jnp.issubdtype(value.dtype, jnp.integer)
    ):
      raise TypeError(
          f"{arg}: expected {jnp.dtype(dtype).name} values for {name}, got "
          f"{value.dtype}."
      )
    if rest:
      width = 2 * num_axes if num_axes else None
      ok = (
          value.ndim == 2
          and value.shape[0] == batch
          and value.shape[1] in ((width,) if width else (2, 4, 6))
      )
      expected = f"({batch}, {width or '2k'})"
    else:
      ok = value.shape == (batch,)
      expected = f"({batch},)"
    if not ok:
      raise ValueError(
          f"{arg}: expected {name} of shape {expected}, got {value.shape}."
      )
    fields[name] = value.astype(dtype)
  if not is_traced(fields["partner"]):
    partner = np.asarray(fields["partner"])
    if ((partner < 0) | (partner >= batch)).any():
      raise ValueError(
          f"{arg}: expected partner indices in [0, {batch}), got "
          f"{partner.tolist()[:8]}."
      )
  return sampling.MixParams(**fields)


_RULES: dict[str, Callable[..., Any]] = {
    "rng": _rng,
    "images": _images,
    "labels": _labels,
    "logits": _logits,
    "class_indices": _class_indices,
    "params": _params,
    "alpha": _Number(
        0, math.inf, low_open=True, meaning=" (Beta(alpha, alpha))"
    ),
    "mixup_alpha": _Number(0, math.inf, meaning=" (0 turns MixUp off)"),
    "cutmix_alpha": _Number(0, math.inf, meaning=" (0 turns CutMix off)"),
    "prob": _Number(0, 1),
    "switch_prob": _Number(0, 1),
    "label_smoothing": _Number(0, 1, high_open=True),
    "mode": _choice(MODES),
    "label_mode": _choice(LABEL_MODES),
    "num_classes": _num_classes,
    "axes": _axes,
    "box": _box,
    "axis_name": _axis_name,
    # The arguments of the box rules and geometry functions.
    "size": _sides,
    "bounds": _bounds,
    "std": _std,
    "minmax": _minmax,
    "sides": _side_or_sides,
    "patch_size": _side_or_sides,
    "input_size": _sides,
}


def check(arg: str, value, *, rule: str | None = None, **context):
  """Checks one argument by its rule; returns it in the form the core uses.

  Args:
    arg: the argument's name, as messages say it.
    value: what the caller passed.
    rule: the rule's name in `_RULES` when it differs from ``arg``.
    **context: what the rule needs to know (the batch size, the shape).
  """
  return _RULES[rule or arg](value, arg, **context)
