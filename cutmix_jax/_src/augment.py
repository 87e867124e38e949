"""The random functions users call, and `with_params` for the drawn parameters."""

from collections.abc import Callable, Sequence
import functools
import inspect

import jax
from jax.typing import ArrayLike

from cutmix_jax._src import box_rules
from cutmix_jax._src import checks
from cutmix_jax._src import steps


def random_function(
    draw_and_apply: Callable, method: steps.Method | None = None
) -> Callable:
  """Makes a public function, and its `with_params` twin, from a signature."""

  def decorate(declaration: Callable) -> Callable:
    signature = inspect.signature(declaration)

    @functools.wraps(declaration)
    def twin(*args, **kwargs) -> steps.Mixed:
      name = declaration.__name__
      return draw_and_apply(**steps.bind(signature, name, args, kwargs))

    @functools.wraps(declaration)
    def public(*args, **kwargs) -> tuple[jax.Array, jax.Array]:
      mixed, soft, _ = twin(*args, **kwargs)
      return mixed, soft

    twin.__doc__ = f"`{declaration.__name__}`, also returning MixParams."
    twin.__name__ = twin.__qualname__ = f"with_params({declaration.__name__})"
    # per_shard checks these functions' arguments on the whole batch first.
    public._checks_arguments = twin._checks_arguments = True  # type: ignore
    public._with_params, public._method = twin, method  # type: ignore
    twin._public = public  # type: ignore
    return public

  return decorate


