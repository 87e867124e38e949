"""Drawing `MixParams` for a batch: partners, coins, boxes and lambdas per mode.

Modes (as timm names them):

* ``"batch"``: the paper's. One lambda, one box and one ``prob`` coin for the
  whole batch; example ``i`` takes its box from ``partner[i]``, where
  ``partner`` is a uniformly random permutation of the batch (the paper's
  ``torch.randperm``).
* ``"elem"``: every example draws its own lambda, box and coin; partners are a
  random permutation as above.
* ``"pair"``: the batch is split into random pairs (an involution); both
  members of a pair swap the same box, so each gives what it takes. With an
  odd batch one example pairs with itself.

Every draw comes from `jax.random`, each from its own key: a call splits its
key once into keys named by purpose (partners, coins, the CutMix/MixUp
switch, boxes, MixUp's lambda), so an option that changes one draw leaves the
others alone.

An example is *applied* only if something of its partner reaches it: its coin
came up, its partner is another example, and its box is not empty (CutMix) or
its lambda is below 1 (MixUp). Every other example has the box of zeros and
the weight 1, and the functions that apply the parameters pass it through
bitwise.

``alpha`` can be a Python number, a NumPy or JAX scalar, or traced. The same
key and the same value give the same draws whichever it is. ``alpha == 1``
(the paper's setting) draws lambda as a Uniform(0, 1), which is exactly
Beta(1, 1); any other value uses `jax.random.beta`. Known values are checked
(finite, > 0, see `validation`). A traced value is never checked, yet nothing
hangs and lambda stays in ``[0, 1]``: a traced alpha that is 0, negative or
NaN mixes nothing (lambda 1, as timm's ``alpha=0`` turns a method off), one
below float32's smallest normal number (1.2e-38) is drawn as that number
(lambda is then 0 or 1, each with probability 1/2), and ``inf`` gives
lambda 0.5.

Inside `jax.shard_map`, pass ``axis_name``: partners are drawn within the
local shard (no pixel crosses a device), per-example draws differ between
shards, and the batch-wide draws of ``"batch"`` mode (lambda, box, coin) are
the same on every shard, so the global batch still has one box.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import box_draws
from cutmix_jax._src import boxes
from cutmix_jax._src import lambdas
from cutmix_jax._src import params as params_lib
from cutmix_jax._src import partners as partners_lib
from cutmix_jax._src import validation


class _Keys(NamedTuple):
  """One key per purpose, from one split of the caller's key."""

  partner: jax.Array
  coin: jax.Array
  switch: jax.Array
  box: jax.Array
  blend: jax.Array


def _split_keys(rng: jax.Array, mode: str, axis_name: str | None) -> _Keys:
  keys = _Keys(*jax.random.split(rng, len(_Keys._fields)))
  if axis_name is None:
    return keys
  # Batch-wide draws use the shared keys, so every shard of a sharded batch
  # agrees on the box; partners and per-example draws use keys folded with
  # the shard index, so that shards differ.
  shard = jax.lax.axis_index(axis_name)
  local = _Keys(*(jax.random.fold_in(k, shard) for k in keys))
  return keys._replace(partner=local.partner) if mode == "batch" else local


class _Layout(NamedTuple):
  """How one draw maps to the examples of the batch in a mode."""

  mode: str
  partner: jax.Array

  @property
  def batch_size(self) -> int:
    return self.partner.shape[0]

  @property
  def shape(self) -> tuple[int, ...]:
    """One draw per batch, or one per example (pairs read their smaller index)."""
    return () if self.mode == "batch" else (self.batch_size,)

  def per_example(self, x: jax.Array) -> jax.Array:
    """Spreads a draw of `shape` (plus trailing dims) to one row per example."""
    if self.mode == "batch":
      return jnp.broadcast_to(x, (self.batch_size,) + x.shape)
    if self.mode == "pair":
      return x[partners_lib.pair_representative(self.partner)]
    return x

  def coin(self, key: jax.Array, prob: ArrayLike) -> jax.Array:
    """``bool[B]``: heads with probability ``prob`` (a NaN prob is never heads)."""
    heads = jax.random.uniform(key, self.shape) < jnp.asarray(prob, jnp.float32)
    return self.per_example(heads)

  def has_partner(self) -> jax.Array:
    return self.partner != jnp.arange(self.batch_size, dtype=jnp.int32)


