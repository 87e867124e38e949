"""Every random function's steps: bind the call, check it once, draw, apply.

A method checks its options (``live=False``: for a method never drawn, not
against the images) and returns the cut axes and a ``draw(keys, layout)`` of
its `MixParams`. `choose` draws one or several on the same partners, keeps
one per batch, example or pair, and applies it once.
"""

from collections.abc import Callable
import inspect
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


# 0.2's keywords, and what replaces each (the CHANGELOG says more).
_REPLACED = {
    "spatial_axes": "axes=",
    "return_params": "with_params(fn)",
    "minmax": "box=boxes.minmax(lo, hi)",
    "center_std": "box=boxes.gaussian_center(std)",
    "box_size": "box=boxes.fixed_size(size)",
    "patch_size": "box=boxes.on_patch_grid(patch_size)",
    "input_size": "box=boxes.at_resolution(input_size)",
}


def replaced(name: str) -> str:
  """What replaced a 0.2 keyword, as a hint for a message ("" if none did)."""
  hint = _REPLACED.get(name)
  return f" (0.3 replaced it with {hint})" if hint else ""


def bind(signature: inspect.Signature, name: str, args, kwargs):
  """The call's arguments by name; an unknown keyword (with what replaced
  it), a missing argument or one positional too many is named."""
  for key in kwargs:
    if key not in signature.parameters:
      got = f"an unexpected keyword argument {key!r}{replaced(key)}"
      checks.refuse(key, f"an argument of {name}", got, TypeError)
  params = signature.parameters.values()
  positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
  if len(args) > len(positional):
    expected = (
        f"at most {len(positional)} positional arguments "
        f"({', '.join(positional)}; options are keyword-only)"
    )
    checks.refuse(name, expected, len(args), TypeError)
  given = {*positional[: len(args)], *kwargs}
  for p in params:
    if p.default is p.empty and p.name not in given:
      checks.refuse(p.name, f"an argument of {name}", "none", TypeError)
  bound = signature.bind(*args, **kwargs)
  bound.apply_defaults()
  return bound.arguments


class Method(NamedTuple):
  prepare: Callable[..., tuple[Any, Callable[..., sampling.MixParams]]]
  blends: bool  # it computes new values, so bool images cannot take it


def _cut_axes(axes, shape, live: bool):
  """The cut axes and their size (None: a method never drawn cuts nothing, so
  only axes it is given are checked; the images' layout does not matter)."""
  axes = check("axes", axes, shape=shape) if live or axes is not None else None
  return axes, (tuple(shape[a] for a in axes) if live else None)


def _cutmix(shape, *, alpha, prob, axes, box, label_mode, known, live):
  axes, size = _cut_axes(axes, shape, live)
  box = check("box", box, size=size)
  if not known:  # a rule that draws its own sides (minmax) ignores alpha
    alpha = check("alpha", alpha, rule=None if box.uses_alpha else "number")
    prob = check("prob", prob)
  label_mode = check("label_mode", label_mode)

  def draw(keys, layout):
    params = sampling.draw_cutmix(keys, layout, size, alpha, prob, box)
    return params._replace(lam=mixing.label_rule(params, label_mode))

  return axes, draw


def _mixup(shape, *, alpha, prob, known, live):
  if not known:
    alpha, prob = check("alpha", alpha), check("prob", prob)
  return None, lambda k, lay: sampling.draw_mixup(k, lay, alpha, prob)


def _resizemix(shape, *, scale, prob, axes, known, live):
  axes, size = _cut_axes(axes, shape, live)
  expected = f"cut axes {axes} of 2 or more cells (ResizeMix pastes none on 1)"
  checks.require(size is None or min(size) >= 2, "images", expected, shape)
  scale, prob = check("scale", scale), check("prob", prob)
  return axes, lambda k, lay: sampling.draw_resizemix(k, lay, size, scale, prob)


def _nothing(shape, *, known, live):
  # Boxes of 4, as MixUp's.
  return None, lambda k, lay: sampling.identity(lay, 2)


CUTMIX = Method(_cutmix, blends=False)
MIXUP = Method(_mixup, blends=True)
RESIZEMIX = Method(_resizemix, blends=False)
NOTHING = Method(_nothing, blends=False)


def _is_on(alpha) -> bool | jax.Array:
  """A method with this checked alpha is on: alpha > 0 (traced: at run time)."""
  return alpha > 0 if checks.is_traced(alpha) else alpha != 0


def _probability(p):
  """A traced probability outside [0, 1] is clipped, and NaN reads as 0."""
  traced = checks.is_traced(p)
  return jnp.where(p >= 0, jnp.minimum(p, 1.0), 0.0) if traced else p


