"""cutmix_jax: CutMix and MixUp for JAX, the paper's exact algorithm as pure functions."""

from cutmix_jax import boxes
from cutmix_jax._src.augment import cutmix
from cutmix_jax._src.augment import mixup
from cutmix_jax._src.augment import mixup_or_cutmix
from cutmix_jax._src.augment import resizemix
from cutmix_jax._src.augment import with_params
from cutmix_jax._src.boxes import pasted_fraction
from cutmix_jax._src.choice import one_of
from cutmix_jax._src.losses import mixed_cross_entropy
from cutmix_jax._src.mixing import blend
from cutmix_jax._src.mixing import cut_and_paste
from cutmix_jax._src.mixing import mix_labels
from cutmix_jax._src.sampling import MixParams
from cutmix_jax._src.sharding import per_shard
from cutmix_jax._src.transmix import transmix_weights

__version__ = "0.3.0"

__all__ = (
    # Random functions.
    "cutmix",
    "mixup",
    "mixup_or_cutmix",
    "resizemix",
    "one_of",
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
    "transmix_weights",
    # Many devices.
    "per_shard",
)
