"""Box rules for `cutmix_jax.cutmix`'s ``box`` option.

``box=None`` is the paper's rule. Each constructor returns a small hashable
rule, so it can be a static argument of `jax.jit`; the wrappers take another
rule (the paper's by default):

* `paper`: ``lam ~ Beta(alpha, alpha)``, side ``floor(n sqrt(1 - lam))``, a
  uniform centre, clipped (the default).
* `gaussian_center` and `fixed_size`: the paper's two ablations.
* `minmax`: timm's ``cutmix_minmax``.
* `on_patch_grid`: boxes on a ViT's patch grid.
* `at_resolution`: feature-level CutMix, boxes drawn at the input size.
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
