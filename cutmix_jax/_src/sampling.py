"""Drawing `MixParams` for a batch: lambdas, boxes, partners and coins per mode.

Modes (as timm names them):

* ``"batch"``: the paper's. One lambda, one box and one ``prob`` coin for the
  whole batch; example ``i`` takes its box from ``partner[i]``, where
  ``partner`` is a uniformly random permutation of the batch (the paper's
  ``torch.randperm``).
* ``"elem"``: every example draws its own lambda, box and coin; partners are a
  random permutation as above.
* ``"pair"``: the batch is split into random pairs (an involution); both
  members of a pair swap the same box, so each gives what it takes. With an
  odd batch one example pairs with itself and is left unchanged.

An example whose partner is itself (a fixed point of the permutation, or the
odd one out) is marked not applied: its box is empty and its label weight 1.

Inside `jax.shard_map`, pass ``axis_name``: partners are drawn within the
local shard (no pixel crosses a device), per-example draws differ between
shards, and the batch-wide draws of ``"batch"`` mode (lambda, box, coin) are
the same on every shard, so the global batch still has one box.
"""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import boxes
from cutmix_jax._src import labels as labels_lib
from cutmix_jax._src import params as params_lib
from cutmix_jax._src import partners as partners_lib
from cutmix_jax._src import random_bits
from cutmix_jax._src import validation


def _words(key: jax.Array, batch_wide: int, rows: int, batch_size: int):
  """``batch_wide`` scalar words and ``uint32[rows, B]`` from one `jax.random.bits` call."""
  if batch_wide + rows == 0:
    return [], jnp.zeros((0, batch_size), jnp.uint32)
  flat = jax.random.bits(key, (batch_wide + rows * batch_size,), jnp.uint32)
  return list(flat[:batch_wide]), flat[batch_wide:].reshape(rows, batch_size)


class _Draw:
  """Keys, random words and shape bookkeeping shared by the samplers of one call.

  Each sampler says up front how many ``uint32`` words and how many keys its
  draws take; the words are then drawn with one `jax.random.bits` call per key
  (see `random_bits` for why) and handed out in order.
  """

  def __init__(self, rng, batch_size: int, mode: str, axis_name: str | None,
               *, words: int, keys: int = 0):
    validation.check_rng(rng)
    validation.check_mode(mode)
    self.batch_size = validation.check_batch_size(batch_size)
    self.mode = mode
    partner_rows = random_bits.permutation_words(self.batch_size)
    batch_wide, example_rows = (words, 0) if mode == "batch" else (0, words)
    self._keys = []
    if axis_name is None:
      # One Threefry call for everything. On CPU JAX runs each call as a
      # rolled loop of small kernels, so the number of calls, not the number
      # of words, sets the sampling time and much of the compile time.
      if keys:
        rng, *self._keys = jax.random.split(rng, keys + 1)
      shared, rows = _words(rng, batch_wide, partner_rows + example_rows,
                            self.batch_size)
    else:
      # Batch-wide draws use the shared key, unfolded, so that every shard of
      # a sharded batch agrees on the box; partners and per-example draws use
      # the local key, folded with the shard index so that shards differ.
      batch_key, local_key = jax.random.split(rng)
      local_key = jax.random.fold_in(local_key, jax.lax.axis_index(axis_name))
      if keys:
        if mode == "batch":
          batch_key, *self._keys = jax.random.split(batch_key, keys + 1)
        else:
          local_key, *self._keys = jax.random.split(local_key, keys + 1)
      shared, _ = _words(batch_key, batch_wide, 0, self.batch_size)
      _, rows = _words(local_key, 0, partner_rows + example_rows, self.batch_size)
    self._words = list(shared) + list(rows[partner_rows:])
    self.index = jnp.arange(self.batch_size, dtype=jnp.int32)
    if mode == "pair":
      self.partner = partners_lib.pairs_from_words(rows[:partner_rows])
    else:
      self.partner = partners_lib.partners_from_words(rows[:partner_rows])

  @property
  def shape(self) -> tuple[int, ...]:
    """The shape of one draw: a scalar in batch mode, one per example otherwise."""
    return () if self.mode == "batch" else (self.batch_size,)

  def words(self, count: int | None = None) -> jax.Array:
    """The next ``uint32`` words: one draw of `shape`, or ``count`` stacked."""
    taken = self._words[:count or 1]
    del self._words[:count or 1]
    if len(taken) != (count or 1):
      raise AssertionError("a sampler asked for more words than it reserved")
    return taken[0] if count is None else jnp.stack(taken)

  def key(self) -> jax.Array:
    """The next reserved key, for draws that need `jax.random` (Beta, normal)."""
    if not self._keys:
      raise AssertionError("a sampler asked for more keys than it reserved")
    return self._keys.pop(0)

  def check_done(self) -> None:
    """Every reserved word and key was used (the reservations are exact)."""
    if self._words or self._keys:
      raise AssertionError("a sampler reserved words or keys it did not use")

  def per_example(self, x: jax.Array) -> jax.Array:
    """Spreads a draw of `shape` (plus trailing dims) to one row per example."""
    if self.mode == "batch":
      return jnp.broadcast_to(x, (self.batch_size,) + x.shape)
    if self.mode == "pair":
      return x[partners_lib.pair_representative(self.partner)]
    return x

  def coin(self, prob: ArrayLike) -> jax.Array:
    """``bool[B]``: whether each example is mixed, excluding self-partners."""
    heads = random_bits.uniform(self.words()) < jnp.asarray(prob, jnp.float32)
    return self.per_example(heads) & (self.partner != self.index)

  def lam(self, alpha: ArrayLike) -> jax.Array:
    """``lam ~ Beta(alpha, alpha)`` of `shape` (see `_lambda_needs`)."""
    if boxes.is_one(alpha):
      return boxes.lambda_from_words(self.words())
    return boxes.sample_beta_lambda(self.key(), alpha, self.shape)


