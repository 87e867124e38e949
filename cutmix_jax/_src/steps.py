"""The steps of every random function: check the arguments once, draw, apply.

A method is two private functions: ``options`` checks the method's own
options once, at the public entry, and ``apply`` draws its parameters on a
given layout (keys and partners) and mixes the images. `run` makes a random
function of a method; `one_of` applies several methods to one batch with the
same partners and keeps one of them per batch, example or pair.
"""

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cutmix_jax._src import arguments
from cutmix_jax._src import mixing
from cutmix_jax._src import resizing
from cutmix_jax._src import sampling

Mixed = tuple[jax.Array, jax.Array, sampling.MixParams]
check = arguments.check


class Method(NamedTuple):
  options: Callable[..., dict[str, Any]]
  apply: Callable[..., tuple[jax.Array, sampling.MixParams]]
  blends: bool  # it computes new values, so bool images cannot take it


def _cutmix_options(shape, *, alpha, prob, axes, box, label_mode, known=False):
  axes = check("axes", axes, shape=shape)
  box = check("box", box, size=tuple(shape[a] for a in axes))
  if not known:
    alpha, prob = check("alpha", alpha), check("prob", prob)
  label_mode = check("label_mode", label_mode)
  return dict(alpha=alpha, prob=prob, axes=axes, box=box, label_mode=label_mode)


def _cutmix_apply(keys, layout, images, *, alpha, prob, axes, box, label_mode):
  size = tuple(images.shape[a] for a in axes)
  params = sampling.draw_cutmix(keys, layout, size, alpha, prob, box)
  params = params._replace(lam=mixing.label_rule(params, label_mode))
  return mixing.paste(images, params, axes), params


def _mixup_options(shape, *, alpha, prob, known=False):
  del shape
  if not known:
    alpha, prob = check("alpha", alpha), check("prob", prob)
  return dict(alpha=alpha, prob=prob)


def _mixup_apply(keys, layout, images, *, alpha, prob):
  params = sampling.draw_mixup(keys, layout, alpha, prob)
  return mixing.blend_rows(images, params), params


def _resizemix_options(shape, *, scale, prob, axes, known=False):
  del known
  axes = check("axes", axes, shape=shape)
  return dict(scale=check("scale", scale), prob=check("prob", prob), axes=axes)


def _resizemix_apply(keys, layout, images, *, scale, prob, axes):
  size = tuple(images.shape[a] for a in axes)
  params = sampling.draw_resizemix(keys, layout, size, scale, prob)
  method = "nearest" if images.dtype == jnp.bool_ else "linear"
  return resizing.resize_paste(images, params, axes, method), params


def _nothing_options(shape, *, known=False):
  del shape, known
  return {}


def _nothing_apply(keys, layout, images):
  del keys
  params = sampling.identity(images.shape[0], 1)
  return images, params._replace(partner=layout.partner)


CUTMIX = Method(_cutmix_options, _cutmix_apply, blends=False)
NOTHING = Method(_nothing_options, _nothing_apply, blends=False)
MIXUP = Method(_mixup_options, _mixup_apply, blends=True)
RESIZEMIX = Method(_resizemix_options, _resizemix_apply, blends=False)


class _Batch(NamedTuple):
  rng: jax.Array
  images: jax.Array
  labels: jax.Array
  num_classes: int
  eps: Any
  mode: str
  axis_name: Any


def _batch(rng, images, labels, common, *, allow_bool: bool) -> _Batch:
  """Checks what every random function takes: the key, the batch, the modes."""
  rng = check("rng", rng)
  images = check("images", images, allow_bool=allow_bool)
  num_classes = check("num_classes", common["num_classes"])
  labels, num_classes = check(
      "labels", labels, batch=images.shape[0], num_classes=num_classes
  )
  return _Batch(
      rng,
      images,
      labels,
      num_classes,
      check("label_smoothing", common["label_smoothing"]),
      check("mode", common["mode"]),
      check("axis_name", common["axis_name"]),
  )


_COMMON = ("num_classes", "mode", "label_smoothing", "axis_name")


def _mixed_labels(batch: _Batch, params) -> jax.Array:
  soft = mixing.soft(batch.labels, batch.num_classes, batch.eps)
  return mixing.mix_soft(soft, params)


