"""The three steps of each random function: check the arguments once, draw, apply.

Each checks every argument once (`arguments.check`), then calls private
functions that trust them, and returns the mixed images and labels with the
drawn `MixParams`; `augment` holds the public functions.
"""

import jax

from cutmix_jax._src import arguments
from cutmix_jax._src import mixing
from cutmix_jax._src import sampling

Mixed = tuple[jax.Array, jax.Array, sampling.MixParams]


def _batch(rng, images, labels, num_classes, *, allow_bool: bool):
  """Checks the key, the images and the labels together."""
  rng = arguments.check("rng", rng)
  images = arguments.check("images", images, allow_bool=allow_bool)
  num_classes = arguments.check("num_classes", num_classes)
  labels, num_classes = arguments.check(
      "labels", labels, batch=images.shape[0], num_classes=num_classes
  )
  return rng, images, labels, num_classes


def _is_zero(alpha) -> bool:
  return not arguments.is_traced(alpha) and alpha == 0


def cutmix(
    rng,
    images,
    labels,
    alpha,
    *,
    num_classes,
    mode,
    prob,
    label_smoothing,
    axes,
    box,
    label_mode,
    axis_name,
) -> Mixed:
  rng, images, labels, num_classes = _batch(
      rng, images, labels, num_classes, allow_bool=True
  )
  axes = arguments.check("axes", axes, shape=images.shape)
  size = tuple(images.shape[a] for a in axes)
  box = arguments.check("box", box, size=size)
  alpha = arguments.check("alpha", alpha)
  mode = arguments.check("mode", mode)
  prob = arguments.check("prob", prob)
  eps = arguments.check("label_smoothing", label_smoothing)
  label_mode = arguments.check("label_mode", label_mode)
  axis_name = arguments.check("axis_name", axis_name)
  params = sampling.draw_cutmix(
      rng,
      images.shape[0],
      size,
      alpha,
      mode=mode,
      prob=prob,
      rule=box,
      axis_name=axis_name,
  )
  params = params._replace(lam=mixing.label_rule(params, label_mode))
  mixed = mixing.paste(images, params, axes)
  soft = mixing.soft(labels, num_classes, eps)
  return mixed, mixing.mix_soft(soft, params), params


def mixup(
    rng,
    images,
    labels,
    alpha,
    *,
    num_classes,
    mode,
    prob,
    label_smoothing,
    axis_name,
) -> Mixed:
  rng, images, labels, num_classes = _batch(
      rng, images, labels, num_classes, allow_bool=False
  )
  alpha = arguments.check("alpha", alpha)
  mode = arguments.check("mode", mode)
  prob = arguments.check("prob", prob)
  eps = arguments.check("label_smoothing", label_smoothing)
  axis_name = arguments.check("axis_name", axis_name)
  params = sampling.draw_mixup(
      rng, images.shape[0], alpha, mode=mode, prob=prob, axis_name=axis_name
  )
  mixed = mixing.blend_rows(images, params)
  soft = mixing.soft(labels, num_classes, eps)
  return mixed, mixing.mix_soft(soft, params), params


def mixup_or_cutmix(
    rng,
    images,
    labels,
    *,
    mixup_alpha,
    cutmix_alpha,
    switch_prob,
    prob,
    mode,
    label_smoothing,
    num_classes,
    axes,
    box,
    label_mode,
    axis_name,
) -> Mixed:
  mixup_alpha = arguments.check("mixup_alpha", mixup_alpha)
  blends = arguments.is_traced(mixup_alpha) or mixup_alpha != 0
  # Bool masks can be pasted but not blended.
  rng, images, labels, num_classes = _batch(
      rng, images, labels, num_classes, allow_bool=not blends
  )
  axes = arguments.check("axes", axes, shape=images.shape)
  size = tuple(images.shape[a] for a in axes)
  box = arguments.check("box", box, size=size)
  cutmix_alpha = arguments.check("cutmix_alpha", cutmix_alpha)
  if _is_zero(mixup_alpha) and _is_zero(cutmix_alpha) and box.uses_alpha:
    raise ValueError(
        "mixup_alpha, cutmix_alpha: both are 0, so nothing would be mixed; "
        "set one of them > 0."
    )
  switch_prob = arguments.check("switch_prob", switch_prob)
  prob = arguments.check("prob", prob)
  mode = arguments.check("mode", mode)
  eps = arguments.check("label_smoothing", label_smoothing)
  label_mode = arguments.check("label_mode", label_mode)
  axis_name = arguments.check("axis_name", axis_name)
  params = sampling.draw_switch(
      rng,
      images.shape[0],
      size,
      mixup_alpha=mixup_alpha,
      cutmix_alpha=cutmix_alpha,
      switch_prob=switch_prob,
      prob=prob,
      mode=mode,
      rule=box,
      axis_name=axis_name,
  )
  params = params._replace(lam=mixing.label_rule(params, label_mode))
  if blends:
    mixed = mixing.mix_both(images, params, axes)
  else:
    mixed = mixing.paste(images, params, axes)
  soft = mixing.soft(labels, num_classes, eps)
  return mixed, mixing.mix_soft(soft, params), params