def _lambda_needs(alpha) -> tuple[int, int]:
  """``(words, keys)`` that one `_Draw.lam` takes."""
  return (1, 0) if boxes.is_one(alpha) else (0, 1)


def _box_needs(alpha, minmax, center_std, box_size) -> tuple[int, int]:
  """``(words, keys)`` that one `_cutmix_boxes` takes."""
  if minmax is not None:
    return 4, 0
  words, keys = (2, 0) if center_std is None else (0, 1)
  if box_size is None:
    lam_words, lam_keys = _lambda_needs(alpha)
    words, keys = words + lam_words, keys + lam_keys
  return words, keys


def _cutmix_boxes(draw: _Draw, height, width, alpha, minmax, center_std, box_size):
  if minmax is not None:
    return boxes.minmax_boxes_from_words(draw.words(4), height, width, minmax)
  if center_std is None:
    cy, cx = boxes.centers_from_words(draw.words(), draw.words(), height, width)
  else:
    cy, cx = boxes.sample_gaussian_centers(draw.key(), height, width,
                                           draw.shape, center_std)
  if box_size is not None:
    return boxes.box_from_center(cy, cx, box_size[0], box_size[1], height, width)
  return boxes.box_from_lambda(draw.lam(alpha), cy, cx, height, width)


def sample_cutmix_params(
    rng: jax.Array, batch_size: int, height: int, width: int,
    alpha: ArrayLike = 1.0, *, mode: str = "batch", prob: ArrayLike = 1.0,
    minmax: tuple[float, float] | None = None,
    center_std: ArrayLike | None = None,
    box_size: int | tuple[int, int] | None = None,
    label_mode: str = "area", axis_name: str | None = None,
) -> params_lib.MixParams:
  """Draws CutMix parameters for a batch: the paper's algorithm, exactly.

  ``lam ~ Beta(alpha, alpha)``, ``r = sqrt(1 - lam)``, ``cut_h = floor(H r)``,
  ``cut_w = floor(W r)``, centre ``cy ~ U{0..H-1}``, ``cx ~ U{0..W-1}``,
  ``y0 = clip(cy - cut_h // 2, 0, H)``, ``y1 = clip(cy + cut_h // 2, 0, H)``
  (same for x); then the label weight is recomputed from those clipped
  integers: ``lam = 1 - (y1 - y0) (x1 - x0) / (H W)``.

  Args:
    rng: a PRNG key.
    batch_size: ``B`` (static).
    height: ``H`` (static).
    width: ``W`` (static).
    alpha: the Beta parameter, > 0; a Python number or a traced scalar.
    mode: ``"batch"``, ``"elem"`` or ``"pair"`` (see the module docs).
    prob: the probability of mixing, in ``[0, 1]``; may be traced (a schedule).
    minmax: timm's ``cutmix_minmax`` ``(lo, hi)``: box sides drawn uniformly
      from ``[int(lo * side), int(hi * side))`` and placed fully inside the
      image (every position equally likely); ``alpha`` is then unused.
    center_std: the paper's centre-Gaussian ablation: box centres drawn from a
      Gaussian around the image middle with this standard deviation, in units
      of the image side, clipped to the image.
    box_size: the paper's fixed-size ablation: an int or ``(h, w)`` box
      (e.g. 16 on CIFAR), placed and clipped as the paper's boxes are (an odd
      side loses a pixel to the paper's ``// 2``); ``alpha`` is then unused.
    label_mode: ``"area"`` (the paper), ``"larger_area"`` or ``"complete"``
      (the paper's label ablations, see `label_weights`).
    axis_name: the mesh axis when called inside `jax.shard_map` (see the
      module docs); ``None`` otherwise.

  Returns:
    `MixParams` with ``int32[B, 4]`` boxes, ``float32[B]`` label weights,
    ``int32[B]`` partners and ``bool[B]`` flags.

  Raises:
    ValueError, TypeError: for bad arguments, at trace time.

  Examples:
    >>> import jax
    >>> import cutmix_jax
    >>> params = cutmix_jax.sample_cutmix_params(jax.random.key(0), 8, 32, 32)
    >>> params.box.shape, params.lam.shape
    ((8, 4), (8,))
    >>> bool(jax.numpy.all(params.lam == 1 - cutmix_jax.pasted_fraction(params.box, 32, 32)))
    True
  """
  height, width = validation.check_image_size(height, width)
  validation.check_probability(prob)
  validation.check_label_mode(label_mode)
  minmax = validation.check_minmax(minmax)
  box_size = validation.check_box_size(box_size, height, width)
  validation.check_center_std(center_std)
  if minmax is None and box_size is None:
    validation.check_alpha(alpha)
  box_words, box_keys = _box_needs(alpha, minmax, center_std, box_size)
  draw = _Draw(rng, batch_size, mode, axis_name, words=1 + box_words, keys=box_keys)
  applied = draw.coin(prob)
  box = draw.per_example(
      _cutmix_boxes(draw, height, width, alpha, minmax, center_std, box_size))
  draw.check_done()
  box = jnp.where(applied[:, None], box, 0)
  params = params_lib.MixParams(
      box=box, lam=jnp.ones(draw.batch_size, jnp.float32), partner=draw.partner,
      applied=applied, is_cutmix=jnp.ones(draw.batch_size, bool))
  return params._replace(
      lam=labels_lib.label_weights(params, height, width, label_mode=label_mode))


