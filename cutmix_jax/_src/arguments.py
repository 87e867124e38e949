"""The argument rules, each written once: `check` runs one on an argument."""

from collections.abc import Callable
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cutmix_jax._src.checks import array
from cutmix_jax._src.checks import describe
from cutmix_jax._src.checks import dtype_of
from cutmix_jax._src.checks import float_for
from cutmix_jax._src.checks import int32_range
from cutmix_jax._src.checks import is_kind
from cutmix_jax._src.checks import is_traced
from cutmix_jax._src.checks import known_values
from cutmix_jax._src.checks import REAL
from cutmix_jax._src.checks import refuse
from cutmix_jax._src.checks import require
from cutmix_jax._src.checks import static
from cutmix_jax._src.checks import static_int
from cutmix_jax._src.checks import static_string

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_ELEMENTS = (1 << 31) - 1  # box areas are int32


def _number(expected: str, test: Callable, is_static=False) -> Callable:
  """A real scalar's rule, checked if known (``is_static``: a Python float)."""

  def rule(x, arg: str):
    if is_static and is_traced(x):
      static(x, arg, "a number")
    real = not isinstance(x, (bool, np.bool_)) and is_kind(dtype_of(x), *REAL)
    ok = real and np.shape(x) == ()
    require(ok, arg, "a real scalar", describe(x), TypeError)
    if is_traced(x):
      return x
    value = float(np.asarray(x))
    require(math.isfinite(value), arg, "a finite number", value)
    require(abs(value) <= _FLOAT32_MAX, arg, "a float32 number", value)
    require(test(value), arg, expected, value)
    return value

  return rule


def _num_classes(x, arg: str) -> int | None:
  expected = "an int in [1, 2**31)"
  return x if x is None else static_int(x, arg, expected, 1, _MAX_ELEMENTS)


def _sides(x, arg: str, *, per_axis: bool = True):
  """1 to 3 positive sizes as a tuple (a single int stays one unless ``per_axis``)."""
  expected = "an int or a tuple of ints"
  x = x.tolist() if isinstance(x, np.ndarray) else x  # e.g. np.shape's part
  single = not isinstance(x, (tuple, list))
  values = tuple(static_int(v, arg, expected) for v in ([x] if single else x))
  ok = 1 <= len(values) <= 3 and min(values) >= 1
  require(ok, arg, "1 to 3 positive sides", values)
  require(math.prod(values) <= _MAX_ELEMENTS, arg, "< 2**31 elements", values)
  return values[0] if single and not per_axis else values


def _minmax(x, arg: str) -> tuple[float, float]:
  lo, hi = (_RULES["static_number"](v, n) for v, n in zip(x, ("lo", "hi")))
  require(0.0 < lo < hi <= 1.0, arg, "0 < lo < hi <= 1", (lo, hi))
  return lo, hi


def _scale(x, arg: str):
  """ResizeMix's ``(lo, hi)`` in [0, 1]: a pair, or (from `per_shard`) an array."""
  ok = isinstance(x, (tuple, list)) and len(x) == 2 or np.shape(x) == (2,)
  expected = "a pair (lo, hi) of numbers in [0, 1]"
  require(ok, arg, expected, describe(x), TypeError)
  if not isinstance(x, (tuple, list)) and not is_traced(x):
    x = np.asarray(x)  # indexing a concrete array under a trace would trace it
  lo, hi = (_RULES["prob"](x[i], arg) for i in range(2))
  require(is_traced(lo + hi) or lo <= hi, arg, "lo <= hi", (lo, hi))
  return lo, hi


def _axis_name(x, arg: str):
  """None, or a mesh axis (or a tuple of axes) bound by `jax.shard_map`."""
  try:
    if static(x, arg, "a mesh axis name") is not None:
      jax.lax.axis_size(x)  # raises unless jax.shard_map binds it
  except (NameError, ValueError):  # unbound; an int is a positional axis
    refuse(arg, "an axis bound by jax.shard_map (per_shard sets it)", repr(x))
  return x


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


def _images(x, arg: str, *, allow_bool=True, min_rank=2) -> jax.Array:
  kinds = ("a bool, " if allow_bool else "a ") + "float, bfloat16 or integer"
  x = array(x, arg, kinds, (*REAL, jnp.bool_) if allow_bool else REAL)
  expected = f"a batch of rank >= {min_rank}"
  require(x.ndim >= min_rank, arg, expected, f"shape {x.shape}")
  require(x.shape[0] > 0, arg, "a non-empty batch", f"shape {x.shape}")
  return x


