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
  """Makes a public function from its signature, docs and ``draw_and_apply``.

  The public function returns the mixed images and labels; its twin for
  `with_params` (``._with_params``) returns the drawn `MixParams` too. Both
  take exactly the arguments of the decorated signature. ``method`` lets
  `one_of` apply it.
  """

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

  Draws a box (the paper's by default: its side from ``lam ~ Beta(alpha,
  alpha)``, see `cutmix_jax.boxes`), pastes the partner's values inside it
  with a pure select (the dtype is kept and every value comes from the
  example or its partner) and mixes the labels with the exact pasted
  fraction. Call it inside your jitted train step: ``alpha``, ``prob`` and
  ``label_smoothing`` may be traced scalars, so changing them does not
  recompile.

  The box cuts 1, 2 or 3 axes (``axes``); the others are taken whole. On
  ``(B, T, H, W, C)`` video ``axes=(2, 3)`` is S-VideoMix, ``axes=(1,)``
  T-VideoMix and ``axes=(1, 2, 3)`` ST-VideoMix (Yun et al., 2020);
  ``axes=(1,)`` on ``(B, T, F)`` cuts a time segment of a spectrogram.

  Args:
    rng: a PRNG key, e.g. ``jax.random.fold_in(aug_key, step)``.
    images: ``[B, H, W, C]`` (NHWC), or any layout whose cut axes ``axes``
      names; any real dtype, or bool.
    labels: ``int[B]`` class indices (needs ``num_classes``) or
      ``float[B, K]``.
    alpha: the Beta(alpha, alpha) parameter, > 0. A known value is checked;
      a traced one that is 0, negative or NaN mixes nothing.
    num_classes: ``K``, for integer labels (static).
    mode: ``"batch"`` (the paper: one box for the batch), ``"elem"`` (a box
      per example) or ``"pair"`` (random pairs swap one box).
    prob: the probability of mixing (per batch, example or pair), in
      ``[0, 1]``.
    label_smoothing: ``eps`` in ``[0, 1)``, applied before mixing.
    axes: the 1 to 3 axes the box cuts; ``(1, 2)`` (NHWC height and width)
      by default, ``(2, 3)`` for NCHW (static).
    box: how boxes are drawn: a rule from `cutmix_jax.boxes` (the paper's,
      its ablations, timm's ``minmax``, a ViT patch grid, feature maps);
      ``boxes.paper()`` by default (static).
    label_mode: the paper's label rule: ``"area"`` (``1 -`` the pasted
      fraction), or its ablations ``"larger_area"`` and ``"complete"``.
    axis_name: the mesh axis inside `jax.shard_map`; `per_shard` sets it.

  Returns:
    ``(mixed_images, mixed_labels)``: images of the input shape and dtype,
    and ``float32[B, K]`` labels. `with_params` also gives the `MixParams`.

  Raises:
    TypeError: for a wrong type or dtype, or a static option given as an
      array.
    ValueError: for a wrong shape or value (known ``alpha``, ``prob``,
      ``label_smoothing`` or labels out of range; a box rule that cannot
      paste on these axes); the message names the argument.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> images = jnp.zeros((8, 32, 32, 3), jnp.uint8)
    >>> labels = jnp.arange(8) % 10
    >>> mix = jax.jit(cutmix_jax.cutmix, static_argnames="num_classes")
    >>> mixed, soft = mix(jax.random.key(0), images, labels, 1.0, num_classes=10)
    >>> mixed.dtype, soft.shape
    (dtype('uint8'), (8, 10))

    A probability from an optax schedule, fed as a traced scalar:

    >>> import optax
    >>> schedule = optax.linear_schedule(1.0, 0.0, transition_steps=1000)
    >>> _ = cutmix_jax.cutmix(jax.random.key(250), images, labels,
    ...                       prob=schedule(250), num_classes=10)
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

  Values are blended in float32 (float64 for 32- and 64-bit integers when
  x64 is on) and cast back to the input dtype, integers rounded and clipped
  (see `blend`); examples not mixed come out bitwise unchanged.

  Args:
    rng: a PRNG key.
    images: ``[B, ...]``, any real dtype and layout.
    labels: ``int[B]`` (needs ``num_classes``) or ``float[B, K]``.
    alpha: the Beta parameter, > 0.
    num_classes, mode, prob, label_smoothing, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``.

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

  The choice is made per batch, example or pair (``mode``) inside one
  compiled program. An alpha of 0 turns that method off (a traced alpha <= 0
  too); a box rule that draws its own sides (``boxes.minmax``) keeps CutMix
  on. The defaults are DeiT's recipe.

  Args:
    rng: a PRNG key.
    images: ``[B, H, W, C]`` or the layout whose cut axes ``axes`` names.
    labels: ``int[B]`` (needs ``num_classes``) or ``float[B, K]``.
    mixup_alpha: MixUp's Beta parameter, >= 0.
    cutmix_alpha: CutMix's Beta parameter, >= 0.
    switch_prob: the probability of CutMix when both are on.
    prob: the probability of mixing at all.
    mode, label_smoothing, num_classes, axes, box, label_mode, axis_name: as
      for `cutmix` (``axes``, ``box`` and ``label_mode`` are CutMix's).

  Returns:
    ``(mixed_images, mixed_labels)``.

  Raises:
    TypeError, ValueError: as `cutmix`, naming the argument; ValueError if
      both alphas are 0.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> mixed, soft = cutmix_jax.mixup_or_cutmix(
    ...     jax.random.key(0), jnp.zeros((4, 32, 32, 3)), jnp.arange(4),
    ...     num_classes=10, mode="elem", label_smoothing=0.1)
    >>> soft.shape
    (4, 10)
  """


def with_params(fn: Callable) -> Callable:
  """The same random function, returning the drawn `MixParams` as well.

  ``with_params(cutmix)(rng, images, labels, ...)`` takes exactly what
  `cutmix` takes and returns ``(mixed_images, mixed_labels, params)``. This
  is the one way to get the parameters of a draw: every random function
  keeps a single return type, and the parameters come from the very call
  that mixed the batch (not from a second sampler with the same options to
  keep in step). Use them to mix more arrays of the batch alike (masks,
  boxes: `cut_and_paste`), for the loss form `mixed_cross_entropy`, or to
  log and draw the boxes.

  Args:
    fn: `cutmix`, `mixup` or `mixup_or_cutmix`, or a `functools.partial` of
      one. Wrap the result with `per_shard` (not the other way around).

  Returns:
    A function with ``fn``'s arguments that returns ``(mixed_images,
    mixed_labels, params)``.

  Raises:
    TypeError: if ``fn`` is not one of the library's random functions.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
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
