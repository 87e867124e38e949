"""The parameters of one mixing draw: a small pytree that can leave `jax.jit`."""

from typing import NamedTuple

import jax


class MixParams(NamedTuple):
  """What was drawn for each example of a batch of size ``B``.

  The sampling functions return it, the deterministic core consumes it, and it
  can be returned from a jitted step for logging or for drawing the boxes.

  Attributes:
    box: ``int32[B, 4]``, the pasted rectangle as ``(y0, x0, y1, x1)``: rows
      ``[y0, y1)`` and columns ``[x0, x1)`` come from the partner. An empty
      box (``y0 == y1`` or ``x0 == x1``) pastes nothing; examples that are not
      mixed, and MixUp examples, have the empty box ``(0, 0, 0, 0)``.
    lam: ``float32[B]``, the weight of the example's own label; the partner's
      label gets ``1 - lam``. For CutMix (area labels) it is exactly the
      fraction of pixels that were *not* pasted; for MixUp it is the blend
      weight of the example's own image. ``1.0`` for unmixed examples.
    partner: ``int32[B]``, the index of the example that lends its pixels
      and label.
    applied: ``bool[B]``, whether the example was mixed at all (the ``prob``
      coin came up and the partner is not the example itself).
    is_cutmix: ``bool[B]``, whether the example is mixed by CutMix (``True``)
      or by MixUp (``False``); only the combined function mixes both.
  """

  box: jax.Array
  lam: jax.Array
  partner: jax.Array
  applied: jax.Array
  is_cutmix: jax.Array
