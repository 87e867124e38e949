"""Applying drawn parameters to pixels: paste (CutMix) and blend (MixUp).

Both are selects in the end: an example that is not applied (or whose
weight is exactly 1) is its own input, bitwise, whatever the partner holds
(inf, NaN, -0.0); a weight of exactly 0 gives the partner's values bitwise.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from cutmix_jax._src import box_options
from cutmix_jax._src import masks
from cutmix_jax._src import params as params_lib
from cutmix_jax._src import validation


def _batch_sharding(x: jax.Array):
  """The sharding of ``x`` if its batch axis is sharded over explicit mesh axes."""
  sharding = getattr(jax.typeof(x), "sharding", None)
  spec = getattr(sharding, "spec", None)
  if spec is None or len(spec) == 0 or spec[0] is None:
    return None
  return sharding


def shard_like_batch(values, batch: jax.Array):
  """Lays out per-example arrays along ``batch``'s explicitly sharded axis.

  On an explicit-axes mesh (`jax.set_mesh` with `jax.make_mesh`'s default)
  an elementwise select needs its operands sharded alike; the parameters are
  drawn replicated, so they are resharded to the batch's first axis (a local
  slice, no communication). Elsewhere this returns ``values`` unchanged.
  """
  sharding = _batch_sharding(batch)
  if sharding is None:
    return values

  def reshard(x):
    spec = P(sharding.spec[0], *([None] * (x.ndim - 1)))
    return jax.sharding.reshard(x, NamedSharding(sharding.mesh, spec))

  return jax.tree.map(reshard, values)


def take_partners(x: jax.Array, partner: jax.Array) -> jax.Array:
  """``x[partner]``, keeping the batch's sharding on explicit-axes meshes.

  The partners of a shard may live on other devices, so XLA then moves them:
  use `per_shard` to keep mixing local.
  """
  sharding = _batch_sharding(x)
  if sharding is not None:
    return x.at[partner].get(out_sharding=sharding)
  return x[partner]


def interpolate(
    own: jax.Array,
    other: jax.Array,
    weight: jax.Array,
    mixed: jax.Array | None = None,
) -> jax.Array:
  """``weight * own + (1 - weight) * other``, exact at the ends.

  A weight of 1 selects ``own`` and a weight of 0 selects ``other``, so an
  unmixed row never sees its partner's values (an inf there would give NaN).
  ``mixed`` replaces the blend when the caller computed it another way.
  """
  if mixed is None:
    mixed = weight * own + (1 - weight) * other
  return jnp.where(weight == 1, own, jnp.where(weight == 0, other, mixed))


def _params_for(
    images: jax.Array, params: params_lib.MixParams, arg: str
) -> params_lib.MixParams:
  if not isinstance(params, params_lib.MixParams):
    raise TypeError(
        f"params: expected cutmix_jax.MixParams, got {type(params)}."
    )
  batch = params.partner.shape[0]
  validation.check_same_batch(images.shape, batch, arg=arg, against="params")
  return shard_like_batch(params, images)


def cut_and_paste(
    images: jax.typing.ArrayLike,
    params: params_lib.MixParams,
    *,
    axes: int | Sequence[int] | None = None,
    spatial_axes: Sequence[int] | None = None,
) -> jax.Array:
  """Pastes each example's box from its partner: CutMix on pixels, a pure select.

  No arithmetic touches the pixels, so any dtype (uint8, bfloat16, float32,
  bool or integer segmentation masks) comes out unchanged in dtype and every
  value comes from the example or its partner; rows whose box is empty come
  out bitwise unchanged. Works on any array whose cut axes match the boxes:
  NHWC images, NCHW (``axes=(2, 3)``), masks ``(B, H, W)``, video
  ``(B, T, H, W, C)`` (``axes=(2, 3)``, ``(1,)`` or ``(1, 2, 3)``),
  spectrograms ``(B, T, F)`` (``axes=(1,)``).

  Args:
    images: the batch, ``[B, ...]``.
    params: `MixParams` for a batch of ``B``, with ``int32[B, 2k]`` boxes for
      ``k`` cut axes drawn for these axes' sizes (use `rescale_boxes` for
      other resolutions).
    axes: the ``k`` axes the boxes cut; ``(1, 2)`` (NHWC) by default.
    spatial_axes: the name of ``axes`` before 0.2, same meaning.

  Returns:
    An array of the shape and dtype of ``images``.

  Raises:
    ValueError, TypeError: for a rank, axes, dtype or batch that do not fit.

  Examples:
    >>> import jax.numpy as jnp
    >>> import cutmix_jax
    >>> images = jnp.stack([jnp.zeros((4, 4), jnp.uint8), jnp.ones((4, 4), jnp.uint8)])
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.array([[0, 0, 2, 2], [0, 0, 0, 0]]), lam=jnp.array([0.75, 1.0]),
    ...     partner=jnp.array([1, 1]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([True, True]))
    >>> cutmix_jax.cut_and_paste(images, params)[0].tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
  """
  shape = validation.check_batch(images, min_rank=2)
  images = jnp.asarray(images)
  axes = box_options.resolve_axes(axes, spatial_axes, len(shape))
  params = _params_for(images, params, "images")
  if params.box.shape[-1] != 2 * len(axes):
    raise ValueError(
        f"params: boxes of shape {params.box.shape} do not fit the {len(axes)} "
        f"cut axes {axes} (expected (batch, {2 * len(axes)}))."
    )
  size = tuple(shape[a] for a in axes)
  mask = masks.broadcast_box_mask(params.box, len(shape), axes, size)
  return jnp.where(mask, take_partners(images, params.partner), images)


def _blend_dtype(dtype):
  """Floats blend in (at least) float32; integers in float32, or float64 with x64."""
  if jnp.issubdtype(dtype, jnp.floating):
    return jnp.promote_types(dtype, jnp.float32)
  if np.dtype(dtype).itemsize >= 4 and jax.config.read("jax_enable_x64"):
    return jnp.float64
  return jnp.float32


def _integer_bounds(dtype, compute):
  """The dtype's range as ``compute`` floats that cast back without overflow."""
  info = jnp.iinfo(dtype)
  bounds = []
  for value, toward in ((info.min, np.inf), (info.max, -np.inf)):
    x = np.asarray(value, compute)
    if int(x) < info.min or int(x) > info.max:
      x = np.nextafter(x, np.asarray(toward, compute))
    bounds.append(x)
  return bounds


