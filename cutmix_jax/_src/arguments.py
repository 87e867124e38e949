"""The argument rules: every check of a user's argument, written once.

Public functions check each argument once, at their entry, with `check`,
which looks its rule up in `_RULES`; the private core trusts what it gets.
Run-time numbers are checked when known (a traced one passes, and the
samplers keep every draw in range). Every message reads ``"{arg}: expected
{what}, got {what came}."``: `TypeError` for a wrong type or dtype,
`ValueError` for a wrong shape or value.
"""

from collections.abc import Callable
import functools
import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

MODES = ("batch", "elem", "pair")
LABEL_MODES = ("area", "larger_area", "complete")
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_ELEMENTS = (1 << 31) - 1  # box areas are int32
_REAL = (jnp.integer, jnp.floating)


def is_traced(x) -> bool:
  return isinstance(x, jax.core.Tracer)


def describe(x) -> str:
  """A short description of a value for messages."""
  if is_traced(x):
    return f"a traced {x.dtype}{list(x.shape)}"
  if isinstance(x, (jax.Array, np.ndarray, np.generic)):
    return f"{x.dtype}{list(np.shape(x))}"
  return type(x).__name__ if len(repr(x)) > 60 else repr(x)


def require(ok, arg: str, expected: str, got, error=ValueError) -> None:
  """Raises ``error`` in the one message form unless ``ok``."""
  if not ok:
    raise error(f"{arg}: expected {expected}, got {got}.")


class StaticOptionTracedError(TypeError):
  """An option that shapes the program arrived as an array, not a Python value."""

  def __init__(self, arg: str, expected: str, value):
    super().__init__(
        f"{arg}: expected {expected} known at trace time, got "
        f"{describe(value)}; pass a Python value (under jax.jit, mark it "
        f"static: jax.jit(fn, static_argnames=({arg!r},)))."
    )
    self.arg = arg


def _static(x, arg: str, expected: str):
  if isinstance(x, jax.Array):
    raise StaticOptionTracedError(arg, expected, x)
  return x


def _dtype_of(x):
  if hasattr(x, "dtype") or isinstance(x, (str, bytes, dict)) or x is None:
    return getattr(x, "dtype", None)
  try:
    return np.asarray(x).dtype
  except (TypeError, ValueError):
    return None


def _is(dtype, *kinds) -> bool:
  return dtype is not None and any(jnp.issubdtype(dtype, k) for k in kinds)


def _array(x, arg: str, kinds: str, dtypes=_REAL) -> jax.Array:
  """``x`` as an array whose dtype is one of ``dtypes``."""
  is_array = not (x is None or isinstance(x, (dict, str, bytes, set)))
  require(is_array, arg, "an array", type(x).__name__, TypeError)
  dtype = _dtype_of(x)
  require(_is(dtype, *dtypes), arg, f"{kinds} dtype", dtype, TypeError)
  return jnp.asarray(x)


def _number(x, arg: str, *, expected: str, ok: Callable, static=False):
  """A run-time real scalar (a static one if ``static``); checked if known."""
  if static:
    _static(x, arg, "a Python number")
  real = not isinstance(x, (bool, np.bool_)) and _is(_dtype_of(x), *_REAL)
  require(
      real and np.shape(x) == (), arg, "a real scalar", describe(x), TypeError
  )
  if is_traced(x):
    return x
  value = float(np.asarray(x))
  require(math.isfinite(value), arg, "a finite number", value)
  require(abs(value) <= _FLOAT32_MAX, arg, "a float32 number", value)
  require(ok(value), arg, expected, value)
  return value


def _range(expected: str, ok: Callable, static=False):
  return functools.partial(_number, expected=expected, ok=ok, static=static)


_UNIT = _range("a value in [0, 1]", lambda v: 0 <= v <= 1)


def _one_of(x, arg: str, options: tuple[str, ...]) -> str:
  _static(x, arg, f"one of {options}")
  require(isinstance(x, str) and x in options, arg, f"one of {options}", x)
  return x


