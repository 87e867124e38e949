"""Every random function's steps: check the arguments once, draw, apply.

A method checks its options (``options``) and draws its `MixParams` on a
layout of keys and partners (``draw``). `choose` draws one or several on the
same partners, keeps one per batch, example or pair, and applies it once.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cutmix_jax._src import arguments
from cutmix_jax._src import checks
from cutmix_jax._src import mixing
from cutmix_jax._src import sampling

Mixed = tuple[jax.Array, jax.Array, sampling.MixParams]
check = arguments.check
COMMON = ("num_classes", "mode", "label_smoothing", "axis_name")


class Method(NamedTuple):
  options: Callable[..., dict[str, Any]]
  draw: Callable[..., sampling.MixParams]
  blends: bool  # it computes new values, so bool images cannot take it


def _size(shape, axes) -> tuple[int, ...]:
  return tuple(shape[a] for a in axes)


def _cutmix_options(shape, *, alpha, prob, axes, box, label_mode, known=False):
  axes = check("axes", axes, shape=shape)
  box = check("box", box, size=_size(shape, axes))
  if not known:  # a rule that draws its own sides (minmax) ignores alpha
    alpha = check("alpha", alpha, rule=None if box.uses_alpha else "number")
    prob = check("prob", prob)
  label_mode = check("label_mode", label_mode)
  return dict(alpha=alpha, prob=prob, axes=axes, box=box, label_mode=label_mode)


def _cutmix_draw(keys, layout, shape, *, alpha, prob, axes, box, label_mode):
  size = _size(shape, axes)
  params = sampling.draw_cutmix(keys, layout, size, alpha, prob, box)
  return params._replace(lam=mixing.label_rule(params, label_mode))


def _mixup_options(shape, *, alpha, prob, known=False):
  del shape
  if not known:
    alpha, prob = check("alpha", alpha), check("prob", prob)
  return dict(alpha=alpha, prob=prob)


def _mixup_draw(keys, layout, shape, *, alpha, prob):
  del shape
  return sampling.draw_mixup(keys, layout, alpha, prob)


def _resizemix_options(shape, *, scale, prob, axes, known=False):
  del known
  axes = check("axes", axes, shape=shape)
  expected = f"cut axes {axes} of 2 or more cells (ResizeMix pastes none on 1)"
  checks.require(min(_size(shape, axes)) >= 2, "images", expected, shape)
  return dict(scale=check("scale", scale), prob=check("prob", prob), axes=axes)


def _resizemix_draw(keys, layout, shape, *, scale, prob, axes):
  return sampling.draw_resizemix(keys, layout, _size(shape, axes), scale, prob)


def _nothing_options(shape, *, known=False):
  del shape, known
  return {}


def _nothing_draw(keys, layout, shape):
  del keys
  params = sampling.identity(shape[0], 2)  # boxes of 4, as MixUp's
  return params._replace(partner=layout.partner)


CUTMIX = Method(_cutmix_options, _cutmix_draw, blends=False)
MIXUP = Method(_mixup_options, _mixup_draw, blends=True)
RESIZEMIX = Method(_resizemix_options, _resizemix_draw, blends=False)
NOTHING = Method(_nothing_options, _nothing_draw, blends=False)


def _select(index, i, chosen, current):
  return jnp.where(mixing.per_row(index == i, current.ndim), chosen, current)


def _is_one(probability) -> bool:
  return not checks.is_traced(probability) and probability == 1


def _probability(p):
  """A traced probability outside [0, 1] is clipped, and NaN reads as 0."""
  if not checks.is_traced(p):
    return p  # checked
  return jnp.where(p >= 0, jnp.minimum(p, 1.0), 0.0)


def _fold(keys, i: int):
  return type(keys)(*(jax.random.fold_in(k, i) for k in keys))


def _choice(keys, layout, probabilities, drawn, num_axes):
  """Each row's draw: the first whose cumulative probability exceeds u."""
  u = layout.per_example(jax.random.uniform(keys.switch, layout.shape))
  shares = [jnp.float32(_probability(p)) for p in probabilities]
  cumulative = jnp.cumsum(jnp.stack(shares))
  index = jnp.sum(u[:, None] >= cumulative[None, :], axis=1)
  params = sampling.identity(layout.batch_size, num_axes)
  params = params._replace(partner=layout.partner, resized=params.applied)
  for i, p in enumerate(drawn):
    # One MixParams holds every row: boxes of one width, `resized` always.
    box = p.box if p.box.shape == params.box.shape else params.box
    resized = params.applied if p.resized is None else p.resized
    p = p._replace(box=box, resized=resized)
    params = jax.tree.map(
        lambda new, old, i=i: _select(index, i, new, old), p, params
    )
  return params