def _layout(rng, batch_size, mode, axis_name) -> tuple[_Keys, _Layout]:
  rng = validation.check_rng(rng)
  mode = validation.check_mode(mode)
  batch_size = validation.check_batch_size(batch_size)
  keys = _split_keys(rng, mode, axis_name)
  if mode == "pair":
    partner = partners_lib.random_pairs(keys.partner, batch_size)
  else:
    partner = partners_lib.random_partners(keys.partner, batch_size)
  return keys, _Layout(mode, partner)


def sample_cutmix_params(
    rng: jax.Array,
    batch_size: int,
    size: Sequence[int],
    alpha: ArrayLike = 1.0,
    *,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    minmax: tuple[float, float] | None = None,
    center_std: ArrayLike | None = None,
    box_size: int | Sequence[int] | None = None,
    patch_size: int | Sequence[int] | None = None,
    axis_name: str | None = None,
) -> params_lib.MixParams:
  """Draws CutMix parameters for a batch: the paper's algorithm, exactly.

  For images (``size = (H, W)``): ``lam ~ Beta(alpha, alpha)``,
  ``r = sqrt(1 - lam)``, ``cut_h = floor(H r)``, ``cut_w = floor(W r)``,
  centre ``cy ~ U{0..H-1}``, ``cx ~ U{0..W-1}``,
  ``y0 = clip(cy - cut_h // 2, 0, H)``, ``y1 = clip(cy + cut_h // 2, 0, H)``
  (same for x); then the label weight is recomputed from those clipped
  integers: ``lam = 1 - (y1 - y0) (x1 - x0) / (H W)``.

  Over ``k`` cut axes of sizes ``n_i`` (1 to 3: a run of frames or a time
  segment, an image box, a spatio-temporal cuboid or a volume) the sides are
  ``c_i = floor(n_i (1 - lam)^(1/k))``, each centre is uniform on its axis,
  the box is clipped as above on every axis, and ``lam = 1 - prod(extent_i)
  / prod(n_i)``. For ``k = 2`` that is the paper's algorithm exactly.

  Args:
    rng: a PRNG key.
    batch_size: ``B`` (static).
    size: the sizes of the cut axes, e.g. ``(H, W)``, ``(T,)`` or
      ``(T, H, W)`` (static).
    alpha: the Beta parameter, > 0; a Python number or a (traced) scalar.
    mode: ``"batch"``, ``"elem"`` or ``"pair"`` (see the module docs).
    prob: the probability of mixing, in ``[0, 1]``; may be traced (a schedule).
    minmax: timm's ``cutmix_minmax`` ``(lo, hi)``: box sides drawn uniformly
      from ``[int(lo * n), int(hi * n))`` and placed fully inside the image
      (every position equally likely); ``alpha`` is then unused.
    center_std: the paper's centre-Gaussian ablation: box centres drawn from a
      Gaussian around the image middle with this standard deviation, in units
      of the image side, clipped to the image.
    box_size: the paper's fixed-size ablation: an int or one side per axis
      (e.g. 16 on CIFAR), placed and clipped as the paper's boxes are (an odd
      side loses a pixel to the paper's ``// 2``); ``alpha`` is then unused.
    patch_size: an int or one side per axis that divides it (a ViT's 16):
      the box is drawn with the same rule on the patch grid (``size //
      patch_size``) and scaled up, so its edges fall on patch boundaries and
      every token comes whole from one image; the label weight is still the
      exact pasted fraction.
    axis_name: the mesh axis when called inside `jax.shard_map` (see the
      module docs); ``None`` otherwise.

  Returns:
    `MixParams` with ``int32[B, 2k]`` boxes (the ``k`` starts, then the ``k``
    ends), ``float32[B]`` label weights
    (``1 -`` the pasted fraction), ``int32[B]`` partners and ``bool[B]``
    flags.

  Raises:
    ValueError, TypeError: for bad arguments, at trace time; for a known
      ``alpha``, ``prob`` or ``center_std`` out of range, at call time.

  Examples:
    >>> import jax
    >>> import cutmix_jax
    >>> params = cutmix_jax.sample_cutmix_params(jax.random.key(0), 8, (32, 32))
    >>> params.box.shape, params.lam.shape
    ((8, 4), (8,))
    >>> fraction = cutmix_jax.pasted_fraction(params.box, (32, 32))
    >>> bool(jax.numpy.all(params.lam == 1 - fraction))
    True
  """
  size, draw_options = box_draws.checked_box_options(
      size, alpha, minmax, center_std, box_size, patch_size
  )
  prob = validation.check_probability(prob)
  keys, layout = _layout(rng, batch_size, mode, axis_name)
  box = layout.per_example(
      box_draws.draw_boxes(keys.box, layout.shape, size, **draw_options)
  )
  active = layout.coin(keys.coin, prob) & layout.has_partner()
  return boxes.settle_boxes(
      params_lib.MixParams(
          box=box,
          lam=jnp.ones(layout.batch_size, jnp.float32),
          partner=layout.partner,
          applied=active,
          is_cutmix=jnp.ones(layout.batch_size, bool),
      ),
      size,
  )


