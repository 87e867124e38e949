"""Box rules for `cutmix_jax.cutmix`'s ``box`` option; ``None`` is `paper`.

Each constructor returns a hashable rule, so it can be a static argument of
`jax.jit`; `on_patch_grid` and `at_resolution` wrap another rule.
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
