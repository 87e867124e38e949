"""Choosing among several methods per batch, example or pair: `one_of`."""

from collections.abc import Callable, Sequence
import functools
import inspect

import jax
from jax.typing import ArrayLike

from cutmix_jax._src import arguments
from cutmix_jax._src import augment
from cutmix_jax._src import steps


def _method_and_options(fn) -> tuple[steps.Method, dict]:
  """A choice's method, with its options: the function's defaults, then the bound ones."""
  if fn is None:
    return steps.NOTHING, {}
  keywords: dict = {}
  while isinstance(fn, functools.partial) and not fn.args:
    keywords = {**fn.keywords, **keywords}
    fn = fn.func
  method = getattr(fn, "_method", None)
  expected = (
      "(probability, fn) pairs, fn a random function (or a partial) or None"
  )
  arguments.require(
      method is not None, "choices", expected, repr(fn), TypeError
  )
  shared = sorted(set(keywords) & set(steps.COMMON))
  expected = "options shared by every method given to one_of itself"
  arguments.require(not shared, "choices", expected, shared, TypeError)
  options = {
      name: p.default
      for name, p in inspect.signature(fn).parameters.items()
      if p.default is not p.empty and name not in steps.COMMON
  }
  unknown = sorted(set(keywords) - set(options))
  arguments.require(
      not unknown, "choices", f"options of {fn.__name__}", unknown
  )
  assert method is not None
  return method, {**options, **keywords}


def _one_of(rng, images, labels, choices, **common) -> steps.Mixed:
  ok = isinstance(choices, (tuple, list)) and len(choices) > 0
  ok = ok and all(isinstance(c, (tuple, list)) and len(c) == 2 for c in choices)
  expected = "a non-empty sequence of (probability, fn) pairs"
  arguments.require(
      ok, "choices", expected, arguments.describe(choices), TypeError
  )
  parsed = [
      (arguments.check("choices", p, rule="prob"), *_method_and_options(fn))
      for p, fn in choices
  ]
  total = sum(p for p, _, _ in parsed if not arguments.is_traced(p))
  expected = "probabilities of sum <= 1"
  arguments.require(total <= 1 + 1e-6, "choices", expected, total)
  return steps.choose(rng, images, labels, parsed, common)


@augment.random_function(_one_of)
def one_of(  # type: ignore[empty-body]
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    choices: Sequence[tuple[ArrayLike, Callable | None]],
    *,
    num_classes: int | None = None,
    mode: str = "batch",
    label_smoothing: ArrayLike = 0.0,
    axis_name: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """Mixes with one of several methods, chosen with given probabilities.

  Like mmpretrain's ``RandomBatchAugment``. Every method runs with the same
  partners and each example keeps its choice's result, so the probabilities
  may be traced. A ``None`` fn, and any probability left over, mix nothing.

  Args:
    choices: ``(probability, fn)`` pairs, the probabilities summing to at
      most 1; ``fn`` is `cutmix`, `mixup` or `resizemix` (options bound with
      `functools.partial`) or None (static).
    images: ``[B, ...]``; bool only if no choice blends (MixUp).
    mode: ``"batch"``, ``"elem"`` or ``"pair"``: what a choice is made for,
      and every method's mode.
    rng, labels, num_classes, label_smoothing, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``; `with_params` gives the `MixParams` of
    each example's choice.

  Raises:
    TypeError, ValueError: for a choice that is not a random function, for
      probabilities outside ``[0, 1]`` or of sum over 1, and as `cutmix`.

  Examples:
    >>> import functools, jax, jax.numpy as jnp, cutmix_jax
    >>> choices = [(0.4, functools.partial(cutmix_jax.cutmix, alpha=1.0)),
    ...            (0.3, functools.partial(cutmix_jax.mixup, alpha=0.8)),
    ...            (0.2, cutmix_jax.resizemix)]
    >>> mixed, soft = cutmix_jax.one_of(
    ...     jax.random.key(0), jnp.zeros((8, 32, 32, 3)), jnp.arange(8),
    ...     choices, num_classes=8, mode="elem")
    >>> soft.shape
    (8, 8)
  """
