"""The random functions users call, and `with_params` for the drawn parameters."""

from collections.abc import Callable, Sequence
import functools
import inspect

import jax
from jax.typing import ArrayLike

from cutmix_jax._src import box_rules
from cutmix_jax._src import steps


def random_function(
    draw_and_apply: Callable, method: steps.Method | None = None
) -> Callable:
  """Makes a public function, and its `with_params` twin, from a signature."""

  def decorate(declaration: Callable) -> Callable:
    signature = inspect.signature(declaration)

    @functools.wraps(declaration)
    def twin(*args, **kwargs) -> steps.Mixed:
      bound = signature.bind(*args, **kwargs)
      bound.apply_defaults()
      return draw_and_apply(**bound.arguments)

    @functools.wraps(declaration)
    def public(*args, **kwargs) -> tuple[jax.Array, jax.Array]:
      mixed, soft, _ = twin(*args, **kwargs)
      return mixed, soft

    twin.__doc__ = f"`{declaration.__name__}`, also returning MixParams."
    # per_shard checks these functions' arguments on the whole batch first.
    public._checks_arguments = twin._checks_arguments = True  # type: ignore
    public._with_params = twin  # type: ignore
    public._method = method  # type: ignore
    return public

  return decorate


@random_function(functools.partial(steps.run, steps.CUTMIX), steps.CUTMIX)
def cutmix(  # type: ignore[empty-body]
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    alpha: ArrayLike = 1.0,
    *,
    num_classes: int | None = None,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
    axes: int | Sequence[int] | None = None,
    box: box_rules.BoxRule | None = None,
    label_mode: str = "area",
    axis_name: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """CutMix (Yun et al., 2019): paste a box from a partner, mix labels by area.

  Pastes with a pure select (the dtype is kept; every value comes from the
  example or its partner) and mixes labels by the exact pasted fraction.
  ``alpha``, ``prob`` and ``label_smoothing`` may be traced (no recompiling).
  On ``(B, T, H, W, C)`` video ``axes=(2, 3)`` is S-VideoMix, ``(1,)`` T- and
  ``(1, 2, 3)`` ST-VideoMix (Yun et al., 2020); ``axes=(1,)`` on
  ``(B, T, F)`` spectrograms cuts a time segment.

  Args:
    rng: a PRNG key, e.g. ``jax.random.fold_in(aug_key, step)``.
    images: ``[B, H, W, C]``, or any layout whose cut axes ``axes`` names;
      any real dtype, or bool.
    labels: ``int[B]`` class indices (needs ``num_classes``) or ``float[B, K]``.
    alpha: the Beta(alpha, alpha) parameter, > 0; a traced one that is <= 0
      or NaN mixes nothing.
    num_classes: ``K``, for integer labels (static).
    mode: ``"batch"`` (the paper: one box per batch), ``"elem"`` (a box per
      example) or ``"pair"`` (random pairs swap one box).
    prob: the probability of mixing a batch, example or pair, in ``[0, 1]``.
    label_smoothing: ``eps`` in ``[0, 1)``, applied before mixing.
    axes: the 1 to 3 cut axes (static); ``(1, 2)`` by default, NCHW ``(2, 3)``.
    box: a rule from `cutmix_jax.boxes` (static); the paper's by default.
    label_mode: ``"area"`` (the paper), or its ablations ``"larger_area"``
      and ``"complete"``.
    axis_name: the mesh axis inside `jax.shard_map`; `per_shard` sets it.

  Returns:
    ``(mixed_images, mixed_labels)``: images of the input shape and dtype,
    and ``float32[B, K]`` labels.

  Raises:
    TypeError: for a wrong type or dtype, or a static option as an array.
    ValueError: for a wrong shape or value (also a box rule that cannot paste
      on these axes); the message names the argument.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> images, labels = jnp.zeros((8, 32, 32, 3), jnp.uint8), jnp.arange(8)
    >>> mix = jax.jit(cutmix_jax.cutmix, static_argnames="num_classes")
    >>> mixed, soft = mix(jax.random.key(0), images, labels, 1.0, num_classes=10)
    >>> mixed.dtype, soft.shape
    (dtype('uint8'), (8, 10))
  """


@random_function(functools.partial(steps.run, steps.MIXUP), steps.MIXUP)
def mixup(  # type: ignore[empty-body]
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
) -> tuple[jax.Array, jax.Array]:
  """MixUp (Zhang et al., 2018): blend images and labels by ``lam ~ Beta(alpha, alpha)``.

  Blends in float32 (float64 for 32- and 64-bit integers under x64) and
  casts back, integers rounded and clipped (see `blend`); rows not mixed come
  out bitwise unchanged.

  Args:
    images: ``[B, ...]``, any real dtype and layout.
    alpha: the Beta parameter, > 0.
    rng, labels, num_classes, mode, prob, label_smoothing, axis_name: as for
      `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> images = jnp.ones((4, 8, 8, 3), jnp.bfloat16)
    >>> mixed, soft = cutmix_jax.mixup(jax.random.key(0), images, jnp.arange(4),
    ...                                0.2, num_classes=4)
    >>> mixed.dtype, soft.shape
    (dtype(bfloat16), (4, 4))
  """


@random_function(steps.mixup_or_cutmix)
def mixup_or_cutmix(  # type: ignore[empty-body]
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
    num_classes: int | None = None,
    axes: int | Sequence[int] | None = None,
    box: box_rules.BoxRule | None = None,
    label_mode: str = "area",
    axis_name: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """timm's ``Mixup`` as a pure function: CutMix with ``switch_prob``, else MixUp.

  The method is chosen per batch, example or pair (``mode``). An alpha of 0
  (traced: <= 0) turns its method off, though a box rule with its own sides
  (``boxes.minmax``) keeps CutMix on. The defaults are DeiT's recipe.

  Args:
    mixup_alpha, cutmix_alpha: each method's Beta parameter, >= 0.
    switch_prob: the probability of CutMix when both are on.
    prob: the probability of mixing at all.
    rng, images, labels, mode, label_smoothing, num_classes, axes, box,
      label_mode, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`; ValueError if both alphas are 0.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> mixed, soft = cutmix_jax.mixup_or_cutmix(
    ...     jax.random.key(0), jnp.zeros((4, 32, 32, 3)), jnp.arange(4),
    ...     num_classes=10, mode="elem", label_smoothing=0.1)
    >>> soft.shape
    (4, 10)
  """


def with_params(fn: Callable) -> Callable:
  """The same random function, returning the drawn `MixParams` as well.

  Use the parameters to mix other arrays alike (masks: `cut_and_paste`), for
  `mixed_cross_entropy`, or to log the boxes.

  Args:
    fn: `cutmix`, `mixup` or `mixup_or_cutmix`, or a `functools.partial` of
      one. Wrap the result with `per_shard`, not the other way around.

  Returns:
    ``fn`` returning ``(mixed_images, mixed_labels, params)``.

  Raises:
    TypeError: if ``fn`` is not one of the library's random functions.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> images, masks = jnp.zeros((4, 32, 32, 3)), jnp.zeros((4, 32, 32), int)
    >>> mixed, soft, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
    ...     jax.random.key(0), images, jnp.arange(4), num_classes=4)
    >>> mixed_masks = cutmix_jax.cut_and_paste(masks, params)
    >>> params.box.shape, mixed_masks.shape
    ((4, 4), (4, 32, 32))
  """
  if isinstance(fn, functools.partial):
    return functools.partial(with_params(fn.func), *fn.args, **fn.keywords)
  twin = getattr(fn, "_with_params", None)
  if twin is None:
    hint = ""
    if hasattr(fn, "__wrapped__"):
      hint = "; for per_shard write per_shard(with_params(fn), mesh)"
    raise TypeError(
        "fn: expected cutmix_jax.cutmix, mixup or mixup_or_cutmix, or a "
        f"functools.partial of one, got {fn!r}{hint}."
    )
  return twin