def twin_of(fn):
  """``fn``'s `with_params` twin if ``fn`` is a random function itself.

  A wrapper made with `functools.wraps` (`jax.jit`, ...) carries the same
  attributes, but is not the function: it gets None.
  """
  twin = getattr(fn, "_with_params", None)
  return twin if getattr(twin, "_public", None) is fn else None


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
    axis_name: str | tuple[str, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
  """CutMix (Yun et al., 2019): paste a box from a partner, mix labels by area.

  Pastes a box of about ``1 - lam`` of the area, ``lam ~ Beta(alpha, alpha)``,
  from the partner by a pure select (the dtype is kept); labels mix by the exact
  pasted fraction. ``alpha``, ``prob``, ``label_smoothing`` may be traced.
  On ``(B, T, H, W, C)`` video, ``axes=(2, 3)`` is S-, ``(1,)`` T- and
  ``(1, 2, 3)`` ST-VideoMix; ``(1,)`` on ``(B, T, F)`` spectrograms cuts time.

  Args:
    rng: a PRNG key.
    images: ``[B, H, W, C]`` or any layout ``axes`` names; real dtype or bool.
    labels: ``int[B]`` class indices (needs ``num_classes``) or ``float[B, K]``.
    alpha: the Beta parameter, > 0; a traced one <= 0 or NaN mixes nothing
      (a ``box`` rule that sizes itself, such as ``minmax``, ignores it).
    num_classes: ``K``, for integer labels (static).
    mode: ``"batch"`` (the paper: one box per batch), ``"elem"`` (a box per
      example) or ``"pair"`` (random pairs swap one box).
    prob: the probability of mixing a batch, example or pair.
    label_smoothing: ``eps`` in ``[0, 1)``, applied before mixing.
    axes: the 1 to 3 cut axes (static); ``(1, 2)`` by default, NCHW ``(2, 3)``.
    box: a rule from `cutmix_jax.boxes` (static); the paper's by default.
    label_mode: ``"area"`` (the paper), ``"larger_area"`` or ``"complete"``.
    axis_name: the mesh axis (or tuple of axes) inside `jax.shard_map`;
      `per_shard` sets it.

  Returns:
    ``(mixed_images, mixed_labels)``: input shape and dtype; ``float32[B, K]``
    (float64 for float64 labels).

  Raises:
    TypeError: for a wrong type or dtype, or a static option as an array.
    ValueError: for a wrong shape or value, or a box rule the axes cannot take.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> x, y = jnp.zeros((8, 32, 32, 3), jnp.uint8), jnp.arange(8)
    >>> mix = jax.jit(cutmix_jax.cutmix, static_argnames="num_classes")
    >>> mix(jax.random.key(0), x, y, 0.5, num_classes=10)[1].shape
    (8, 10)
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
    axis_name: str | tuple[str, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
  """MixUp (Zhang et al., 2018): blend images and labels by ``lam ~ Beta(alpha, alpha)``.

  Args:
    images: ``[B, ...]`` of rank >= 2, any real dtype (kept as by `blend`)
      and layout.
    rng, labels, alpha, num_classes, mode, prob, label_smoothing, axis_name:
      as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> x, y = jnp.ones((4, 8, 8, 3), jnp.bfloat16), jnp.arange(4)
    >>> cutmix_jax.mixup(jax.random.key(0), x, y, num_classes=4)[0].dtype
    dtype(bfloat16)
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
    axis_name: str | tuple[str, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
  """timm's ``Mixup``, DeiT's defaults: CutMix with ``switch_prob``, else MixUp.

  Args:
    mixup_alpha, cutmix_alpha: each method's Beta parameter, >= 0; 0 (traced:
      <= 0) turns it off, but a ``box`` that sizes itself keeps CutMix on.
    switch_prob: the probability of CutMix when both are on.
    rng, images, labels, prob, mode, label_smoothing: as for `cutmix`.
    num_classes, axes, box, label_mode, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`; ValueError if both alphas are 0.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> key, x, y = jax.random.key(0), jnp.zeros((4, 8, 8, 3)), jnp.arange(4)
    >>> cutmix_jax.mixup_or_cutmix(key, x, y, num_classes=10)[1].shape
    (4, 10)
  """


@random_function(functools.partial(steps.run, steps.RESIZEMIX), steps.RESIZEMIX)
def resizemix(  # type: ignore[empty-body]
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    scale: tuple[ArrayLike, ArrayLike] = (0.1, 0.8),
    *,
    num_classes: int | None = None,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
    axes: int | Sequence[int] | None = None,
    axis_name: str | tuple[str, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
  """ResizeMix (Qin et al., 2020): paste the whole partner, resized into a box.

  Draws ``tau ~ U(lo, hi)``: the box has sides ``floor(tau n_i)`` on the cut
  axes, placed uniformly where it fits; the own label weighs 1 minus the pasted
  fraction. The partner is resized like ``jax.image.resize``'s ``"linear"``
  (bool: ``"nearest"``); a mask follows via `with_params` and `cut_and_paste`.
  ``scale`` may be traced. OpenMixup: it beats CutMix with ResNet-50 (77.42 vs
  77.17), not with DeiT-S.

  Args:
    scale: ``(lo, hi)`` in ``[0, 1]``, the range of ``tau``.
    rng, images, labels, num_classes, mode, prob: as for `cutmix`.
    label_smoothing, axes, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`; ValueError for a cut axis of 1.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> x, y = jnp.zeros((4, 32, 32, 3), jnp.uint8), jnp.arange(4)
    >>> mixed, soft = cutmix_jax.resizemix(
    ...     jax.random.key(0), x, y, (0.25, 0.5), num_classes=4)
    >>> mixed.dtype, soft.shape
    (dtype('uint8'), (4, 4))
  """


def with_params(fn: Callable) -> Callable:
  """The same random function, returning the drawn `MixParams` as well.

  One return type per function; the params come from the very call that mixed.

  Args:
    fn: a random function (`cutmix`, ...) or a `functools.partial` of one;
      wrap the result with `per_shard`, not the other way around.

  Returns:
    ``fn`` returning ``(mixed_images, mixed_labels, params)``.

  Raises:
    TypeError: if ``fn`` is not one of the library's random functions.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> key, x, y = jax.random.key(0), jnp.zeros((4, 8, 8, 3)), jnp.eye(4)
    >>> _, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(key, x, y)
    >>> cutmix_jax.cut_and_paste(jnp.zeros((4, 8, 8), bool), params).shape
    (4, 8, 8)
  """
  if isinstance(fn, functools.partial):
    return functools.partial(with_params(fn.func), *fn.args, **fn.keywords)
  twin = twin_of(fn)
  if twin is None:
    hint = ""
    if hasattr(fn, "__wrapped__"):  # per_shard, jax.jit, with_params, ...
      hint = (
          "; give with_params the function itself and wrap what it returns: "
          "per_shard(with_params(fn), mesh), jax.jit(with_params(fn))"
      )
    expected = (
        "a random function of cutmix_jax (cutmix, mixup, mixup_or_cutmix, "
        "resizemix, one_of) or a functools.partial of one"
    )
    checks.refuse("fn", expected, f"{fn!r}{hint}", TypeError)
  return twin
