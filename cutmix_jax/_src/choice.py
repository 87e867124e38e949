"""Choosing among several methods per batch, example or pair: `one_of`."""

from collections.abc import Callable, Sequence
import functools
import inspect

import jax
from jax.typing import ArrayLike

from cutmix_jax._src import arguments
from cutmix_jax._src import augment
from cutmix_jax._src import checks
from cutmix_jax._src import steps


def _method_and_options(fn) -> tuple[steps.Method, dict]:
  """A choice's method, and its options: the defaults, then the bound ones."""
  if fn is None:
    return steps.NOTHING, {}
  keywords: dict = {}
  while isinstance(fn, functools.partial) and not fn.args:
    keywords = {**fn.keywords, **keywords}
    fn = fn.func
  method = augment.twin_of(fn) and fn._method  # None for one_of itself
  expected = (
      "(probability, fn) pairs, fn a random function (or a partial) or None"
  )
  got = checks.describe(fn)  # a partial with arrays in it: its type
  if hasattr(fn, "__wrapped__"):  # per_shard, jax.jit: not the function
    got += " (a wrapper: give one_of the function itself, then wrap one_of)"
  checks.require(method is not None, "choices", expected, got, TypeError)
  shared = sorted(set(keywords) & set(steps.COMMON))
  expected = "options shared by every method given to one_of itself"
  checks.require(not shared, "choices", expected, shared, TypeError)
  options = {
      name: p.default
      for name, p in inspect.signature(fn).parameters.items()
      if p.default is not p.empty and name not in steps.COMMON
  }
  unknown = sorted(set(keywords) - set(options))
  hints = "".join(steps.replaced(name) for name in unknown)
  expected = f"options of {fn.__name__}{hints}"
  checks.require(not unknown, "choices", expected, unknown, TypeError)
  return method, {**options, **keywords}


def _one_of(rng, images, labels, choices, **common) -> steps.Mixed:
  ok = isinstance(choices, (tuple, list)) and len(choices) > 0
  ok = ok and all(isinstance(c, (tuple, list)) and len(c) == 2 for c in choices)
  expected = "a non-empty sequence of (probability, fn) pairs"
  checks.require(ok, "choices", expected, checks.describe(choices), TypeError)
  parsed = [
      (arguments.check("choices", p, rule="prob"), *_method_and_options(fn))
      for p, fn in choices
  ]
  total = sum(p for p, _, _ in parsed if not checks.is_traced(p))
  expected = "probabilities of sum <= 1"
  checks.require(total <= 1 + 1e-6, "choices", expected, total)
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
    axis_name: str | tuple[str, ...] | None = None,
) -> tuple[jax.Array, jax.Array]:
  """Mixes with one of several methods, chosen with given probabilities.

  Like mmpretrain's ``RandomBatchAugment``. Every method runs (same partners),
  so the probabilities may be traced; one of a Python 0 is left out. A
  ``None`` fn, or probability left over, mixes nothing.

  Args:
    choices: ``(probability, fn)`` pairs, of sum <= 1; ``fn`` (static) is
      `cutmix`, `mixup`, `resizemix`, a `functools.partial` of one, or None.
    images: ``[B, ...]``; bool only if no choice blends (MixUp).
    mode: what a choice is made for, and every method's mode; as for `cutmix`.
    rng, labels, num_classes, label_smoothing, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`, and for a bad choice or sum.

  Examples:
    >>> import functools, jax, jax.numpy as jnp, cutmix_jax
    >>> choices = [(0.5, cutmix_jax.cutmix), (0.2, cutmix_jax.resizemix),
    ...            (0.3, functools.partial(cutmix_jax.mixup, alpha=0.2))]
    >>> key, x, y = jax.random.key(0), jnp.zeros((8, 8, 8, 3)), jnp.arange(8)
    >>> cutmix_jax.one_of(key, x, y, choices, num_classes=8)[1].shape
    (8, 8)
  """