def run(method: Method, rng, images, labels, **options) -> Mixed:
  """One method as a random function: check, draw the layout, apply, mix labels."""
  common = {name: options.pop(name) for name in _COMMON}
  b = _batch(rng, images, labels, common, allow_bool=not method.blends)
  options = method.options(b.images.shape, **options)
  keys, layout = sampling.layout(b.rng, b.images.shape[0], b.mode, b.axis_name)
  mixed, params = method.apply(keys, layout, b.images, **options)
  return mixed, _mixed_labels(b, params), params


def _select(index, i, chosen, current):
  rows = (index == i).reshape((-1,) + (1,) * (current.ndim - 1))
  return jnp.where(rows, chosen, current)


def choose(
    rng,
    images,
    labels,
    choices: Sequence[tuple[Any, Method, dict[str, Any]]],
    common: dict[str, Any],
    *,
    known: bool = False,
) -> Mixed:
  """Applies every method of ``choices`` and keeps one per draw, by probability.

  Args:
    rng, images, labels: unchecked.
    choices: ``(probability, method, options)``; the probabilities sum to at
      most 1 and the rest is "mix nothing".
    common: the options every method shares (`_COMMON`), unchecked.
    known: whether the probabilities and the methods' numbers are checked.
  """
  allow_bool = not any(method.blends for _, method, _ in choices)
  b = _batch(rng, images, labels, common, allow_bool=allow_bool)
  if not known:
    probs = [check("choices", p, rule="prob") for p, _, _ in choices]
    total = sum(p for p in probs if not arguments.is_traced(p))
    arguments.require(
        total <= 1 + 1e-6, "choices", "probabilities of sum <= 1", total
    )
    choices = [(p, m, o) for p, (_, m, o) in zip(probs, choices)]
  options = [m.options(b.images.shape, known=known, **o) for _, m, o in choices]
  # One MixParams holds every row's box: the pasting methods cut alike.
  cut_axes = {o["axes"] for o in options if "axes" in o}
  expected = "methods that cut the same axes"
  arguments.require(len(cut_axes) <= 1, "choices", expected, sorted(cut_axes))
  batch_size = b.images.shape[0]
  keys, layout = sampling.layout(b.rng, batch_size, b.mode, b.axis_name)
  # The choice: the first method whose cumulative probability exceeds u.
  u = layout.per_example(jax.random.uniform(keys.switch, layout.shape))
  cumulative = jnp.cumsum(jnp.stack([jnp.float32(p) for p, _, _ in choices]))
  index = jnp.sum(u[:, None] >= cumulative[None, :], axis=1)
  drawn = []
  for i, ((_, method, _), opts) in enumerate(zip(choices, options)):
    method_keys = type(keys)(*(jax.random.fold_in(k, i) for k in keys))
    drawn.append(method.apply(method_keys, layout, b.images, **opts))
  width = 2 * len(cut_axes.pop()) if cut_axes else 4
  mixed = b.images
  params = sampling.identity(batch_size, width // 2)
  params = params._replace(partner=layout.partner, resized=params.applied)
  for i, (out, p) in enumerate(drawn):
    mixed = _select(index, i, out, mixed)
    resized = params.applied if p.resized is None else p.resized
    p = p._replace(
        box=jnp.zeros_like(params.box)
        if p.box.shape != params.box.shape
        else p.box,
        resized=resized,
    )
    params = jax.tree.map(
        lambda new, old, i=i: _select(index, i, new, old), p, params
    )
  if not any(method is RESIZEMIX for _, method, _ in choices):
    params = params._replace(resized=None)
  return mixed, _mixed_labels(b, params), params


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
  switch_prob = check("switch_prob", switch_prob)
  prob = check("prob", prob)
  mixup_on, cutmix_on = _is_on(mixup_alpha), _is_on(cutmix_alpha)
  if box is not None and not getattr(box, "uses_alpha", True):
    cutmix_on = True  # the rule draws its own sides (minmax)
  if mixup_on is False and cutmix_on is False:
    arguments.require(False, "mixup_alpha, cutmix_alpha", "one of them > 0", 0)
  # The switch picks the method; each method's own coin then says whether it
  # mixes (prob), so is_cutmix marks the switch as in timm.
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
  return alpha > 0 if arguments.is_traced(alpha) else alpha != 0
