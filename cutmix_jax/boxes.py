"""Box rules for `cutmix_jax.cutmix`'s ``box`` option; ``None`` is `paper`.

Rules are hashable, so they can be static arguments of `jax.jit`.
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
