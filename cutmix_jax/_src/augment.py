"""The random functions users call: draw parameters, then apply them."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import labels as labels_lib
from cutmix_jax._src import mixing
from cutmix_jax._src import sampling
from cutmix_jax._src import validation


def _check_batch(rng, images, labels, spatial_axes, num_classes, label_smoothing):
  validation.check_rng(rng)
  images = jnp.asarray(images)
  labels = jnp.asarray(labels)
  batch, h_axis, w_axis, _ = validation.check_images(images, spatial_axes)
  validation.check_labels(labels, batch, num_classes)
  validation.check_label_smoothing(label_smoothing)
  return images, labels, batch, images.shape[h_axis], images.shape[w_axis]


def cutmix(
    rng: jax.Array, images: ArrayLike, labels: ArrayLike,
    alpha: ArrayLike = 1.0, *, num_classes: int | None = None,
    mode: str = "batch", prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
    minmax: tuple[float, float] | None = None,
    spatial_axes: Sequence[int] = (1, 2),
    center_std: ArrayLike | None = None,
    box_size: int | tuple[int, int] | None = None,
    label_mode: str = "area", axis_name: str | None = None,
    return_params: bool = False,
):
  """CutMix (Yun et al., 2019): paste a box from a partner, mix labels by area.

  Draws the paper's box (see `sample_cutmix_params`), pastes the partner's
  pixels inside it with a pure select (`cut_and_paste`: the dtype is kept and
  every value comes from the example or its partner) and mixes the labels
  with the exact pasted pixel fraction (`mix_labels`). Call it inside your
  jitted train step; ``alpha``, ``prob`` and ``label_smoothing`` may be traced
  scalars, so changing them does not recompile.

  Args:
    rng: a PRNG key, e.g. ``jax.random.fold_in(aug_key, step)``.
    images: ``[B, H, W, C]`` (NHWC) or any layout named by ``spatial_axes``;
      float32, bfloat16, uint8 or any numeric dtype.
    labels: ``int[B]`` class indices (needs ``num_classes``) or ``float[B, K]``.
    alpha: the Beta(alpha, alpha) parameter, > 0.
    num_classes: ``K``, for integer labels.
    mode: ``"batch"`` (the paper: one box for the batch), ``"elem"`` (a box
      per example) or ``"pair"`` (random pairs swap one box).
    prob: probability of mixing (per batch or per example/pair), in ``[0, 1]``.
    label_smoothing: ``eps`` in ``[0, 1)``, applied before mixing.
    minmax: timm's ``cutmix_minmax`` ``(lo, hi)`` box side ratios.
    spatial_axes: the ``(height, width)`` axes; ``(2, 3)`` for NCHW or for
      video ``(B, T, H, W, C)``.
    center_std: the paper's centre-Gaussian ablation (std in image sides).
    box_size: the paper's fixed-size ablation, e.g. ``16`` on CIFAR.
    label_mode: ``"area"`` (the paper), ``"larger_area"`` or ``"complete"``.
    axis_name: the mesh axis when called inside `jax.shard_map` (see
      `per_shard`).
    return_params: also return the drawn `MixParams`.

  Returns:
    ``(mixed_images, mixed_labels)``: images of the input shape and dtype and
    ``float32[B, K]`` labels; with ``return_params`` a third item, the
    `MixParams`.

  Raises:
    ValueError, TypeError: at trace time, for inputs whose shape, dtype or
      value does not fit; the message names the argument.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> images = jnp.zeros((8, 32, 32, 3), jnp.uint8)
    >>> labels = jnp.arange(8) % 10
    >>> mixed, soft = jax.jit(cutmix_jax.cutmix, static_argnames="num_classes")(
    ...     jax.random.key(0), images, labels, 1.0, num_classes=10)
    >>> mixed.dtype, soft.shape
    (dtype('uint8'), (8, 10))

    A linearly decaying probability from an optax schedule, fed as a traced
    scalar (no recompilation as it changes):

    >>> import optax
    >>> schedule = optax.linear_schedule(1.0, 0.0, transition_steps=1000)
    >>> step = 250
    >>> _ = cutmix_jax.cutmix(jax.random.key(step), images, labels,
    ...                       prob=schedule(step), num_classes=10)
  """
  images, labels, batch, height, width = _check_batch(
      rng, images, labels, spatial_axes, num_classes, label_smoothing)
  params = sampling.sample_cutmix_params(
      rng, batch, height, width, alpha, mode=mode, prob=prob, minmax=minmax,
      center_std=center_std, box_size=box_size, label_mode=label_mode,
      axis_name=axis_name)
  mixed = mixing.cut_and_paste(images, params, spatial_axes=spatial_axes)
  mixed_labels = labels_lib.mix_labels(
      labels, params, num_classes=num_classes, label_smoothing=label_smoothing)
  return (mixed, mixed_labels, params) if return_params else (mixed, mixed_labels)


def mixup(
    rng: jax.Array, images: ArrayLike, labels: ArrayLike,
    alpha: ArrayLike = 1.0, *, num_classes: int | None = None,
    mode: str = "batch", prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0, axis_name: str | None = None,
    return_params: bool = False,
):
  """MixUp (Zhang et al., 2018): blend images and labels with ``lam ~ Beta(alpha, alpha)``.

  Pixels are blended in float32 and cast back to the input dtype; integer
  images are rounded to the nearest value, then clipped to the dtype's range.

  Args:
    rng: a PRNG key.
    images: ``[B, ...]``, any numeric dtype and layout.
    labels: ``int[B]`` (needs ``num_classes``) or ``float[B, K]``.
    alpha: the Beta parameter, > 0.
    num_classes: ``K``, for integer labels.
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    prob: probability of mixing, in ``[0, 1]``.
    label_smoothing: ``eps`` in ``[0, 1)``, applied before mixing.
    axis_name: the mesh axis inside `jax.shard_map`.
    return_params: also return the drawn `MixParams`.

  Returns:
    ``(mixed_images, mixed_labels)`` (and the `MixParams` if asked).

  Raises:
    ValueError, TypeError: at trace time, naming the argument.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> images = jnp.ones((4, 8, 8, 3), jnp.bfloat16)
    >>> mixed, soft = cutmix_jax.mixup(jax.random.key(0), images, jnp.arange(4),
    ...                                0.2, num_classes=4)
    >>> mixed.dtype, soft.shape
    (dtype(bfloat16), (4, 4))
  """
  validation.check_rng(rng)
  images = jnp.asarray(images)
  labels = jnp.asarray(labels)
  if images.ndim < 2 or not jnp.issubdtype(images.dtype, jnp.number):
    raise ValueError(
        "images: expected a numeric batch of rank >= 2, got "
        f"{images.dtype}{list(images.shape)}.")
  validation.check_labels(labels, images.shape[0], num_classes)
  validation.check_label_smoothing(label_smoothing)
  params = sampling.sample_mixup_params(
      rng, images.shape[0], alpha, mode=mode, prob=prob, axis_name=axis_name)
  mixed = mixing.blend(images, params)
  mixed_labels = labels_lib.mix_labels(
      labels, params, num_classes=num_classes, label_smoothing=label_smoothing)
  return (mixed, mixed_labels, params) if return_params else (mixed, mixed_labels)


def mixup_or_cutmix(
    rng: jax.Array, images: ArrayLike, labels: ArrayLike, *,
    mixup_alpha: ArrayLike = 0.8, cutmix_alpha: ArrayLike = 1.0,
    switch_prob: ArrayLike = 0.5, prob: ArrayLike = 1.0, mode: str = "batch",
    label_smoothing: ArrayLike = 0.0,
    minmax: tuple[float, float] | None = None,
    num_classes: int | None = None, spatial_axes: Sequence[int] = (1, 2),
    label_mode: str = "area", axis_name: str | None = None,
    return_params: bool = False,
):
  """timm's ``Mixup`` as a pure function: CutMix with ``switch_prob``, else MixUp.

  The choice is made per batch or per example (``mode``) inside one compiled
  program: both are computed and one is selected, so there is no Python
  branching and no recompilation. The defaults are DeiT's recipe.

  Args:
    rng: a PRNG key.
    images: ``[B, H, W, C]`` or the layout named by ``spatial_axes``.
    labels: ``int[B]`` (needs ``num_classes``) or ``float[B, K]``.
    mixup_alpha: MixUp's Beta parameter; 0 turns MixUp off.
    cutmix_alpha: CutMix's Beta parameter; 0 turns CutMix off.
    switch_prob: probability of CutMix when both are on.
    prob: probability of mixing at all.
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    label_smoothing: ``eps`` in ``[0, 1)``.
    minmax: timm's ``cutmix_minmax``.
    num_classes: ``K``, for integer labels.
    spatial_axes: the ``(height, width)`` axes.
    label_mode: CutMix's label rule (``"area"`` by default).
    axis_name: the mesh axis inside `jax.shard_map`.
    return_params: also return the drawn `MixParams`.

  Returns:
    ``(mixed_images, mixed_labels)`` (and the `MixParams` if asked).

  Raises:
    ValueError, TypeError: at trace time, naming the argument.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> mixed, soft = cutmix_jax.mixup_or_cutmix(
    ...     jax.random.key(0), jnp.zeros((4, 32, 32, 3)), jnp.arange(4),
    ...     num_classes=10, mode="elem", label_smoothing=0.1)
    >>> soft.shape
    (4, 10)
  """
  images, labels, batch, height, width = _check_batch(
      rng, images, labels, spatial_axes, num_classes, label_smoothing)
  params = sampling.sample_mixup_or_cutmix_params(
      rng, batch, height, width, mixup_alpha=mixup_alpha,
      cutmix_alpha=cutmix_alpha, switch_prob=switch_prob, prob=prob, mode=mode,
      minmax=minmax, label_mode=label_mode, axis_name=axis_name)
  mixed = mixing.mix_images(images, params, spatial_axes=spatial_axes)
  mixed_labels = labels_lib.mix_labels(
      labels, params, num_classes=num_classes, label_smoothing=label_smoothing)
  return (mixed, mixed_labels, params) if return_params else (mixed, mixed_labels)