def _int(x, arg: str, expected: str, low: int | None = None) -> int:
  _static(x, arg, expected)
  ok = isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))
  require(ok, arg, expected, describe(x), TypeError)
  require(low is None or x >= low, arg, expected, x)
  return int(x)


def _sides(x, arg: str, *, per_axis: bool = True):
  """1 to 3 positive sizes as a tuple (a single int stays one unless ``per_axis``)."""
  expected = "an int or a tuple of ints"
  _static(x, arg, expected)
  single = not isinstance(x, (tuple, list))
  values = tuple(_int(v, arg, expected) for v in ([x] if single else x))
  ok = 1 <= len(values) <= 3 and min(values) >= 1
  require(ok, arg, "1 to 3 positive sides", values)
  require(math.prod(values) <= _MAX_ELEMENTS, arg, "< 2**31 elements", values)
  return values[0] if single and not per_axis else values


def _minmax(x, arg: str) -> tuple[float, float]:
  _static(x, arg, "a pair (lo, hi) of floats")
  try:
    lo, hi = (float(v) for v in x)
  except (TypeError, ValueError):
    require(False, arg, "a pair (lo, hi) of floats", repr(x), TypeError)
  require(0.0 < lo < hi <= 1.0, arg, "0 < lo < hi <= 1", (lo, hi))
  return lo, hi


def _scale(x, arg: str):
  """ResizeMix's ``(lo, hi)`` in [0, 1]: a pair, or (from `per_shard`) an array."""
  ok = isinstance(x, (tuple, list)) and len(x) == 2 or np.shape(x) == (2,)
  expected = "a pair (lo, hi) of numbers in [0, 1]"
  require(ok and not isinstance(x, str), arg, expected, describe(x), TypeError)
  if not isinstance(x, (tuple, list)) and not is_traced(x):
    x = np.asarray(x)  # indexing a concrete array under a trace would trace it
  lo, hi = (_UNIT(x[i], arg) for i in range(2))
  known = not (is_traced(lo) or is_traced(hi))
  require(not known or lo <= hi, arg, "lo <= hi", (lo, hi))
  return lo, hi


def _rng(x, arg: str) -> jax.Array:
  """A typed key, or a raw key of the default implementation (wrapped)."""
  dtype = getattr(x, "dtype", None)
  if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    expected = "a single PRNG key (split it outside, or use jax.vmap)"
    require(np.shape(x) == (), arg, expected, f"shape {np.shape(x)}")
    return x
  raw_shape = jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape
  ok = dtype == jnp.uint32 and tuple(np.shape(x)) == raw_shape
  expected = "a PRNG key from jax.random.key(seed) or jax.random.PRNGKey(seed)"
  require(ok, arg, expected, describe(x), TypeError)
  return jax.random.wrap_key_data(x)


def _images(x, arg: str, *, allow_bool: bool = True) -> jax.Array:
  kinds = "a float, bfloat16, integer" + (" or bool" if allow_bool else "")
  x = _array(x, arg, kinds, _REAL + ((jnp.bool_,) if allow_bool else ()))
  require(x.ndim >= 2, arg, "a batch of rank >= 2", f"shape {x.shape}")
  require(x.shape[0] > 0, arg, "a non-empty batch", f"shape {x.shape}")
  return x


def _axes(x, arg: str, *, shape: tuple[int, ...]) -> tuple[int, ...]:
  """The cut axes of images of this shape; (1, 2) (NHWC) by default."""
  ndim = len(shape)
  if x is None:
    expected = "rank >= 3, e.g. NHWC (or pass axes=(1,) for (batch, time))"
    require(ndim >= 3, "images", expected, f"shape {shape}")
    channels_first = ndim == 4 and shape[1] <= 4 < shape[3]
    expected = "NHWC for the default axes; pass axes=(2, 3) for NCHW"
    require(not channels_first, "images", expected, f"shape {shape}")
    x = (1, 2)
  axes = tuple(_int(a, arg, "a tuple of ints") for a in x)
  expected = f"1 to 3 different axes in [1, {ndim - 1}] for shape {shape}"
  ok = 1 <= len(axes) <= 3 and all(-ndim <= a < ndim for a in axes)
  require(ok, arg, expected, axes)
  normal = tuple(a % ndim for a in axes)
  require(0 not in normal and len(set(normal)) == len(normal), arg, expected, x)
  size = tuple(shape[a] for a in normal)
  ok = min(size) >= 1 and math.prod(size) <= _MAX_ELEMENTS
  expected = f"cut axes {normal} of 1 to 2**31 - 1 elements"
  require(ok, "images", expected, f"shape {shape}")
  return normal