def sample_mixup_params(
    rng: jax.Array, batch_size: int, alpha: ArrayLike = 1.0, *,
    mode: str = "batch", prob: ArrayLike = 1.0, axis_name: str | None = None,
) -> params_lib.MixParams:
  """Draws MixUp parameters: ``lam ~ Beta(alpha, alpha)`` per batch, example or pair.

  Args:
    rng: a PRNG key.
    batch_size: ``B`` (static).
    alpha: the Beta parameter, > 0; a Python number or a traced scalar.
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    prob: the probability of mixing, in ``[0, 1]``.
    axis_name: the mesh axis inside `jax.shard_map`, else ``None``.

  Returns:
    `MixParams` with empty boxes, ``is_cutmix`` all False and ``lam`` the
    blend weight of each example's own image (1.0 where not applied).

  Examples:
    >>> import jax
    >>> import cutmix_jax
    >>> params = cutmix_jax.sample_mixup_params(jax.random.key(0), 4, 0.4, mode="elem")
    >>> params.lam.shape, params.lam.dtype
    ((4,), dtype('float32'))
  """
  validation.check_alpha(alpha)
  validation.check_probability(prob)
  lam_words, lam_keys = _lambda_needs(alpha)
  draw = _Draw(rng, batch_size, mode, axis_name, words=1 + lam_words, keys=lam_keys)
  applied = draw.coin(prob)
  lam = draw.per_example(draw.lam(alpha))
  draw.check_done()
  return params_lib.MixParams(
      box=jnp.zeros((draw.batch_size, 4), jnp.int32),
      lam=jnp.where(applied, lam, 1.0), partner=draw.partner, applied=applied,
      is_cutmix=jnp.zeros(draw.batch_size, bool))