def _axes(x, arg: str, *, shape: tuple[int, ...]) -> tuple[int, ...]:
  """The cut axes of images of this shape; (1, 2) (NHWC) by default."""
  ndim = len(shape)
  if x is None:
    expected = "rank >= 3, e.g. NHWC (or pass axes=(1,) for (batch, time))"
    require(ndim >= 3, "images", expected, f"shape {shape}")
    # Channels first: few on axis 1, more on both others (not a 4x4x512 map).
    channels_first = ndim == 4 and shape[1] <= 4 < min(shape[2:])
    expected = "NHWC for the default axes; pass axes=(2, 3) for NCHW"
    require(not channels_first, "images", expected, f"shape {shape}")
    x = (1, 2)
  x = x.tolist() if isinstance(x, np.ndarray) else x  # a 0-d one too
  x = x if isinstance(x, (tuple, list)) else (x,)
  axes = tuple(static_int(a, arg, "a tuple of ints") for a in x)
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
  static(x, arg, "a rule from cutmix_jax.boxes")
  expected = "a rule from cutmix_jax.boxes such as boxes.minmax(0.2, 0.8)"
  require(isinstance(x, box_rules.BoxRule), arg, expected, repr(x), TypeError)
  if size is not None:
    x.validate(size, f"cut axes of size {size}")
  return x


def _labels(x, arg: str, *, batch, num_classes, of: str = "images"):
  """Integer ``(B,)`` or float ``(B, K)`` labels; returns them and ``K``."""
  raw, x = x, array(x, arg, "an integer or float")  # raw: NumPy stays known
  if jnp.issubdtype(x.dtype, jnp.integer):
    require(x.ndim == 1, arg, "integer labels of shape (batch,)", x.shape)
    expected = "a number of classes for integer labels (or one-hot labels)"
    require(num_classes is not None, "num_classes", expected, None)
    values = known_values(raw)  # whatever their dtype, read as given
    if values is not None:
      values = values.astype(np.int64)
      bad = values[(values < 0) | (values >= num_classes)]
      expected = f"class indices in [0, {num_classes})"
      require(bad.size == 0, arg, expected, bad[:5].tolist())
  else:
    expected = "float labels of shape (batch, num_classes)"
    require(x.ndim == 2, arg, expected, x.shape)
    ok = num_classes in (None, x.shape[1])
    require(ok, arg, f"{num_classes} classes on the last axis", x.shape)
    num_classes = x.shape[1]
  ok = batch in (None, x.shape[0])
  require(ok, arg, f"a batch of {batch} to match {of}", f"shape {x.shape}")
  return x, num_classes


def _class_indices(x, arg: str, *, logits_shape) -> jax.Array:
  """Integer labels ``(B,)`` for the loss, whose classes the logits give."""
  dtype = dtype_of(x)  # None (not an array): _labels says so
  expected = "integer class indices (soft labels: optax.softmax_cross_entropy)"
  ok = dtype is None or is_kind(dtype, jnp.integer)
  require(ok, arg, expected, dtype, TypeError)
  batch, num_classes = logits_shape
  return _labels(x, arg, batch=batch, num_classes=num_classes, of="logits")[0]


def _floats(ranks: tuple[int, ...], shapes: str) -> Callable:
  """The rule of a float array of one of these ranks (logits, attention)."""

  def rule(x, arg: str) -> jax.Array:
    x = array(x, arg, "a float", (jnp.floating,))
    require(x.ndim in ranks and x.shape[0] > 0, arg, shapes, f"shape {x.shape}")
    return x

  return rule


def _bounds(x, arg: str, *, size: tuple[int, ...]) -> jax.Array:
  """Integer boxes ``[..., 2k]`` for ``k = len(size)`` cut axes."""
  x = array(int32_range(x), arg, "an integer", (jnp.integer,))
  expected = f"int[..., {2 * len(size)}] boxes (starts, then ends) for {size}"
  require(x.ndim >= 1 and x.shape[-1] == 2 * len(size), arg, expected, x.shape)
  return x.astype(jnp.int32)