def sample_mixup_params(
    rng: jax.Array,
    batch_size: int,
    alpha: ArrayLike = 1.0,
    *,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    axis_name: str | None = None,
) -> params_lib.MixParams:
  """Draws MixUp parameters: ``lam ~ Beta(alpha, alpha)`` per batch, example or pair.

  Args:
    rng: a PRNG key.
    batch_size: ``B`` (static).
    alpha: the Beta parameter, > 0; a Python number or a (traced) scalar.
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    prob: the probability of mixing, in ``[0, 1]``.
    axis_name: the mesh axis inside `jax.shard_map`, else ``None``.

  Returns:
    `MixParams` with empty boxes, ``is_cutmix`` all False and ``lam`` the
    blend weight of each example's own image (1.0 where not applied).

  Raises:
    ValueError, TypeError: for bad arguments.

  Examples:
    >>> import jax
    >>> import cutmix_jax
    >>> params = cutmix_jax.sample_mixup_params(jax.random.key(0), 4, 0.4, mode="elem")
    >>> params.lam.shape, params.lam.dtype
    ((4,), dtype('float32'))
  """
  alpha = validation.check_alpha(alpha)
  prob = validation.check_probability(prob)
  keys, layout = _layout(rng, batch_size, mode, axis_name)
  active = layout.coin(keys.coin, prob) & layout.has_partner()
  lam = layout.per_example(
      lambdas.sample_lambda(keys.blend, alpha, layout.shape)
  )
  applied = active & (lam < 1)
  return params_lib.MixParams(
      box=jnp.zeros((layout.batch_size, 4), jnp.int32),
      lam=jnp.where(applied, lam, 1.0),
      partner=layout.partner,
      applied=applied,
      is_cutmix=jnp.zeros(layout.batch_size, bool),
  )


def _switch_on(alpha) -> bool | jax.Array:
  """Whether a method with this (checked) alpha is on: alpha > 0."""
  return alpha > 0 if validation.is_traced(alpha) else alpha != 0