def _statically_zero(x) -> bool:
  return isinstance(x, (int, float)) and x == 0


def sample_mixup_or_cutmix_params(
    rng: jax.Array, batch_size: int, height: int, width: int, *,
    mixup_alpha: ArrayLike = 0.8, cutmix_alpha: ArrayLike = 1.0,
    switch_prob: ArrayLike = 0.5, prob: ArrayLike = 1.0, mode: str = "batch",
    minmax: tuple[float, float] | None = None, label_mode: str = "area",
    axis_name: str | None = None,
) -> params_lib.MixParams:
  """Draws parameters that use CutMix with ``switch_prob``, MixUp otherwise (timm's knobs).

  The choice is made per batch (``mode="batch"``), per example or per pair.
  ``mixup_alpha=0`` or ``cutmix_alpha=0`` (Python numbers) turns that method
  off, as in timm; ``minmax`` turns CutMix on whatever ``cutmix_alpha`` is.
  Traced alphas must be positive.

  Returns:
    `MixParams`: CutMix rows carry a box and its area label weight, MixUp rows
    an empty box and the blend weight; ``is_cutmix`` tells them apart.

  Raises:
    ValueError: if both methods are off, or for any bad argument.

  Examples:
    >>> import jax
    >>> import cutmix_jax
    >>> params = cutmix_jax.sample_mixup_or_cutmix_params(
    ...     jax.random.key(0), 8, 32, 32, mode="elem")
    >>> params.is_cutmix.dtype
    dtype('bool')
  """
  height, width = validation.check_image_size(height, width)
  validation.check_alpha(mixup_alpha, arg="mixup_alpha", allow_zero=True)
  validation.check_alpha(cutmix_alpha, arg="cutmix_alpha", allow_zero=True)
  validation.check_probability(switch_prob, arg="switch_prob")
  validation.check_probability(prob)
  validation.check_label_mode(label_mode)
  minmax = validation.check_minmax(minmax)
  use_mixup = not _statically_zero(mixup_alpha)
  use_cutmix = minmax is not None or not _statically_zero(cutmix_alpha)
  if not (use_mixup or use_cutmix):
    raise ValueError(
        "mixup_alpha, cutmix_alpha: both are 0, so nothing would be mixed; "
        "set one of them > 0 (or pass minmax).")
  words, keys = 1 + (use_mixup and use_cutmix), 0
  if use_cutmix:
    box_words, box_keys = _box_needs(cutmix_alpha, minmax, None, None)
    words, keys = words + box_words, keys + box_keys
  if use_mixup:
    lam_words, lam_keys = _lambda_needs(mixup_alpha)
    words, keys = words + lam_words, keys + lam_keys
  draw = _Draw(rng, batch_size, mode, axis_name, words=words, keys=keys)
  applied = draw.coin(prob)
  if use_mixup and use_cutmix:
    heads = random_bits.uniform(draw.words()) < jnp.asarray(switch_prob, jnp.float32)
    is_cutmix = draw.per_example(heads)
  else:
    is_cutmix = jnp.full(draw.batch_size, use_cutmix)
  if use_cutmix:
    box = draw.per_example(
        _cutmix_boxes(draw, height, width, cutmix_alpha, minmax, None, None))
  else:
    box = jnp.zeros((draw.batch_size, 4), jnp.int32)
  if use_mixup:
    mix_lam = draw.per_example(draw.lam(mixup_alpha))
  else:
    mix_lam = jnp.ones(draw.batch_size, jnp.float32)
  draw.check_done()
  box = jnp.where((applied & is_cutmix)[:, None], box, 0)
  params = params_lib.MixParams(
      box=box, lam=jnp.where(applied, mix_lam, 1.0), partner=draw.partner,
      applied=applied, is_cutmix=is_cutmix)
  return params._replace(
      lam=labels_lib.label_weights(params, height, width, label_mode=label_mode))
