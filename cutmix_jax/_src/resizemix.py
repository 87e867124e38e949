"""ResizeMix (Qin et al., 2020): the whole partner, resized, pasted into a box."""

from collections.abc import Sequence
import functools

import jax
from jax.typing import ArrayLike

from cutmix_jax._src import augment
from cutmix_jax._src import steps


@augment.random_function(
    functools.partial(steps.run, steps.RESIZEMIX), steps.RESIZEMIX
)
def resizemix(  # type: ignore[empty-body]
    rng: jax.Array,
    images: ArrayLike,
    labels: ArrayLike,
    scale: tuple[ArrayLike, ArrayLike] = (0.1, 0.8),
    *,
    num_classes: int | None = None,
    mode: str = "batch",
    prob: ArrayLike = 1.0,
    label_smoothing: ArrayLike = 0.0,
    axes: int | Sequence[int] | None = None,
    axis_name: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """ResizeMix: paste the whole partner, resized to a box, and mix labels by area.

  Draws ``tau ~ U(lo, hi)``: the box has sides ``floor(tau n_i)`` on the cut
  axes, placed uniformly where it fits; the own label weighs 1 minus the pasted
  fraction. The partner is resized like ``jax.image.resize``'s ``"linear"``
  (bool: ``"nearest"``); a mask follows via `with_params` and `cut_and_paste`.
  ``scale`` may be traced. OpenMixup: it beats CutMix with ResNet-50 (77.42 vs
  77.17), not with DeiT-S.

  Args:
    scale: ``(lo, hi)`` in ``[0, 1]``, the range of ``tau``.
    rng, images, labels, num_classes, mode, prob: as for `cutmix`.
    label_smoothing, axes, axis_name: as for `cutmix`.

  Returns:
    ``(mixed_images, mixed_labels)``, as for `cutmix`.

  Raises:
    TypeError, ValueError: as for `cutmix`.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> x, y = jnp.zeros((4, 32, 32, 3), jnp.uint8), jnp.arange(4)
    >>> cutmix_jax.resizemix(jax.random.key(0), x, y, num_classes=4)[0].dtype
    dtype('uint8')
  """