def _box(x, arg: str, *, size: tuple[int, ...] | None):
  """A box rule from `cutmix_jax.boxes`, able to paste on cut axes of ``size``."""
  from cutmix_jax._src import box_rules

  x = box_rules.paper() if x is None else x
  _static(x, arg, "a rule from cutmix_jax.boxes")
  expected = "a rule from cutmix_jax.boxes such as boxes.minmax(0.2, 0.8)"
  require(isinstance(x, box_rules.BoxRule), arg, expected, repr(x), TypeError)
  if size is not None:
    x.validate(size, f"cut axes of size {size}")
  return x


def _in_range(labels: jax.Array, num_classes: int, arg: str) -> None:
  """Known integer labels lie in ``[0, K)``, whatever their dtype."""
  if not is_traced(labels):
    values = np.asarray(labels).astype(np.int64)
    bad = values[(values < 0) | (values >= num_classes)]
    expected = f"class indices in [0, {num_classes})"
    require(bad.size == 0, arg, expected, bad[:5].tolist())


def _labels(x, arg: str, *, batch: int | None, num_classes: int | None):
  """Integer ``(B,)`` or float ``(B, K)`` labels; returns them and ``K``."""
  x = _array(x, arg, "an integer or float")
  if jnp.issubdtype(x.dtype, jnp.integer):
    require(x.ndim == 1, arg, "integer labels of shape (batch,)", x.shape)
    expected = "a number of classes for integer labels (or one-hot labels)"
    if num_classes is None:
      require(False, "num_classes", expected, None)
    else:
      _in_range(x, num_classes, arg)
  else:
    expected = "float labels of shape (batch, num_classes)"
    require(x.ndim == 2, arg, expected, x.shape)
    ok = num_classes in (None, x.shape[1])
    require(ok, arg, f"{num_classes} classes on the last axis", x.shape)
    num_classes = x.shape[1]
  ok = batch in (None, x.shape[0])
  require(ok, arg, f"a batch of {batch} to match images", f"shape {x.shape}")
  return x, num_classes


def _class_indices(x, arg: str, *, logits_shape) -> jax.Array:
  """Integer labels ``(B,)`` for the loss, whose classes the logits give."""
  x = _array(x, arg, "an integer")
  expected = "integer class indices (soft labels: optax.softmax_cross_entropy)"
  require(_is(x.dtype, jnp.integer), arg, expected, x.dtype, TypeError)
  expected = f"shape ({logits_shape[0]},) to match logits"
  require(x.shape == logits_shape[:1], arg, expected, x.shape)
  _in_range(x, logits_shape[1], arg)
  return x


def _floats(x, arg: str, ranks: tuple[int, ...], shapes: str) -> jax.Array:
  """A float array of one of these ranks (logits, attention)."""
  x = _array(x, arg, "a float", (jnp.floating,))
  require(x.ndim in ranks and x.shape[0] > 0, arg, shapes, f"shape {x.shape}")
  return x


def _bounds(x, arg: str, *, size: tuple[int, ...]) -> jax.Array:
  """Integer boxes ``[..., 2k]`` for ``k = len(size)`` cut axes."""
  x = _array(x, arg, "an integer")
  require(_is(x.dtype, jnp.integer), arg, "integer bounds", x.dtype, TypeError)
  expected = f"int[..., {2 * len(size)}] boxes (starts, then ends) for {size}"
  require(x.ndim >= 1 and x.shape[-1] == 2 * len(size), arg, expected, x.shape)
  return x.astype(jnp.int32)