def choose(
    rng,
    images,
    labels,
    choices: Sequence[tuple[Any, Method, dict[str, Any]]],
    common: dict[str, Any],
    *,
    known: bool = False,
) -> Mixed:
  """Draws every method of ``choices``, keeps one per draw by probability, applies it.

  Args:
    rng, images, labels, common: the arguments every method shares
      (`COMMON`), unchecked.
    choices: ``(probability, method, options)``: checked probabilities of
      sum <= 1 (the rest mixes nothing); unchecked options.
    known: whether the methods' numbers (alpha, prob) are checked.
  """
  rng = check("rng", rng)
  blends = any(method.blends for _, method, _ in choices)
  images = check("images", images, allow_bool=not blends)
  num_classes = check("num_classes", common["num_classes"])
  labels, num_classes = check(
      "labels", labels, batch=images.shape[0], num_classes=num_classes
  )
  eps = check("label_smoothing", common["label_smoothing"])
  mode = check("mode", common["mode"])
  axis_name = check("axis_name", common["axis_name"])
  options = [m.options(images.shape, known=known, **o) for _, m, o in choices]
  cut_axes = {o["axes"] for o in options if "axes" in o}
  expected = "methods that cut the same axes"
  checks.require(len(cut_axes) <= 1, "choices", expected, sorted(cut_axes))
  axes = cut_axes.pop() if cut_axes else None

  keys, layout = sampling.layout(rng, images.shape[0], mode, axis_name)
  probability, method, _ = choices[0]
  if len(choices) == 1 and _is_one(probability):
    params = method.draw(keys, layout, images.shape, **options[0])
  else:
    drawn = [
        method.draw(_fold(keys, i), layout, images.shape, **opts)
        for i, ((_, method, _), opts) in enumerate(zip(choices, options))
    ]
    probabilities = [p for p, _, _ in choices]
    num_axes = len(axes) if axes else 2
    params = _choice(keys, layout, probabilities, drawn, num_axes)
    if not any(method is RESIZEMIX for _, method, _ in choices):
      params = params._replace(resized=None)
  resize = "nearest" if images.dtype == jnp.bool_ else "linear"
  mixed = mixing.apply(images, params, axes, blends=blends, resize=resize)
  soft = mixing.soft(labels, num_classes, eps)
  return mixed, mixing.mix_soft(soft, params), params


def run(method: Method, rng, images, labels, **options) -> Mixed:
  """One method as a random function."""
  common = {name: options.pop(name) for name in COMMON}
  return choose(rng, images, labels, [(1.0, method, options)], common)


def mixup_or_cutmix(
    rng,
    images,
    labels,
    *,
    mixup_alpha,
    cutmix_alpha,
    switch_prob,
    prob,
    box,
    axes,
    label_mode,
    **common,
) -> Mixed:
  """timm's switch as `choose` over CutMix and MixUp; an alpha of 0 is off."""
  mixup_alpha = check("mixup_alpha", mixup_alpha)
  cutmix_alpha = check("cutmix_alpha", cutmix_alpha)
  switch_prob = _probability(check("switch_prob", switch_prob, rule="prob"))
  prob = check("prob", prob)
  mixup_on, cutmix_on = _is_on(mixup_alpha), _is_on(cutmix_alpha)
  if box is not None and not getattr(box, "uses_alpha", True):
    cutmix_on = True  # the rule draws its own sides (minmax)
  if cutmix_on is False:  # CutMix is off, but a wrong option is still wrong
    check("label_mode", label_mode)
    check("box", box, size=None)
  if mixup_on is False and cutmix_on is False:
    checks.refuse("mixup_alpha, cutmix_alpha", "one of them > 0", 0)
  # The switch picks the method; each method's own coin then says whether it
  # mixes (prob), so is_cutmix marks the switch as in timm.
  if isinstance(mixup_on, bool) and isinstance(cutmix_on, bool):
    cut_share = switch_prob if mixup_on and cutmix_on else float(cutmix_on)
  else:
    cut_share = jnp.where(mixup_on, jnp.where(cutmix_on, switch_prob, 0.0), 1.0)
  choices = []
  if cutmix_on is not False:
    cutmix = dict(alpha=cutmix_alpha, prob=prob, axes=axes, box=box)
    choices.append((cut_share, CUTMIX, dict(cutmix, label_mode=label_mode)))
  if mixup_on is not False:
    choices.append((1 - cut_share, MIXUP, dict(alpha=mixup_alpha, prob=prob)))
  return choose(rng, images, labels, choices, common, known=True)


def _is_on(alpha) -> bool | jax.Array:
  """A method with this checked alpha is on: alpha > 0 (traced: at run time)."""
  return alpha > 0 if checks.is_traced(alpha) else alpha != 0
