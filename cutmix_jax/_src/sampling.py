"""Drawing the parameters of a mixing: keys, partners, coins, lambdas, `MixParams`.

Modes (as timm names them):

* ``"batch"``: the paper's. One lambda, one box and one ``prob`` coin for the
  whole batch; example ``i`` takes from ``partner[i]``, a uniformly random
  permutation of the batch (the paper's ``torch.randperm``).
* ``"elem"``: every example draws its own lambda, box and coin; partners as
  above.
* ``"pair"``: the batch is split into random pairs, and both members of a
  pair swap the same box; with an odd batch one example pairs with itself.

Every draw comes from `jax.random`, each from its own key: a call splits its
key once into keys named by purpose, so an option that changes one draw
leaves the others alone.

Inside `per_shard` (``axis_name`` set) each device draws partners within its
shard, and no example of a shard of two or more is its own partner: partners
are a uniformly random cyclic permutation of the shard (``"batch"`` and
``"elem"``), and in ``"pair"`` mode the example left over by an odd shard
takes from a random other example, one way. Batch-wide draws (``"batch"``
mode's lambda, box and coin) use the unfolded key, so every shard agrees and
the global batch has one box; per-example draws use the key folded with the
shard index.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cutmix_jax._src import arguments
from cutmix_jax._src import boxes


class MixParams(NamedTuple):
  """What was drawn for each example of a batch of ``B``.

  `with_params` returns it next to the mixed batch; the deterministic
  functions (`cut_and_paste`, `blend`, `mix_labels`, `mixed_cross_entropy`)
  take it, drawn or built by hand.

  Attributes:
    box: ``int32[B, 2k]`` for ``k`` cut axes: the ``k`` starts, then the ``k``
      ends; ``(y0, x0, y1, x1)`` for images. Rows that paste nothing (not
      applied, MixUp rows) have the box of zeros.
    lam: ``float32[B]``, the weight of the example's own label; the partner's
      gets ``1 - lam``. For CutMix rows it is the fraction of elements not
      pasted (under the paper's label rule), for MixUp rows the blend weight
      of the example's own image; ``1.0`` where not applied.
    partner: ``int32[B]``, the example that lends its pixels and label.
    applied: ``bool[B]``, whether anything of the partner reaches the
      example: its ``prob`` coin came up, its partner is another example and
      its box is not empty (CutMix) or its ``lam`` is below 1 (MixUp). Rows
      with ``applied`` False come out bitwise unchanged.
    is_cutmix: ``bool[B]``, whether the row is pasted (True) or blended
      (False); only `mixup_or_cutmix` mixes both ways.
  """

  box: jax.Array
  lam: jax.Array
  partner: jax.Array
  applied: jax.Array
  is_cutmix: jax.Array


_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)
_LARGEST = float(np.finfo(np.float32).max)
_SMALLEST_NORMAL_BITS = int(np.float32(_SMALLEST_NORMAL).view(np.int32))
_INF_BITS = int(np.float32(np.inf).view(np.int32))


def sample_lambda(rng: jax.Array, alpha, shape: Sequence[int] = ()):
  """``lam ~ Beta(alpha, alpha)``, ``float32[shape]``, for any alpha.

  ``alpha == 1`` (the paper's) draws a Uniform(0, 1), exactly Beta(1, 1). A
  known alpha has been checked; a traced one decides at run time: 0,
  negative or NaN gives lambda 1 (nothing mixed), a value below float32's
  smallest normal is drawn as that number, and ``inf`` gives 0.5.
  """
  shape = tuple(shape)
  f32 = jnp.float32
  if not arguments.is_traced(alpha):
    if alpha == 1:
      return jax.random.uniform(rng, shape, f32)
    a = jnp.float32(max(alpha, _SMALLEST_NORMAL))
    return jax.random.beta(rng, a, a, shape, f32)
  a = jnp.asarray(alpha, f32)
  # Read the sign and range from the bits: XLA on CPU flushes subnormal
  # floats to zero in comparisons, and a subnormal alpha is a valid one.
  bits = jax.lax.bitcast_convert_type(a, jnp.int32)
  on = (bits > 0) & (bits <= _INF_BITS)
  safe = jnp.where(
      bits < _SMALLEST_NORMAL_BITS,
      _SMALLEST_NORMAL,
      jnp.where(bits >= _INF_BITS, _LARGEST, a),
  )
  lam = jnp.where(
      a == 1,
      jax.random.uniform(rng, shape, f32),
      jax.random.beta(rng, safe, safe, shape, f32),
  )
  return jnp.where(on, lam, 1.0)


class _Keys(NamedTuple):
  """One key per purpose, from one split of the caller's key."""

  partner: jax.Array
  coin: jax.Array
  switch: jax.Array
  box: jax.Array
  blend: jax.Array


def _split_keys(rng: jax.Array, mode: str, axis_name) -> _Keys:
  keys = _Keys(*jax.random.split(rng, len(_Keys._fields)))
  if axis_name is None:
    return keys
  shard = jax.lax.axis_index(axis_name)
  local = _Keys(*(jax.random.fold_in(k, shard) for k in keys))
  return keys._replace(partner=local.partner) if mode == "batch" else local


def _permutation(rng: jax.Array, n: int) -> jax.Array:
  return jax.random.permutation(rng, n).astype(jnp.int32)


def _cycle(rng: jax.Array, n: int) -> jax.Array:
  """A uniformly random cyclic permutation: each takes from the next in a shuffle."""
  order = _permutation(rng, n)
  position = jnp.argsort(order).astype(jnp.int32)
  return order[(position + 1) % n]


def _pairs(rng: jax.Array, n: int, *, sharded: bool) -> jax.Array:
  """A random pairing (an involution); neighbours in a shuffle are paired.

  With an odd ``n`` the last in the shuffle is left over: it pairs with
  itself, or (``sharded``) takes from the first in the shuffle, one way.
  """
  order = _permutation(rng, n)
  position = jnp.argsort(order).astype(jnp.int32)
  neighbour = position ^ 1
  lone = 0 if sharded and n > 1 else position
  return order[jnp.where(neighbour < n, neighbour, lone)]


class _Layout(NamedTuple):
  """How one draw maps to the examples of the batch in a mode."""

  mode: str
  partner: jax.Array

  @property
  def batch_size(self) -> int:
    return self.partner.shape[0]

  @property
  def shape(self) -> tuple[int, ...]:
    """One draw per batch, or one per example (a pair reads its smaller index)."""
    return () if self.mode == "batch" else (self.batch_size,)

  def per_example(self, x: jax.Array) -> jax.Array:
    if self.mode == "batch":
      return jnp.broadcast_to(x, (self.batch_size,) + x.shape)
    if self.mode == "pair":
      own = jnp.arange(self.batch_size, dtype=jnp.int32)
      return x[jnp.minimum(own, self.partner)]
    return x

  def coin(self, key: jax.Array, prob) -> jax.Array:
    """``bool[B]``: heads with probability ``prob`` (a NaN is never heads)."""
    heads = jax.random.uniform(key, self.shape) < jnp.asarray(prob, jnp.float32)
    return self.per_example(heads)

  def active(self, key: jax.Array, prob) -> jax.Array:
    """The coin came up and the partner is another example."""
    own = jnp.arange(self.batch_size, dtype=jnp.int32)
    return self.coin(key, prob) & (self.partner != own)


def _layout(
    rng, batch_size: int, mode: str, axis_name
) -> tuple[_Keys, _Layout]:
  keys = _split_keys(rng, mode, axis_name)
  sharded = axis_name is not None
  if mode == "pair":
    partner = _pairs(keys.partner, batch_size, sharded=sharded)
  elif sharded:
    partner = _cycle(keys.partner, batch_size)
  else:
    partner = _permutation(keys.partner, batch_size)
  return keys, _Layout(mode, partner)


def draw_cutmix(
    rng, batch_size: int, size, alpha, *, mode, prob, rule, axis_name
) -> MixParams:
  """The paper's draw: a box per batch, example or pair, from ``rule``."""
  keys, layout = _layout(rng, batch_size, mode, axis_name)
  box = layout.per_example(rule.draw(keys.box, layout.shape, size, alpha))
  active = layout.active(keys.coin, prob)
  return _params(layout, box, active, size, jnp.ones(batch_size, bool), 1.0)


def draw_mixup(rng, batch_size: int, alpha, *, mode, prob, axis_name):
  """MixUp's draw: ``lam ~ Beta(alpha, alpha)`` per batch, example or pair."""
  keys, layout = _layout(rng, batch_size, mode, axis_name)
  lam = layout.per_example(sample_lambda(keys.blend, alpha, layout.shape))
  active = layout.active(keys.coin, prob)
  box = jnp.zeros((batch_size, 4), jnp.int32)
  return _params(layout, box, active, (1, 1), jnp.zeros(batch_size, bool), lam)


def draw_switch(
    rng,
    batch_size: int,
    size,
    *,
    mixup_alpha,
    cutmix_alpha,
    switch_prob,
    prob,
    mode,
    rule,
    axis_name,
) -> MixParams:
  """CutMix with ``switch_prob``, else MixUp (timm's ``Mixup``); alpha 0 is off."""
  mixup_on = _is_on(mixup_alpha)
  cutmix_on = _is_on(cutmix_alpha) if rule.uses_alpha else True
  keys, layout = _layout(rng, batch_size, mode, axis_name)
  use_cutmix = cutmix_on & (
      jnp.logical_not(mixup_on) | layout.coin(keys.switch, switch_prob)
  )
  use_cutmix = jnp.broadcast_to(use_cutmix, (batch_size,))
  if cutmix_on is False:
    box = jnp.zeros((batch_size, 2 * len(size)), jnp.int32)
  else:
    box = layout.per_example(
        rule.draw(keys.box, layout.shape, size, cutmix_alpha)
    )
  lam = 1.0
  if mixup_on is not False:
    lam = layout.per_example(
        sample_lambda(keys.blend, mixup_alpha, layout.shape)
    )
  active = layout.active(keys.coin, prob)
  return _params(layout, box, active, size, use_cutmix, lam)


def _is_on(alpha) -> bool | jax.Array:
  """A method with this checked alpha is on: alpha > 0 (traced: at run time)."""
  return alpha > 0 if arguments.is_traced(alpha) else alpha != 0


def _params(layout, box, active, size, is_cutmix, blend_lam) -> MixParams:
  """Settles the flags and weights once, from the box and the coins.

  A CutMix row pastes only a non-empty box, and its weight is ``1 -`` the
  fraction that box covers; a MixUp row blends only when its lambda is
  below 1. Every other row gets the box of zeros and weight 1.
  """
  area_lam = 1.0 - boxes.fraction(box, size)
  pasted = is_cutmix & active & (area_lam < 1)
  blended = ~is_cutmix & active & (jnp.asarray(blend_lam) < 1)
  return MixParams(
      box=jnp.where(pasted[:, None], box, 0).astype(jnp.int32),
      lam=jnp.where(
          pasted, area_lam, jnp.where(blended, blend_lam, 1.0)
      ).astype(jnp.float32),
      partner=layout.partner,
      applied=pasted | blended,
      is_cutmix=is_cutmix,
  )
