"""Drawing a mixing: keys by purpose, partners, coins, lambdas, `MixParams`.

Modes (timm's names): ``"batch"`` (the paper's) draws one lambda, box and
coin for the batch, ``"elem"`` one per example, and in both partners are a
uniform permutation (the paper's ``torch.randperm``); ``"pair"`` splits the
batch into random pairs that swap one box. A call splits its key once into
keys by purpose, so an option that changes one draw leaves the others alone.

Inside `per_shard` (``axis_name`` set) partners are drawn within the shard
and none of a shard of two or more is its own: a uniform random cycle (in
``"pair"`` mode an odd shard's leftover takes from another, one way).
Batch-wide draws use the unfolded key, so every shard has the same box.
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cutmix_jax._src import boxes
from cutmix_jax._src import checks


class MixParams(NamedTuple):
  """What was drawn for each example of a batch of ``B``.

  `with_params` returns it; `cut_and_paste`, `blend`, `mix_labels` and
  `mixed_cross_entropy` take it, drawn or built by hand.

  Attributes:
    box: ``int32[B, 2k]``: the ``k`` starts, then the ``k`` ends of the cut
      axes, ``(y0, x0, y1, x1)`` for images; zeros where nothing is pasted.
    lam: ``float32[B]``, the weight of the example's own label (the
      partner's gets ``1 - lam``): for CutMix rows the fraction not pasted
      (``label_mode="area"``; 1 or 0 for ``"larger_area"``, 0.5 for
      ``"complete"``), the blend weight for MixUp rows, 1 where not applied.
    partner: ``int32[B]``, the example that lends its pixels and label.
    applied: ``bool[B]``: the ``prob`` coin came up, the partner is another
      example and something is pasted or blended. Rows not applied come out
      bitwise unchanged.
    is_cutmix: ``bool[B]``, pasted in a box (True) or blended (False).
    resized: ``bool[B]``, the box holds the whole partner resized
      (ResizeMix); None when the method never resizes.
  """

  box: jax.Array
  lam: jax.Array
  partner: jax.Array
  applied: jax.Array
  is_cutmix: jax.Array
  resized: jax.Array | None = None


_SMALLEST_NORMAL = float(np.finfo(np.float32).tiny)
_LARGEST = float(np.finfo(np.float32).max)
_INF_BITS = int(np.float32(np.inf).view(np.int32))


def sample_lambda(rng: jax.Array, alpha, shape: Sequence[int] = ()):
  """``lam ~ Beta(alpha, alpha)``, ``float32[shape]``; Uniform(0, 1) for 1.

  A traced alpha that is 0, negative or NaN gives 1 (nothing mixed); one
  below float32's smallest normal is drawn as that number; ``inf`` as the
  largest float32 (0.5).
  """
  shape, f32 = tuple(shape), jnp.float32
  if not checks.is_traced(alpha):
    if alpha == 1:
      return jax.random.uniform(rng, shape, f32)
    a = jnp.float32(max(alpha, _SMALLEST_NORMAL))
    return jax.random.beta(rng, a, a, shape, f32)
  a = jnp.asarray(alpha, f32)
  # Read the sign from the bits: XLA on CPU flushes subnormal floats to zero
  # in comparisons, and a subnormal alpha is a valid one.
  bits = jax.lax.bitcast_convert_type(a, jnp.int32)
  on = (bits > 0) & (bits <= _INF_BITS)
  # Never NaN into the sampler: its rejection loop would not end.
  safe = jnp.clip(jnp.where(on, a, 1.0), _SMALLEST_NORMAL, _LARGEST)
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

  def fold_in(self, data) -> "_Keys":
    return _Keys(*(jax.random.fold_in(k, data) for k in self))


def _partners(rng: jax.Array, n: int, mode: str, sharded: bool) -> jax.Array:
  """Each example's partner: a uniform permutation, or (``sharded``) a uniform
  random cycle, each taking from the next in a shuffle; in ``"pair"`` mode
  neighbours in a shuffle swap, and with an odd ``n`` the last pairs with
  itself or (``sharded``) takes from the first, one way."""
  order = jax.random.permutation(rng, n).astype(jnp.int32)
  if mode != "pair" and not sharded:
    return order
  position = jnp.argsort(order).astype(jnp.int32)
  if mode != "pair":
    return order[(position + 1) % n]
  neighbour = position ^ 1
  lone = 0 if sharded and n > 1 else position
  return order[jnp.where(neighbour < n, neighbour, lone)]


class _Layout(NamedTuple):
  """How the draws map to the examples in a mode."""

  mode: str
  partner: jax.Array

  @property
  def batch_size(self) -> int:
    return self.partner.shape[0]

  @property
  def shape(self) -> tuple[int, ...]:
    """One draw, or one per example (a pair reads its smaller index's)."""
    return () if self.mode == "batch" else (self.batch_size,)

  def per_example(self, x: jax.Array) -> jax.Array:
    if self.mode == "batch":
      return jnp.broadcast_to(x, (self.batch_size,) + x.shape)
    if self.mode == "pair":
      own = jnp.arange(self.batch_size, dtype=jnp.int32)
      return x[jnp.minimum(own, self.partner)]
    return x


def layout(rng, batch_size: int, mode: str, axis_name) -> tuple[_Keys, _Layout]:
  """Splits the key by purpose and draws the partners of a batch."""
  keys = _Keys(*jax.random.split(rng, len(_Keys._fields)))
  if axis_name is not None:  # per shard; "batch" mode keeps one box batch-wide
    shard = jax.lax.axis_index(axis_name)
    local = keys.fold_in(shard)
    keys = keys._replace(partner=local.partner) if mode == "batch" else local
  partner = _partners(keys.partner, batch_size, mode, axis_name is not None)
  return keys, _Layout(mode, partner)


def _settle(keys, layout, prob, box, lam, *, cut: bool) -> MixParams:
  """A row mixes if its coin comes up (a NaN ``prob`` never does), its
  partner is another example and its ``lam`` is below 1."""
  u = jax.random.uniform(keys.coin, layout.shape, jnp.float32)
  heads = u < jnp.float32(prob)
  own = jnp.arange(layout.batch_size, dtype=jnp.int32)
  applied = layout.per_example(heads) & (layout.partner != own) & (lam < 1)
  return MixParams(
      box=jnp.where(applied[:, None], box, 0).astype(jnp.int32),
      lam=jnp.where(applied, lam, 1.0).astype(jnp.float32),
      partner=layout.partner,
      applied=applied,
      is_cutmix=jnp.full(layout.batch_size, cut),
  )


def draw_cutmix(keys, layout, size, alpha, prob, rule) -> MixParams:
  """The paper's draw: a box from ``rule``, its label weight the area not pasted."""
  box = rule.draw(keys.box, layout.shape, size, alpha)
  return _settle(keys, layout, prob, *_per_example(layout, box, size), cut=True)


def _per_example(layout, box: jax.Array, size) -> tuple[jax.Array, jax.Array]:
  """Each example's box and label weight from the drawn boxes (one per draw).

  The weight is computed per draw: on a broadcast batch box, XLA would turn
  its division into a product by the reciprocal, one ulp off.
  """
  lam = 1.0 - boxes.fraction(box, size)
  return layout.per_example(box), layout.per_example(lam)


def draw_mixup(keys, layout, alpha, prob) -> MixParams:
  """MixUp's draw: ``lam ~ Beta(alpha, alpha)``."""
  lam = layout.per_example(sample_lambda(keys.blend, alpha, layout.shape))
  box = jnp.zeros((layout.batch_size, 4), jnp.int32)
  return _settle(keys, layout, prob, box, lam, cut=False)


def draw_resizemix(keys, layout, size, scale, prob) -> MixParams:
  """ResizeMix's: sides ``floor(tau n_i)``, ``tau ~ U(lo, hi)``, placed uniformly
  where the box fits."""
  side_key, place_key = jax.random.split(keys.box)
  tau = jax.random.uniform(side_key, layout.shape, jnp.float32, *scale)
  limit = boxes.per_axis(size, (*layout.shape, len(size)))
  sides = jnp.floor(tau[..., None] * limit.astype(jnp.float32))
  sides = jnp.clip(sides.astype(jnp.int32), 0, limit)
  box, lam = _per_example(layout, boxes.place(place_key, sides, size), size)
  params = _settle(keys, layout, prob, box, lam, cut=True)
  return params._replace(resized=params.applied)


def identity(layout: _Layout, num_axes: int) -> MixParams:
  """Parameters that mix nothing, on the layout's partners."""
  no = jnp.zeros(layout.batch_size, bool)
  return MixParams(
      box=jnp.zeros((layout.batch_size, 2 * num_axes), jnp.int32),
      lam=jnp.ones(layout.batch_size, jnp.float32),
      partner=layout.partner,
      applied=no,
      is_cutmix=no,
  )
