"""Box rules for `cutmix_jax.cutmix`'s ``box`` option; ``None`` is `paper`.

Rules are hashable, so they can be static arguments of `jax.jit`.

Examples:
  >>> import jax, jax.numpy as jnp, cutmix_jax
  >>> from cutmix_jax import boxes
  >>> mix = cutmix_jax.with_params(cutmix_jax.cutmix)
  >>> _, _, params = mix(jax.random.key(0), jnp.zeros((4, 64, 64, 3)),
  ...                    jnp.arange(4), num_classes=4,
  ...                    box=boxes.on_patch_grid(16, boxes.minmax(0.25, 0.75)))
  >>> bool((params.box % 16 == 0).all())
  True
"""

from cutmix_jax._src.box_rules import at_resolution
from cutmix_jax._src.box_rules import BoxRule
from cutmix_jax._src.box_rules import fixed_size
from cutmix_jax._src.box_rules import gaussian_center
from cutmix_jax._src.box_rules import minmax
from cutmix_jax._src.box_rules import on_patch_grid
from cutmix_jax._src.box_rules import paper

__all__ = (
    "BoxRule",
    "at_resolution",
    "fixed_size",
    "gaussian_center",
    "minmax",
    "on_patch_grid",
    "paper",
)