def sample_mixup_or_cutmix_params(
    rng: jax.Array,
    batch_size: int,
    size: Sequence[int],
    *,
    mixup_alpha: ArrayLike = 0.8,
    cutmix_alpha: ArrayLike = 1.0,
    switch_prob: ArrayLike = 0.5,
    prob: ArrayLike = 1.0,
    mode: str = "batch",
    minmax: tuple[float, float] | None = None,
    patch_size: int | Sequence[int] | None = None,
    axis_name: str | None = None,
) -> params_lib.MixParams:
  """Draws parameters that use CutMix with ``switch_prob``, MixUp otherwise (timm's knobs).

  The choice is made per batch (``mode="batch"``), per example or per pair.
  An alpha of 0 turns that method off, as in timm, and the other is used for
  every mixed example; this holds for traced alphas too (a traced alpha <= 0
  is off). ``minmax`` turns CutMix on whatever ``cutmix_alpha`` is.

  Args:
    rng: a PRNG key.
    batch_size: ``B`` (static).
    size: the sizes of the cut axes, e.g. ``(H, W)`` (static).
    mixup_alpha: MixUp's Beta parameter, >= 0.
    cutmix_alpha: CutMix's Beta parameter, >= 0.
    switch_prob: the probability of CutMix when both are on.
    prob: the probability of mixing at all.
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    minmax: timm's ``cutmix_minmax`` for the CutMix boxes.
    patch_size: CutMix boxes on the patch grid (see `sample_cutmix_params`).
    axis_name: the mesh axis inside `jax.shard_map`, else ``None``.

  Returns:
    `MixParams`: CutMix rows carry a box and its area label weight, MixUp rows
    an empty box and the blend weight; ``is_cutmix`` tells them apart.

  Raises:
    ValueError: if both alphas are the number 0, or for any bad argument.

  Examples:
    >>> import jax
    >>> import cutmix_jax
    >>> params = cutmix_jax.sample_mixup_or_cutmix_params(
    ...     jax.random.key(0), 8, (32, 32), mode="elem")
    >>> params.is_cutmix.dtype
    dtype('bool')
  """
  mixup_alpha = validation.check_alpha(
      mixup_alpha, arg="mixup_alpha", allow_zero=True
  )
  cutmix_alpha = validation.check_alpha(
      cutmix_alpha, arg="cutmix_alpha", allow_zero=True
  )
  switch_prob = validation.check_probability(switch_prob, arg="switch_prob")
  prob = validation.check_probability(prob)
  size, draw_options = box_draws.checked_box_options(
      size, 1.0, minmax, None, None, patch_size
  )
  minmax = draw_options["minmax"]
  mixup_on = _switch_on(mixup_alpha)
  cutmix_on = True if minmax is not None else _switch_on(cutmix_alpha)
  if mixup_on is False and cutmix_on is False:
    raise ValueError(
        "mixup_alpha, cutmix_alpha: both are 0, so nothing would be mixed; "
        "set one of them > 0 (or pass minmax)."
    )
  keys, layout = _layout(rng, batch_size, mode, axis_name)
  active = layout.coin(keys.coin, prob) & layout.has_partner()
  use_cutmix = cutmix_on & (
      jnp.logical_not(mixup_on) | layout.coin(keys.switch, switch_prob)
  )
  use_cutmix = jnp.broadcast_to(use_cutmix, (layout.batch_size,))
  if cutmix_on is False:
    box = jnp.zeros((layout.batch_size, 2 * len(size)), jnp.int32)
  else:
    box = layout.per_example(
        box_draws.draw_boxes(
            keys.box,
            layout.shape,
            size,
            **dict(draw_options, alpha=cutmix_alpha),
        )
    )
  if mixup_on is False:
    mix_lam = jnp.ones(layout.batch_size, jnp.float32)
  else:
    mix_lam = layout.per_example(
        lambdas.sample_lambda(keys.blend, mixup_alpha, layout.shape)
    )
  blended = active & (mix_lam < 1)
  return boxes.settle_boxes(
      params_lib.MixParams(
          box=box,
          lam=jnp.where(blended & ~use_cutmix, mix_lam, 1.0),
          partner=layout.partner,
          applied=jnp.where(use_cutmix, active, blended),
          is_cutmix=use_cutmix,
      ),
      size,
  )