# MixParams' fields: the kind of dtype each takes, and its dtype in the core.
_FIELDS = dict(
    box=(jnp.integer, jnp.int32),
    lam=(jnp.number, jnp.float32),
    partner=(jnp.integer, jnp.int32),
    applied=(jnp.bool_, jnp.bool_),
    is_cutmix=(jnp.bool_, jnp.bool_),
)


def _params(x, arg: str, *, batch: int, num_axes: int | None = None):
  """Drawn or hand-built `MixParams` for a batch of ``batch``."""
  from cutmix_jax._src import sampling

  got = type(x).__name__
  require(isinstance(x, sampling.MixParams), arg, "MixParams", got, TypeError)
  widths = (2 * num_axes,) if num_axes else (2, 4, 6)
  fields = {"resized": x.resized}
  for name, (kind, dtype) in _FIELDS.items():
    value = getattr(x, name)
    expected = f"{name} of {np.dtype(dtype).name} values"
    require(
        _is(_dtype_of(value), kind), arg, expected, describe(value), TypeError
    )
    value = jnp.asarray(value)
    ok, expected = value.ndim == 1, f"{name} of shape ({batch},)"
    if name == "box":
      ok = value.ndim == 2 and value.shape[1] in widths
      expected = f"box of shape ({batch}, {' or '.join(map(str, widths))})"
    require(ok and value.shape[0] == batch, arg, expected, value.shape)
    fields[name] = value.astype(dtype)
  if x.resized is not None:
    fields["resized"] = jnp.asarray(x.resized)
    ok = fields["resized"].dtype == bool and fields["resized"].shape == (batch,)
    require(ok, arg, f"resized of bool[{batch}] or None", describe(x.resized))
  if not is_traced(fields["partner"]):
    partner = np.asarray(fields["partner"])
    ok = bool(((partner >= 0) & (partner < batch)).all())
    require(ok, arg, f"partner indices in [0, {batch})", partner.tolist()[:8])
  return sampling.MixParams(**fields)


def _num_classes(x, arg: str) -> int | None:
  return None if x is None else _int(x, arg, "a positive int", low=1)


def _axis_name(x, arg: str):
  return _static(x, arg, "a mesh axis name")


_RULES: dict[str, Callable[..., Any]] = {
    # The batch.
    "rng": _rng,
    "images": _images,
    "labels": _labels,
    "class_indices": _class_indices,
    "logits": functools.partial(
        _floats, ranks=(2,), shapes="float[batch, num_classes]"
    ),
    "attention": functools.partial(
        _floats, ranks=(2, 3), shapes="float[batch, (heads,) tokens]"
    ),
    "params": _params,
    # Run-time numbers: may be traced (a schedule) without recompiling.
    "alpha": _range("a value > 0 (Beta(alpha, alpha))", lambda v: v > 0),
    "mixup_alpha": _range("a value >= 0 (0 turns MixUp off)", lambda v: v >= 0),
    "cutmix_alpha": _range(
        "a value >= 0 (0 turns CutMix off)", lambda v: v >= 0
    ),
    "prob": _UNIT,
    "switch_prob": _UNIT,
    "label_smoothing": _range("a value in [0, 1)", lambda v: 0 <= v < 1),
    "scale": _scale,
    # Static options: Python values that shape the program.
    "mode": functools.partial(_one_of, options=MODES),
    "label_mode": functools.partial(_one_of, options=LABEL_MODES),
    "num_classes": _num_classes,
    "axes": _axes,
    "box": _box,
    "axis_name": _axis_name,
    # The arguments of the box rules and of the geometry.
    "size": _sides,
    "input_size": _sides,
    "sides": functools.partial(_sides, per_axis=False),
    "patch_size": functools.partial(_sides, per_axis=False),
    "bounds": _bounds,
    "std": _range("a value > 0", lambda v: v > 0, static=True),
    "minmax": _minmax,
}


def check(arg: str, value, *, rule: str | None = None, **context) -> Any:
  """Checks the argument ``arg`` by its rule (``rule`` or ``arg``); returns
  it as the core uses it. ``context``: what the rule needs (batch, shape)."""
  return _RULES[rule or arg](value, arg, **context)
