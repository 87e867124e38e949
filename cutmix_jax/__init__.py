"""cutmix_jax: CutMix and MixUp for JAX, the paper's exact algorithm as pure functions.

The random functions (`cutmix`, `mixup`, `mixup_or_cutmix`) check their
arguments, draw parameters and apply them; `with_params` gives the drawn
`MixParams` too. The deterministic functions (`cut_and_paste`, `blend`,
`mix_labels`, `pasted_fraction`, `mixed_cross_entropy`) apply given
parameters and are exactly testable. `cutmix_jax.boxes` holds the box rules;
`per_shard` mixes each device's shard of a sharded batch.
"""

from cutmix_jax import boxes
from cutmix_jax._src.augment import cutmix
from cutmix_jax._src.augment import mixup
from cutmix_jax._src.augment import mixup_or_cutmix
from cutmix_jax._src.augment import with_params
from cutmix_jax._src.boxes import pasted_fraction
from cutmix_jax._src.losses import mixed_cross_entropy
from cutmix_jax._src.mixing import blend
from cutmix_jax._src.mixing import cut_and_paste
from cutmix_jax._src.mixing import mix_labels
from cutmix_jax._src.sampling import MixParams
from cutmix_jax._src.sharding import per_shard

__version__ = "0.3.0"

__all__ = (
    # Random functions.
    "cutmix",
    "mixup",
    "mixup_or_cutmix",
    "with_params",
    # Box rules (a namespace: cutmix_jax.boxes.paper(), ...).
    "boxes",
    # Deterministic core.
    "MixParams",
    "cut_and_paste",
    "blend",
    "mix_labels",
    "pasted_fraction",
    "mixed_cross_entropy",
    # Many devices.
    "per_shard",
)