# Each MixParams field: dtypes taken (numbers as bools, as in 0.2), dtype used.
_BOOL = ((jnp.bool_, *REAL), jnp.bool_)
_FIELDS = dict(
    box=((jnp.integer,), jnp.int32),
    lam=(REAL, jnp.float32),
    partner=((jnp.integer,), jnp.int32),
    applied=_BOOL,
    is_cutmix=_BOOL,
    resized=_BOOL,
)


def _params(x, arg: str, *, batch: int, num_axes: int | None = None):
  """Drawn or hand-built `MixParams` for a batch of ``batch``."""
  from cutmix_jax._src import sampling

  got = type(x).__name__
  require(isinstance(x, sampling.MixParams), arg, "MixParams", got, TypeError)
  widths = (2 * num_axes,) if num_axes else (2, 4, 6)
  fields = {}
  for name, (kinds, dtype) in _FIELDS.items():
    value = fields[name] = getattr(x, name)
    if value is None and (name == "resized" or name == "box" and not num_axes):
      continue  # a method that never resizes; a box that no caller reads
    expected = f"{name} of {np.dtype(dtype).name} values"
    got = describe(value)
    require(is_kind(dtype_of(value), *kinds), arg, expected, got, TypeError)
    value = jnp.asarray(int32_range(value))
    ndim = 2 if name == "box" else 1
    if value.ndim == ndim - 1:  # one value (or box) for every row
      value = jnp.broadcast_to(value, (batch, *value.shape))
    ok, expected = value.ndim == ndim, f"{name} of shape ({batch},)"
    if name == "box":
      ok = ok and value.shape[1] in widths
      expected = f"box of shape ({batch}, {' or '.join(map(str, widths))})"
    require(ok and value.shape[0] == batch, arg, expected, value.shape)
    if name == "lam":  # x64's float64 stays
      dtype = float_for(value.dtype)
    fields[name] = value.astype(dtype)
  if (partner := known_values(x.partner)) is not None:  # not int32-wrapped
    bad = partner[(partner < 0) | (partner >= batch)].tolist()  # 0-d too
    require(not bad, arg, f"partner indices in [0, {batch})", bad[:5])
  if (lam := known_values(fields["lam"])) is not None:
    bad = lam[~((lam >= 0) & (lam <= 1))].tolist()  # NaN too is refused
    require(not bad, arg, "lam in [0, 1]", bad[:5])
  return sampling.MixParams(**fields)


_RULES: dict[str, Callable[..., Any]] = {
    # The batch.
    "rng": _rng,
    "images": _images,
    "labels": _labels,
    "class_indices": _class_indices,
    "logits": _floats((2,), "float[batch, num_classes]"),
    "attention": _floats((2, 3), "float[batch, (heads,) tokens]"),
    "params": _params,
    # Run-time numbers: checked when known; a traced one (a schedule) passes.
    "alpha": _number("a value > 0 (Beta(alpha, alpha))", lambda v: v > 0),
    "mixup_alpha": _number("a value >= 0 (0 turns it off)", lambda v: v >= 0),
    "cutmix_alpha": _number("a value >= 0 (0 turns it off)", lambda v: v >= 0),
    "number": _number("a real number", lambda v: True),
    "prob": _number("a value in [0, 1]", lambda v: 0 <= v <= 1),
    "label_smoothing": _number(
        "a value in [0, 1) as a float32", lambda v: 0 <= v and np.float32(v) < 1
    ),
    "scale": _scale,
    # Static options: Python values that shape the program.
    "mode": static_string(("batch", "elem", "pair")),
    "label_mode": static_string(("area", "larger_area", "complete")),
    "num_classes": _num_classes,
    "axes": _axes,
    "box": _box,
    "axis_name": _axis_name,
    # The arguments of the box rules and of the geometry.
    "size": _sides,
    "sides": functools.partial(_sides, per_axis=False),
    "bounds": _bounds,
    "std": _number("a value > 0", lambda v: v > 0, is_static=True),
    "static_number": _number("a real number", lambda v: True, is_static=True),
    "minmax": _minmax,
}


def check(arg: str, value, *, rule: str | None = None, **context) -> Any:
  """``value`` checked by the rule of ``arg`` (or ``rule``), as the core uses it."""
  return _RULES[rule or arg](value, arg, **context)
