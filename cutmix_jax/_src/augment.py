"""The random functions users call: draw parameters, then apply them."""

from collections.abc import Sequence

import jax
from jax.typing import ArrayLike

from cutmix_jax._src import box_options
from cutmix_jax._src import boxes
from cutmix_jax._src import labels as labels_lib
from cutmix_jax._src import mixing
from cutmix_jax._src import params as params_lib
from cutmix_jax._src import sampling
from cutmix_jax._src import validation

# The mixed images and labels, and the drawn parameters with return_params.
_Mixed = (
    tuple[jax.Array, jax.Array]
    | tuple[jax.Array, jax.Array, params_lib.MixParams]
)


def _check_data(
    images, labels, num_classes, *, min_rank: int, allow_bool: bool
) -> tuple[int, ...]:
  """Checks images and labels together; returns the images' shape."""
  shape = validation.check_batch(
      images, min_rank=min_rank, allow_bool=allow_bool
  )
  validation.check_labels(labels, shape[0], num_classes)
  return shape


def cutmix(
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    alpha: ArrayLike = 1.0,
    *,
    num_classes: int | None = None,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
    minmax: tuple[float, float] | None = None,
    axes: int | Sequence[int] | None = None,
    spatial_axes: Sequence[int] | None = None,
    center_std: ArrayLike | None = None,
    box_size: int | Sequence[int] | None = None,
    patch_size: int | Sequence[int] | None = None,
    input_size: Sequence[int] | None = None,
    label_mode: str = "area",
    axis_name: str | None = None,
    return_params: bool = False,
) -> _Mixed:
  """CutMix (Yun et al., 2019): paste a box from a partner, mix labels by area.

  The box can cut 1, 2 or 3 axes (``axes``); the axes not listed are taken
  whole. On ``(B, T, H, W, C)`` video that gives VideoMix (Yun et al., 2020):
  ``axes=(2, 3)`` a spatial box through every frame (S-VideoMix),
  ``axes=(1,)`` a run of whole frames (T-VideoMix), ``axes=(1, 2, 3)`` a
  spatio-temporal cuboid (ST-VideoMix). ``axes=(1,)`` on ``(B, T, F)`` cuts
  a time segment of a spectrogram or sequence, ``axes=(1, 2, 3)`` on
  ``(B, D, H, W, C)`` a box of a volume. The label weight is always the
  exact pasted fraction of the cut axes.

  Draws the paper's box (see `sample_cutmix_params`), pastes the partner's
  pixels inside it with a pure select (`cut_and_paste`: the dtype is kept and
  every value comes from the example or its partner) and mixes the labels
  with the exact pasted pixel fraction (`mix_labels`). Call it inside your
  jitted train step; ``alpha``, ``prob`` and ``label_smoothing`` may be traced
  scalars, so changing them does not recompile.

  Args:
    rng: a PRNG key, e.g. ``jax.random.fold_in(aug_key, step)``.
    images: ``[B, H, W, C]`` (NHWC) or any layout whose cut axes ``axes``
      names; float32, bfloat16, uint8, any numeric dtype, or bool.
    labels: ``int[B]`` class indices (needs ``num_classes``) or ``float[B, K]``.
    alpha: the Beta(alpha, alpha) parameter, > 0. A known value is checked;
      a traced one is not, and one that is 0, negative or NaN mixes nothing
      (see `sample_cutmix_params`).
    num_classes: ``K``, for integer labels.
    mode: ``"batch"`` (the paper: one box for the batch), ``"elem"`` (a box
      per example) or ``"pair"`` (random pairs swap one box).
    prob: probability of mixing (per batch or per example/pair), in ``[0, 1]``.
    label_smoothing: ``eps`` in ``[0, 1)``, applied before mixing.
    minmax: timm's ``cutmix_minmax`` ``(lo, hi)`` box side ratios.
    axes: the 1 to 3 axes the box cuts; ``(1, 2)`` (height and width of
      NHWC images) by default; ``(2, 3)`` for NCHW.
    spatial_axes: the name of ``axes`` before 0.2, accepted with the same
      meaning (pass one of the two).
    center_std: the paper's centre-Gaussian ablation (std in image sides).
    box_size: the paper's fixed-size ablation, e.g. ``16`` on CIFAR.
    patch_size: boxes on a ViT's patch grid, e.g. ``16``: the rule runs on
      the grid and the box is scaled up, so every token comes whole from one
      image (see `sample_cutmix_params`).
    input_size: feature-level CutMix (the paper's variant): the ``(H, W)``
      the boxes are drawn at, e.g. the input images' size when ``images`` is
      a feature map. The boxes are drawn there exactly as for input-level
      CutMix, mapped to this array's size with `rescale_boxes`, and the label
      weights are the pasted fraction at this array's size. ``None`` (the
      default) draws at this array's own size.
    label_mode: ``"area"`` (the paper), ``"larger_area"`` or ``"complete"``.
    axis_name: the mesh axis when called inside `jax.shard_map` (see
      `per_shard`).
    return_params: also return the drawn `MixParams`.

  Returns:
    ``(mixed_images, mixed_labels)``: images of the input shape and dtype and
    ``float32[B, K]`` labels; with ``return_params`` a third item, the
    `MixParams`.

  Raises:
    TypeError: for a wrong type or dtype, or a static option that is traced.
    ValueError: for a wrong shape or value (a known ``alpha``, ``prob``,
      ``label_smoothing``, ``center_std`` or label out of range, options that
      cannot go together); the message names the argument.

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
  shape = _check_data(images, labels, num_classes, min_rank=2, allow_bool=True)
  axes = box_options.resolve_axes(axes, spatial_axes, len(shape))
  size = tuple(shape[a] for a in axes)
  draw_size = size
  if input_size is not None and patch_size is not None:
    raise ValueError(
        "input_size, patch_size: both set; boxes rescaled from input_size "
        "need not fall on a patch grid, so pass one of them."
    )
  if input_size is not None:
    draw_size = box_options.check_size(input_size, arg="input_size")
    if len(draw_size) != len(size):
      raise ValueError(
          f"input_size: expected {len(size)} sides (one per cut axis), got "
          f"{draw_size}."
      )
  label_mode = validation.check_label_mode(label_mode)
  label_smoothing = validation.check_label_smoothing(label_smoothing)
  params = sampling.sample_cutmix_params(
      rng,
      shape[0],
      draw_size,
      alpha,
      mode=mode,
      prob=prob,
      minmax=minmax,
      center_std=center_std,
      box_size=box_size,
      patch_size=patch_size,
      axis_name=axis_name,
  )
  if draw_size != size:
    params = boxes.settle_boxes(
        params._replace(box=boxes.rescale_boxes(params.box, draw_size, size)),
        size,
    )
  params = params._replace(
      lam=labels_lib.label_weights(params, size, label_mode=label_mode)
  )
  mixed = mixing.cut_and_paste(images, params, axes=axes)
  mixed_labels = labels_lib.mix_labels(
      labels, params, num_classes=num_classes, label_smoothing=label_smoothing
  )
  return (
      (mixed, mixed_labels, params) if return_params else (mixed, mixed_labels)
  )


def mixup(
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    alpha: ArrayLike = 1.0,
    *,
    num_classes: int | None = None,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
    axis_name: str | None = None,
    return_params: bool = False,
) -> _Mixed:
  """MixUp (Zhang et al., 2018): blend images and labels with ``lam ~ Beta(alpha, alpha)``.

  Pixels are blended in float32 and cast back to the input dtype; integer
  images are rounded to the nearest value, then clipped to the dtype's range
  (32- and 64-bit integers blend in float64 when x64 is on). Examples that
  are not mixed come out bitwise unchanged (see `blend`).

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
    TypeError, ValueError: as `cutmix`, naming the argument.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> images = jnp.ones((4, 8, 8, 3), jnp.bfloat16)
    >>> mixed, soft = cutmix_jax.mixup(jax.random.key(0), images, jnp.arange(4),
    ...                                0.2, num_classes=4)
    >>> mixed.dtype, soft.shape
    (dtype(bfloat16), (4, 4))
  """
  shape = _check_data(images, labels, num_classes, min_rank=2, allow_bool=False)
  label_smoothing = validation.check_label_smoothing(label_smoothing)
  params = sampling.sample_mixup_params(
      rng, shape[0], alpha, mode=mode, prob=prob, axis_name=axis_name
  )
  mixed = mixing.blend(images, params)
  mixed_labels = labels_lib.mix_labels(
      labels, params, num_classes=num_classes, label_smoothing=label_smoothing
  )
  return (
      (mixed, mixed_labels, params) if return_params else (mixed, mixed_labels)
  )


def mixup_or_cutmix(
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    *,
    mixup_alpha: ArrayLike = 0.8,
    cutmix_alpha: ArrayLike = 1.0,
    switch_prob: ArrayLike = 0.5,
    prob: ArrayLike = 1.0,
    mode: str = "batch",
    label_smoothing: ArrayLike = 0.0,
    minmax: tuple[float, float] | None = None,
    num_classes: int | None = None,
    axes: int | Sequence[int] | None = None,
    spatial_axes: Sequence[int] | None = None,
    patch_size: int | Sequence[int] | None = None,
    label_mode: str = "area",
    axis_name: str | None = None,
    return_params: bool = False,
) -> _Mixed:
  """timm's ``Mixup`` as a pure function: CutMix with ``switch_prob``, else MixUp.

  The choice is made per batch or per example (``mode``) inside one compiled
  program: both are computed and one is selected, so there is no Python
  branching and no recompilation. The defaults are DeiT's recipe.

  Args:
    rng: a PRNG key.
    images: ``[B, H, W, C]`` or the layout whose cut axes ``axes`` names.
    labels: ``int[B]`` (needs ``num_classes``) or ``float[B, K]``.
    mixup_alpha: MixUp's Beta parameter; 0 turns MixUp off.
    cutmix_alpha: CutMix's Beta parameter; 0 turns CutMix off.
    switch_prob: probability of CutMix when both are on.
    prob: probability of mixing at all.
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    label_smoothing: ``eps`` in ``[0, 1)``.
    minmax: timm's ``cutmix_minmax``.
    num_classes: ``K``, for integer labels.
    axes: the 1 to 3 axes CutMix cuts, as for `cutmix`.
    spatial_axes: the name of ``axes`` before 0.2.
    patch_size: CutMix boxes on a patch grid, as for `cutmix`.
    label_mode: CutMix's label rule (``"area"`` by default).
    axis_name: the mesh axis inside `jax.shard_map`.
    return_params: also return the drawn `MixParams`.

  Returns:
    ``(mixed_images, mixed_labels)`` (and the `MixParams` if asked).

  Raises:
    TypeError, ValueError: as `cutmix`, naming the argument.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> mixed, soft = cutmix_jax.mixup_or_cutmix(
    ...     jax.random.key(0), jnp.zeros((4, 32, 32, 3)), jnp.arange(4),
    ...     num_classes=10, mode="elem", label_smoothing=0.1)
    >>> soft.shape
    (4, 10)
  """
  mixup_alpha = validation.check_alpha(
      mixup_alpha, arg="mixup_alpha", allow_zero=True
  )
  blends = validation.is_traced(mixup_alpha) or mixup_alpha != 0
  # Bool masks can be pasted but not blended.
  shape = _check_data(
      images, labels, num_classes, min_rank=2, allow_bool=not blends
  )
  axes = box_options.resolve_axes(axes, spatial_axes, len(shape))
  label_mode = validation.check_label_mode(label_mode)
  label_smoothing = validation.check_label_smoothing(label_smoothing)
  size = tuple(shape[a] for a in axes)
  params = sampling.sample_mixup_or_cutmix_params(
      rng,
      shape[0],
      size,
      mixup_alpha=mixup_alpha,
      cutmix_alpha=cutmix_alpha,
      switch_prob=switch_prob,
      prob=prob,
      mode=mode,
      minmax=minmax,
      patch_size=patch_size,
      axis_name=axis_name,
  )
  params = params._replace(
      lam=labels_lib.label_weights(params, size, label_mode=label_mode)
  )
  if blends:
    mixed = mixing.mix_images(images, params, axes=axes)
  else:
    mixed = mixing.cut_and_paste(images, params, axes=axes)
  mixed_labels = labels_lib.mix_labels(
      labels, params, num_classes=num_classes, label_smoothing=label_smoothing
  )
  return (
      (mixed, mixed_labels, params) if return_params else (mixed, mixed_labels)
  )