def _blend_values(images: jax.Array, params: params_lib.MixParams) -> jax.Array:
  compute = _blend_dtype(images.dtype)
  weight = params.lam.astype(compute).reshape((-1,) + (1,) * (images.ndim - 1))
  partners = take_partners(images, params.partner)
  mixed = weight * images.astype(compute) + (1 - weight) * partners.astype(
      compute
  )
  if jnp.issubdtype(images.dtype, jnp.integer):
    lo, hi = _integer_bounds(images.dtype, compute)
    mixed = jnp.clip(jnp.round(mixed), lo, hi)
  mixed = mixed.astype(images.dtype)
  # The select runs in the input dtype, so the ends are bitwise.
  weight = jnp.where(params.applied, params.lam, 1.0).reshape(weight.shape)
  return interpolate(images, partners, weight, mixed)


def blend(
    images: jax.typing.ArrayLike, params: params_lib.MixParams
) -> jax.Array:
  """MixUp on pixels: ``lam * own + (1 - lam) * partner's``.

  Computed in float32 (float64 for 32- and 64-bit integers when x64 is on)
  and cast back to the input dtype; integer images are rounded to the nearest
  integer, then clipped to the dtype's range. Rows that are not applied, or
  whose ``lam`` is 1, come out bitwise unchanged; a ``lam`` of 0 gives the
  partner's values bitwise.

  Args:
    images: ``[B, ...]`` any layout; the blend does not care where H and W are.
    params: `MixParams` for a batch of ``B``; ``params.lam`` is the weight.

  Returns:
    An array of the shape and dtype of ``images``.

  Raises:
    TypeError: for bool or non-numeric images.
    ValueError: for a batch that does not match ``params``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import cutmix_jax
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.zeros((2, 4), jnp.int32), lam=jnp.array([0.25, 1.0]),
    ...     partner=jnp.array([1, 1]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([False, False]))
    >>> images = jnp.array([0, 200], jnp.uint8).reshape(2, 1, 1, 1)
    >>> cutmix_jax.blend(images, params).ravel().tolist()
    [150, 200]
  """
  validation.check_batch(images, allow_bool=False)
  images = jnp.asarray(images)
  return _blend_values(images, _params_for(images, params, "images"))


def mix_images(
    images: jax.typing.ArrayLike,
    params: params_lib.MixParams,
    *,
    axes: int | Sequence[int] | None = None,
    spatial_axes: Sequence[int] | None = None,
) -> jax.Array:
  """Applies parameters that may mix both ways: paste where ``is_cutmix``, else blend.

  This is what `mixup_or_cutmix` uses. Both results are computed and one is
  selected per example, so a single compiled program serves every draw.

  Args:
    images: the batch, as for `cut_and_paste`; not bool (MixUp blends).
    params: `MixParams` for a batch of ``B``.
    axes: the axes the boxes cut, as for `cut_and_paste`.
    spatial_axes: the name of ``axes`` before 0.2.

  Returns:
    An array of the shape and dtype of ``images``.

  Raises:
    ValueError, TypeError: as `cut_and_paste` and `blend`.
  """
  validation.check_batch(images, min_rank=2, allow_bool=False)
  images = jnp.asarray(images)
  pasted = cut_and_paste(images, params, axes=axes, spatial_axes=spatial_axes)
  params = _params_for(images, params, "images")
  blended = _blend_values(images, params)
  is_cut = params.is_cutmix.reshape((-1,) + (1,) * (images.ndim - 1))
  return jnp.where(is_cut, pasted, blended)
