"""Applying parameters: paste (CutMix, ResizeMix), blend (MixUp), mix labels.

Everything ends in a select, so a row not applied is its own input bitwise
(whatever its partner holds) and a weight of 0 gives the partner's bitwise.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
import numpy as np

from cutmix_jax._src import arguments
from cutmix_jax._src import boxes
from cutmix_jax._src import checks
from cutmix_jax._src import sampling
from cutmix_jax._src import sharding


def interpolate(own, other, weight, mixed=None) -> jax.Array:
  """``weight * own + (1 - weight) * other`` (or ``mixed``, so computed), exact
  at the ends and for equal values."""
  if mixed is None:
    mixed = weight * own + (1 - weight) * other
  return _exact(mixed, own, other, weight)


@jax.custom_jvp
def _exact(mixed, own, other, weight) -> jax.Array:
  """``mixed``, but ``own`` at weight 1 or where ``own == other`` (a blend of
  two equal values is that value, even where the compute dtype cannot hold it:
  uint32's largest in float32) and ``other`` at weight 0. Differentiated as
  the blend: a select alone would give ``weight`` no derivative at the ends."""
  kept = jnp.where(own == other, own, mixed)
  return jnp.where(weight == 1, own, jnp.where(weight == 0, other, kept))


_exact.defjvp(lambda primals, dots: (_exact(*primals), dots[0]))


def per_row(values: jax.Array, ndim: int) -> jax.Array:
  """``[B]`` values shaped to broadcast against a batch of rank ``ndim``."""
  return values.reshape((-1,) + (1,) * (ndim - 1))


def own_weight(params, dtype) -> jax.Array:
  """Each row's weight of its own values: ``lam`` where applied, else 1."""
  return jnp.where(params.applied, params.lam, 1.0).astype(dtype)


def apply(images, params, axes, *, blends: bool, resize: str) -> jax.Array:
  """Each applied row takes its box from its partner (resized into it where
  ``params.resized``, by ``resize``), or a blend where it is not CutMix's."""
  params, partners = sharding.with_partners(images, params)
  mixed = images
  if axes is not None:
    size = tuple(images.shape[a] for a in axes)
    source = partners
    if params.resized is not None:
      # Boxes differ in size at run time, so the partner is resampled at the
      # array's own size, scaled and moved into its box; the select below
      # keeps it there. Inside, it equals jax.image.resize to the box.
      k = len(axes)
      start, side = params.box[:, :k], params.box[:, k:] - params.box[:, :k]
      resample = _nearest if resize == "nearest" else _linear
      resized = resample(partners, start, side, axes, size)
      source = jnp.where(per_row(params.resized, images.ndim), resized, source)
    inside = boxes.mask(params.box, images.ndim, axes, size)
    inside = inside & per_row(params.applied, images.ndim)
    mixed = jnp.where(inside, source, images)
  if blends:
    blended = _blend(images, partners, params)
    mixed = jnp.where(per_row(params.is_cutmix, images.ndim), mixed, blended)
  return mixed


def cast_to(x: jax.Array, dtype) -> jax.Array:
  """Back to ``dtype``: integers rounded, then clipped to its range."""
  if jnp.issubdtype(dtype, jnp.integer):
    info = jnp.iinfo(dtype)
    lo, hi = np.asarray(info.min, x.dtype), np.asarray(info.max, x.dtype)
    if int(hi) > info.max:  # rounded up out of range (int32's in float32)
      hi = np.nextafter(hi, lo)
    x = jnp.clip(jnp.round(x), lo, hi)
  return x.astype(dtype)


def _nearest(partners, start, side, axes, size) -> jax.Array:
  """Nearest-neighbour resampling, a pure gather (for masks and bools)."""
  out = partners
  for i, (axis, n) in enumerate(zip(axes, size)):
    position = jnp.arange(n, dtype=jnp.int32)[None, :] - start[:, i : i + 1]
    # jax.image.resize's own formula: floor((j + 0.5) * n / side), in float32.
    scaled = (position.astype(jnp.float32) + 0.5) * jnp.float32(n)
    divisor = jnp.maximum(side[:, i : i + 1], 1).astype(jnp.float32)
    source = jnp.floor(scaled / divisor)
    source = jnp.clip(source.astype(jnp.int32), 0, n - 1)
    shape = [1] * partners.ndim
    shape[0], shape[axis] = partners.shape[0], n
    out = jnp.take_along_axis(out, source.reshape(shape), axis=axis)
  return out


def _linear(partners, start, side, axes, size) -> jax.Array:
  """Bilinear resampling (antialiased when shrinking), cast back to the dtype."""
  dtype = partners.dtype
  compute = checks.float_for(dtype)
  dims = tuple(a - 1 for a in axes)
  sizes = boxes.per_axis(size, side.shape, jnp.float32)
  scale = side.astype(jnp.float32) / sizes

  def one(x, s, t):
    return jax.image.scale_and_translate(
        x.astype(compute), x.shape, dims, s, t.astype(jnp.float32), "linear"
    )

  out = jax.vmap(one)(partners, jnp.maximum(scale, 1e-6), start)
  return cast_to(out, dtype)


def _blend(images: jax.Array, partners: jax.Array, params) -> jax.Array:
  """MixUp of every applied row by ``params.lam``, at least in float32."""
  compute = checks.float_for(images.dtype)
  if images.dtype.kind in "iu" and images.dtype.itemsize >= 4:  # float64 if x64
    compute = jax.dtypes.canonicalize_dtype(jnp.float64)
  weight = per_row(own_weight(params, compute), images.ndim)
  own, other = images.astype(compute), partners.astype(compute)
  mixed = cast_to(weight * own + (1 - weight) * other, images.dtype)
  return interpolate(images, partners, weight, mixed)


def wide_labels(labels: jax.Array) -> jax.Array:
  """Integer labels of at least 32 bits, so that ``K`` fits (uint8, 256)."""
  return labels.astype(jnp.int32) if labels.dtype.itemsize < 4 else labels


def soft(labels: jax.Array, num_classes: int, label_smoothing) -> jax.Array:
  """``float32[B, K]`` (smoothed) labels; an integer out of range gives NaN."""
  if jnp.issubdtype(labels.dtype, jnp.integer):
    labels = wide_labels(labels)
    out = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    valid = (labels >= 0) & (labels < num_classes)
    out = jnp.where(valid[:, None], out, jnp.nan)
  else:
    out = labels.astype(checks.float_for(labels.dtype))
  eps = smoothing(label_smoothing, out.dtype)
  return out if eps is None else out * (1 - eps) + eps / num_classes


def smoothing(label_smoothing, dtype) -> jax.Array | None:
  """``eps`` as an array (None for a Python 0); a traced one outside [0, 1)
  (NaN too) smooths nothing."""
  if not checks.is_traced(label_smoothing) and label_smoothing == 0:
    return None
  eps = jnp.asarray(label_smoothing, dtype)
  return jnp.where((eps >= 0) & (eps < 1), eps, 0)


def mix_soft(soft: jax.Array, params) -> jax.Array:
  """``lam * own + (1 - lam) * partner's``; a row not applied keeps its own."""
  params, partners = sharding.with_partners(soft, params)
  return interpolate(soft, partners, own_weight(params, soft.dtype)[:, None])


def label_rule(params, label_mode: str) -> jax.Array:
  """The paper's label rules on pasted rows, from the area weights in ``lam``.

  ``"area"``: ``1 -`` the pasted fraction. ``"larger_area"``: 1 for the
  larger area's label (a tie keeps the own). ``"complete"``: 0.5 / 0.5.
  """
  if label_mode == "area":
    return params.lam
  ruled: float | jax.Array = 0.5  # "complete"
  if label_mode == "larger_area":
    ruled = jnp.where(params.lam >= 0.5, 1.0, 0.0)
  pasted = params.applied & params.is_cutmix
  return jnp.where(pasted, ruled, params.lam).astype(jnp.float32)


def cut_and_paste(
    images: ArrayLike,
    params: sampling.MixParams,
    *,
    axes: int | Sequence[int] | None = None,
) -> jax.Array:
  """Pastes each applied row's box from its partner: CutMix as a pure select.

  Any dtype is kept (bool and integer masks too) and every value comes from
  the row or its partner; rows not applied come out bitwise unchanged.
  ResizeMix rows (``params.resized``) get the whole partner resized into the
  box by nearest neighbour: that is how a mask follows `resizemix`.

  Args:
    images: ``[B, ...]``: NHWC images, masks ``[B, H, W]``, video, any array
      whose cut axes match the boxes.
    params: `MixParams` for ``B`` rows, boxes ``int[B, 2k]`` for ``k`` axes.
    axes: the ``k`` cut axes; ``(1, 2)`` by default, ``(2, 3)`` for NCHW.

  Returns:
    An array of the shape and dtype of ``images``.

  Raises:
    TypeError, ValueError: for images, axes or params that do not fit.

  Examples:
    >>> import jax.numpy as jnp, cutmix_jax
    >>> images = jnp.arange(2, dtype=jnp.uint8).reshape(2, 1, 1, 1) * jnp.ones(
    ...     (2, 4, 4, 1), jnp.uint8)
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.array([[0, 0, 2, 2], [0, 0, 0, 0]]), lam=jnp.array([0.75, 1.0]),
    ...     partner=jnp.array([1, 1]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([True, True]))
    >>> cutmix_jax.cut_and_paste(images, params)[0, ..., 0].tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
  """
  batch = arguments.check("images", images)
  cut = arguments.check("axes", axes, shape=batch.shape)
  params = arguments.check(
      "params", params, batch=batch.shape[0], num_axes=len(cut)
  )
  return apply(batch, params, cut, blends=False, resize="nearest")


def blend(images: ArrayLike, params: sampling.MixParams) -> jax.Array:
  """MixUp on values: ``lam * own + (1 - lam) * partner's`` for applied rows.

  Computed in float32 (float64 for 32- and 64-bit integers under x64), then
  cast back, integers rounded and clipped. A ``lam`` of 1 or 0 gives the own
  or the partner's values bitwise, and two equal values give that value.

  Args:
    images: ``[B, ...]``, any layout and numeric dtype (``[B]`` too).
    params: `MixParams` for ``B`` rows; ``params.lam`` is the weight.

  Returns:
    An array of the shape and dtype of ``images``.

  Raises:
    TypeError, ValueError: for bool images, or params that do not fit.

  Examples:
    >>> import jax.numpy as jnp, cutmix_jax
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.zeros((2, 4), jnp.int32), lam=jnp.array([0.25, 1.0]),
    ...     partner=jnp.array([1, 1]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([False, False]))
    >>> images = jnp.array([0, 200], jnp.uint8).reshape(2, 1, 1, 1)
    >>> cutmix_jax.blend(images, params).ravel().tolist()
    [150, 200]
  """
  batch = arguments.check("images", images, allow_bool=False, min_rank=1)
  params = arguments.check("params", params, batch=batch.shape[0])
  params, partners = sharding.with_partners(batch, params)
  return _blend(batch, partners, params)


def mix_labels(
    labels: ArrayLike,
    params: sampling.MixParams,
    *,
    num_classes: int | None = None,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
  """Mixes labels: ``lam * own + (1 - lam) * partner's``, smoothed first.

  Smoothing is timm's order (as `optax.smooth_labels`, then mixed). An
  integer label outside ``[0, K)`` known only at run time gives a row of
  NaN, never another class.

  Args:
    labels: ``int[B]`` (needs ``num_classes``) or ``float[B, K]``.
    params: `MixParams` for ``B`` rows.
    num_classes: ``K``, for integer labels (static).
    label_smoothing: ``eps`` in ``[0, 1)``.

  Returns:
    ``float32[B, K]`` soft labels (float64 for float64 labels).

  Raises:
    TypeError, ValueError: for labels that do not fit, or known labels out
      of range.

  Examples:
    >>> import jax.numpy as jnp, cutmix_jax
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.array([[0, 0, 2, 2], [0, 0, 0, 0]]), lam=jnp.array([0.75, 1.0]),
    ...     partner=jnp.array([1, 1]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([True, True]))
    >>> cutmix_jax.mix_labels(jnp.array([0, 2]), params, num_classes=3).tolist()
    [[0.75, 0.0, 0.25], [0.0, 0.0, 1.0]]
  """
  classes = arguments.check("num_classes", num_classes)
  own, classes = arguments.check(
      "labels", labels, batch=None, num_classes=classes
  )
  params = arguments.check("params", params, batch=own.shape[0])
  eps = arguments.check("label_smoothing", label_smoothing)
  return mix_soft(soft(own, classes, eps), params)
