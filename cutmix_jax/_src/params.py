"""The parameters of one mixing draw: a small pytree that can leave `jax.jit`."""

from typing import NamedTuple

import jax


class MixParams(NamedTuple):
  """What was drawn for each example of a batch of size ``B``.

  The sampling functions return it, the deterministic core consumes it, and it
  can be returned from a jitted step for logging or for drawing the boxes.

  Attributes:
    box: ``int32[B, 2k]`` for ``k`` cut axes: the ``k`` starts, then the ``k``
      ends. For images (``k = 2``) that is ``(y0, x0, y1, x1)``: rows
      ``[y0, y1)`` and columns ``[x0, x1)`` come from the partner. Examples
      that paste nothing (not mixed, an empty box, MixUp rows) have the box
      of zeros.
    lam: ``float32[B]``, the weight of the example's own label; the partner's
      label gets ``1 - lam``. For CutMix rows it is exactly the fraction of
      elements that were *not* pasted (under the default ``"area"`` label
      rule; `cutmix` returns the weights of the rule it used); for MixUp rows
      it is the blend weight of the example's own image. ``1.0`` for
      examples that are not mixed.
    partner: ``int32[B]``, the index of the example that lends its pixels
      and label.
    applied: ``bool[B]``, whether anything of the partner reaches the
      example: its ``prob`` coin came up, its partner is another example,
      and its box is not empty (CutMix) or its ``lam`` is below 1 (MixUp).
      Examples with ``applied`` False come out bitwise unchanged.
    is_cutmix: ``bool[B]``, whether the example is mixed by CutMix (``True``)
      or by MixUp (``False``); only the combined function mixes both.
  """

  box: jax.Array
  lam: jax.Array
  partner: jax.Array
  applied: jax.Array
  is_cutmix: jax.Array