def _choice(keys, layout, probabilities, drawn, num_axes):
  """Each row's draw: the first whose cumulative probability exceeds u."""
  u = jax.random.uniform(keys.switch, layout.shape, jnp.float32)
  u = layout.per_example(u)
  shares = jnp.asarray([_probability(p) for p in probabilities], jnp.float32)
  index = jnp.sum(u[:, None] >= jnp.cumsum(shares)[None], axis=1)
  params = sampling.identity(layout, num_axes)
  # One MixParams holds every row: boxes of one width, and `resized` if any
  # method resizes; a method without them leaves its rows the identity's.
  if any(p.resized is not None for p in drawn):
    params = params._replace(resized=params.applied)
  for i, p in enumerate(drawn):
    box = p.box if p.box.shape == params.box.shape else params.box
    resized = params.resized if p.resized is None else p.resized
    params = jax.tree.map(
        lambda new, old, i=i: jnp.where(
            mixing.per_row(index == i, old.ndim), new, old
        ),
        p._replace(box=box, resized=resized),
        params,
    )
  return params


def choose(rng, images, labels, choices, common, *, known=False) -> Mixed:
  """Draws the methods of ``choices``, keeps one per draw by probability, applies it.

  A choice of probability 0 (a Python number) is checked, never drawn. The
  first draws from the call's keys, the others from keys folded with their
  place: a draw does not depend on which others are drawn, so a traced 0
  gives what a Python 0 gives.

  Args:
    rng, images, labels, common: the arguments every method shares
      (`COMMON`), unchecked.
    choices: ``(probability, method, options)``: checked probabilities of
      sum <= 1 (the rest mixes nothing); unchecked options.
    known: whether the methods' numbers (alpha, prob) are checked.
  """
  rng = check("rng", rng)
  live = [checks.is_traced(p) or p != 0 for p, _, _ in choices]
  blends = any(m.blends for (_, m, _), on in zip(choices, live) if on)
  images = check("images", images, allow_bool=not blends)
  num_classes = check("num_classes", common["num_classes"])
  labels, num_classes = check(
      "labels", labels, batch=images.shape[0], num_classes=num_classes
  )
  eps = check("label_smoothing", common["label_smoothing"])
  mode = check("mode", common["mode"])
  axis_name = check("axis_name", common["axis_name"])
  prepared = [
      m.prepare(images.shape, known=known, live=on, **o)
      for (_, m, o), on in zip(choices, live)
  ]
  cut_axes = sorted({axes for axes, _ in prepared if axes is not None})
  expected = "methods that cut the same axes"
  checks.require(len(cut_axes) <= 1, "choices", expected, cut_axes)
  axes = cut_axes[0] if cut_axes else None

  keys, layout = sampling.layout(rng, images.shape[0], mode, axis_name)
  shares, drawn = [], []
  for i, ((p, _, _), (_, draw), on) in enumerate(zip(choices, prepared, live)):
    if on:
      shares.append(p)
      drawn.append(draw(keys.fold_in(i) if i else keys, layout))
  first = choices[0][0]
  if len(choices) == 1 and not checks.is_traced(first) and first == 1:
    params = drawn[0]
  else:
    num_axes = len(axes) if axes else 2
    params = _choice(keys, layout, shares, drawn, num_axes)
  resize = "nearest" if images.dtype == jnp.bool_ else "linear"
  mixed = mixing.apply(images, params, axes, blends=blends, resize=resize)
  soft = mixing.soft(labels, num_classes, eps)
  return mixed, mixing.mix_soft(soft, params), params


def run(method: Method, rng, images, labels, **options) -> Mixed:
  """One method as a random function."""
  common = {name: options.pop(name) for name in COMMON}
  return choose(rng, images, labels, [(1.0, method, options)], common)


def mixup_or_cutmix(
    rng, images, labels, *, mixup_alpha, cutmix_alpha, switch_prob, **options
) -> Mixed:
  """timm's switch as `choose` over CutMix and MixUp; an alpha of 0 is off."""
  common = {name: options.pop(name) for name in COMMON}
  mixup_alpha = check("mixup_alpha", mixup_alpha)
  cutmix_alpha = check("cutmix_alpha", cutmix_alpha)
  switch_prob = _probability(check("switch_prob", switch_prob, rule="prob"))
  prob = options["prob"] = check("prob", options["prob"])
  mixup_on, cutmix_on = _is_on(mixup_alpha), _is_on(cutmix_alpha)
  if not getattr(options["box"], "uses_alpha", True):
    cutmix_on = True  # the rule draws its own sides (minmax)
  if mixup_on is False and cutmix_on is False:
    checks.refuse("mixup_alpha, cutmix_alpha", "one of them > 0", 0)
  # The switch picks the method; each method's own coin then says whether it
  # mixes (prob), so is_cutmix marks the switch as in timm. A method off in
  # Python has a Python share of 0: `choose` checks it, never draws it.
  cut_share: float | jax.Array
  if cutmix_on is False or mixup_on is False:
    cut_share = float(cutmix_on is not False)
  elif cutmix_on is True and mixup_on is True:
    cut_share = switch_prob
  else:
    # Both off at run time: MixUp's share, so is_cutmix is False, as in 0.2.
    cut_share = jnp.where(cutmix_on, jnp.where(mixup_on, switch_prob, 1.0), 0.0)
  choices = [
      (cut_share, CUTMIX, dict(options, alpha=cutmix_alpha)),
      (1 - cut_share, MIXUP, dict(alpha=mixup_alpha, prob=prob)),
  ]
  return choose(rng, images, labels, choices, common, known=True)
