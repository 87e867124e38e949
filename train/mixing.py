"""The configured mixing: ``config.cutmix`` turned into a `cutmix_jax` call.

`KEYWORDS` is the one place that says which ``config.cutmix`` field feeds
which keyword of which library function; the train step, the pictures and
the configuration checks all build their mixing from it (`mix_function`).
The library checks the values itself (`config_checks` reports its errors
under the config field's name).

Feature-level CutMix (the paper's variant, ``cutmix.feature_stage``) is the
library's too: `cutmix_jax.cutmix` with ``input_size``, the resolution the
boxes are drawn at.
"""

from collections.abc import Callable
import functools
from typing import Any

import jax
from jax.sharding import Mesh
import ml_collections

import cutmix_jax


def no_mixing(
    rng: jax.Array,
    images: jax.Array,
    labels: jax.Array,
    *,
    num_classes: int,
    label_smoothing: float = 0.0,
    axis_name: str | None = None,
    return_params: bool = True,
) -> tuple[jax.Array, jax.Array, None]:
  """The baseline: the images as they are, the labels one-hot (and smoothed)."""
  del rng, axis_name, return_params
  soft = cutmix_jax.soft_labels(
      labels, num_classes, label_smoothing=label_smoothing
  )
  return images, soft, None


# For each cutmix.method: the library function and, for each of its keywords,
# the config.cutmix field that gives the value.
_CUTMIX_KEYWORDS = {
    "alpha": "alpha",
    "prob": "prob",
    "mode": "mode",
    "label_smoothing": "label_smoothing",
    "minmax": "minmax",
    "center_std": "center_std",
    "box_size": "box_size",
    "label_mode": "label_mode",
}
FUNCTIONS: dict[str, Callable] = {
    "cutmix": cutmix_jax.cutmix,
    "mixup": cutmix_jax.mixup,
    "switch": cutmix_jax.mixup_or_cutmix,
    "none": no_mixing,
}
KEYWORDS: dict[str, dict[str, str]] = {
    "cutmix": _CUTMIX_KEYWORDS,
    "mixup": {
        "alpha": "mixup_alpha",
        "prob": "prob",
        "mode": "mode",
        "label_smoothing": "label_smoothing",
    },
    "switch": {
        "mixup_alpha": "mixup_alpha",
        "cutmix_alpha": "alpha",
        "switch_prob": "switch_prob",
        "prob": "prob",
        "mode": "mode",
        "label_smoothing": "label_smoothing",
        "minmax": "minmax",
        "label_mode": "label_mode",
    },
    "none": {"label_smoothing": "label_smoothing"},
}
METHODS = tuple(FUNCTIONS)


def _value(value: Any) -> Any:
  # The command line gives sequences as lists or tuples; the library wants
  # hashable static options.
  return tuple(value) if isinstance(value, (list, tuple)) else value


def mixing_options(cutmix: ml_collections.ConfigDict) -> dict[str, Any]:
  """The library keywords of ``cutmix.method``, valued from ``config.cutmix``."""
  return {
      keyword: _value(cutmix[field])
      for keyword, field in KEYWORDS[cutmix.method].items()
  }


def mix_function(
    config: ml_collections.ConfigDict,
    *,
    num_classes: int,
    input_size: tuple[int, int],
) -> Callable:
  """The configured mixing for one batch (or one device's shard of it).

  Args:
    config: the run's configuration (``config.cutmix``).
    num_classes: ``K``.
    input_size: ``(H, W)`` of the images (feature-level CutMix draws its
      boxes at this resolution).

  Returns:
    ``mix(rng, x, labels, *, axis_name=None) -> (mixed_x, soft_labels,
    MixParams or None)``; ``x`` is the image batch, or for feature-level
    CutMix the activations.
  """
  c = config.cutmix
  options = mixing_options(c)
  if c.feature_stage is not None:
    options["input_size"] = tuple(input_size)
  return functools.partial(
      FUNCTIONS[c.method],
      num_classes=num_classes,
      return_params=True,
      **options,
  )


def make_mix_fn(
    config: ml_collections.ConfigDict,
    mesh: Mesh,
    *,
    num_classes: int,
    input_size: tuple[int, int],
) -> Callable:
  """`mix_function` run on each device's shard with `cutmix_jax.per_shard`.

  No image crosses a device: each device mixes its own shard of the batch.
  """
  mix = mix_function(config, num_classes=num_classes, input_size=input_size)
  if config.cutmix.method == "none":
    return mix
  return cutmix_jax.per_shard(mix, mesh)
