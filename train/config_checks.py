"""Start-up checks of a configuration: a bad field stops the run by name.

The mixing options are not checked here but by the library itself: the
configured mixing function is traced with `jax.eval_shape` on abstract
inputs of the run's shapes (nothing is computed), and the library's
`ValueError` or `TypeError`, which names its keyword, is reported under the
``config.cutmix`` field that gave that keyword (`mixing.KEYWORDS`).
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from train import input_pipeline
from train import mixing
from train import models

# The stages after which each model can mix its activations (0 is the stem).
_NUM_STAGES = {"preact_resnet": 4, "wide_resnet": 3, "pyramidnet": 3}
# Options that only some methods read; set for another method they would be
# silently ignored.
_METHOD_SPECIFIC = ("minmax", "center_std", "box_size")


class ConfigError(ValueError):
  """A configuration value that cannot work; the message names the field."""


def _check(ok: bool, field: str, expected: str, got: Any) -> None:
  if not ok:
    raise ConfigError(f"config.{field}: expected {expected}, got {got!r}.")


def validate_config(
    config: ml_collections.ConfigDict,
    num_devices: int,
    num_processes: int = 1,
    *,
    image_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
) -> None:
  """Checks every value the run depends on, before anything is built.

  Args:
    config: the run's configuration.
    num_devices: the global device count (the batch is split over it).
    num_processes: the number of processes (hosts).
    image_shape: ``(H, W, C)`` of the images (every data set here has
      32x32x3 images).
    num_classes: ``K``.

  Raises:
    ConfigError: naming the first bad field, what was expected and what came.
  """
  m, o, a = config.model, config.optimizer, config.augment
  _check(
      config.dataset in input_pipeline.DATASETS,
      "dataset",
      f"one of {input_pipeline.DATASETS}",
      config.dataset,
  )
  _check(
      m.name in models.MODELS,
      "model.name",
      f"one of {tuple(models.MODELS)}",
      m.name,
  )
  _check(
      isinstance(m.width, int) and m.width > 0,
      "model.width",
      "an int > 0",
      m.width,
  )
  _check(
      m.stem_stride in (1, 2)
      and (m.stem_stride == 1 or m.name == "preact_resnet"),
      "model.stem_stride",
      "1, or 2 with preact_resnet",
      m.stem_stride,
  )
  _check(
      0.0 <= m.dropout < 1.0, "model.dropout", "a value in [0, 1)", m.dropout
  )
  for field in ("batch_size", "eval_batch_size"):
    value = config[field]
    _check(isinstance(value, int) and value > 0, field, "an int > 0", value)
    _check(
        value % num_devices == 0,
        field,
        f"a multiple of the device count {num_devices}",
        value,
    )
    _check(
        value % num_processes == 0,
        field,
        f"a multiple of the process count {num_processes}",
        value,
    )
  _check(
      config.num_epochs > 0 or config.num_train_steps > 0,
      "num_epochs",
      "> 0 (or num_train_steps > 0)",
      config.num_epochs,
  )
  _check(o.learning_rate > 0, "optimizer.learning_rate", "> 0", o.learning_rate)
  _check(
      0.0 <= o.momentum < 1.0,
      "optimizer.momentum",
      "a value in [0, 1)",
      o.momentum,
  )
  _check(o.weight_decay >= 0, "optimizer.weight_decay", ">= 0", o.weight_decay)
  _check(
      o.schedule in ("cosine", "step", "constant"),
      "optimizer.schedule",
      "'cosine', 'step' or 'constant'",
      o.schedule,
  )
  _check(
      o.warmup_epochs >= 0, "optimizer.warmup_epochs", ">= 0", o.warmup_epochs
  )
  _check(a.on in ("device", "host"), "augment.on", "'device' or 'host'", a.on)
  _check(a.pad >= 0, "augment.pad", ">= 0", a.pad)
  for field in (
      "log_every_steps",
      "checkpoint_every_steps",
      "keep_checkpoints",
      "eval_every_epochs",
  ):
    _check(
        isinstance(config[field], int) and config[field] > 0,
        field,
        "an int > 0",
        config[field],
    )
  _check(
      config.distributed in ("auto", "on", "off"),
      "distributed",
      "'auto', 'on' or 'off'",
      config.distributed,
  )
  check_mixing(
      config,
      shard_batch=config.batch_size // num_devices,
      image_shape=image_shape,
      num_classes=num_classes,
  )


def check_mixing(
    config: ml_collections.ConfigDict,
    *,
    shard_batch: int,
    image_shape: tuple[int, int, int],
    num_classes: int,
) -> None:
  """Lets the library check ``config.cutmix`` on the run's shapes.

  Args:
    config: the run's configuration.
    shard_batch: the examples on one device (each device mixes its shard).
    image_shape: ``(H, W, C)``.
    num_classes: ``K``.

  Raises:
    ConfigError: naming the ``config.cutmix`` field whose value the library
      refused, with the library's own words.
  """
  c = config.cutmix
  _check(
      c.method in mixing.METHODS,
      "cutmix.method",
      f"one of {mixing.METHODS}",
      c.method,
  )
  for field in _METHOD_SPECIFIC:
    if c[field] is not None and field not in mixing.KEYWORDS[c.method].values():
      raise ConfigError(
          f"config.cutmix.{field}: is not used by cutmix.method={c.method!r}; "
          f"expected None, got {c[field]!r}."
      )
  if c.feature_stage is not None:
    stages = _NUM_STAGES.get(config.model.name, 0)
    _check(
        c.method == "cutmix",
        "cutmix.method",
        "'cutmix' with feature_stage set",
        c.method,
    )
    _check(
        0 <= c.feature_stage <= stages,
        "cutmix.feature_stage",
        f"a stage in [0, {stages}] for {config.model.name}",
        c.feature_stage,
    )
  mix = mixing.mix_function(
      config, num_classes=num_classes, input_size=image_shape[:2]
  )
  images = jax.ShapeDtypeStruct((shard_batch, *image_shape), jnp.uint8)
  labels = jax.ShapeDtypeStruct((shard_batch,), jnp.int32)
  try:
    jax.eval_shape(lambda x, y: mix(jax.random.key(0), x, y), images, labels)
  except (ValueError, TypeError) as e:
    keyword, _, reason = str(e).partition(":")
    field = mixing.KEYWORDS[c.method].get(keyword.strip())
    if field is None:  # Not an option of the config: a bug, not a bad value.
      raise
    raise ConfigError(f"config.cutmix.{field}:{reason}") from e
