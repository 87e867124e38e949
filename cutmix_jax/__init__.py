"""cutmix_jax: CutMix and MixUp for JAX, the paper's exact algorithm as pure functions.

The random functions (`cutmix`, `mixup`, `mixup_or_cutmix`) draw parameters
and apply them; the deterministic core (`cut_and_paste`, `blend`,
`mix_labels`, the box geometry) applies given parameters and is exactly
testable.
"""

from cutmix_jax._src.augment import cutmix
from cutmix_jax._src.augment import mixup
from cutmix_jax._src.augment import mixup_or_cutmix
from cutmix_jax._src.boxes import box_area
from cutmix_jax._src.boxes import box_from_center
from cutmix_jax._src.boxes import box_from_lambda
from cutmix_jax._src.boxes import pasted_fraction
from cutmix_jax._src.boxes import rescale_boxes
from cutmix_jax._src.labels import check_labels_in_range
from cutmix_jax._src.labels import label_weights
from cutmix_jax._src.labels import mix_labels
from cutmix_jax._src.labels import soft_labels
from cutmix_jax._src.losses import mixed_cross_entropy
from cutmix_jax._src.masks import box_mask
from cutmix_jax._src.mixing import blend
from cutmix_jax._src.mixing import cut_and_paste
from cutmix_jax._src.mixing import mix_images
from cutmix_jax._src.params import MixParams
from cutmix_jax._src.sampling import sample_cutmix_params
from cutmix_jax._src.sampling import sample_mixup_or_cutmix_params
from cutmix_jax._src.sampling import sample_mixup_params
from cutmix_jax._src.sharding import per_shard

__version__ = "0.1.0"

__all__ = (
    "MixParams",
    "blend",
    "box_area",
    "box_from_center",
    "box_from_lambda",
    "box_mask",
    "check_labels_in_range",
    "cut_and_paste",
    "cutmix",
    "label_weights",
    "mix_images",
    "mix_labels",
    "mixed_cross_entropy",
    "mixup",
    "mixup_or_cutmix",
    "pasted_fraction",
    "per_shard",
    "rescale_boxes",
    "sample_cutmix_params",
    "sample_mixup_or_cutmix_params",
    "sample_mixup_params",
    "soft_labels",
)
