"""Training and evaluation: CutMix inside a jitted Flax NNX step, on every device.

The public pieces, in the order a run uses them (the benchmark and the Colab
notebook call the same functions):

* `validate_config(config, num_devices)`: stops at start-up naming a bad field.
* `make_mesh()`: a ``("data",)`` mesh over all devices.
* `named_keys(seed)`: the root key split once into ``init``, ``data``,
  ``augment`` and ``dropout`` keys; nothing else draws randomness.
* `create_train_state(config, rng, mesh=None, *, num_classes=10,
  steps_per_epoch=1)` -> ``(graphdef, state)``: the model and its
  `nnx.Optimizer`, split; ``state`` is replicated over the mesh.
* `make_train_step(config, graphdef, mesh=None, *, num_classes=10, mean=None,
  std=None)` -> ``step(state, images, labels, aug_key, dropout_key) ->
  (state, metrics)``: the jitted step (`jax.jit` over the split state, the
  state donated). ``images`` are ``uint8[B, H, W, C]`` sharded along the batch;
  the step augments, mixes (with `cutmix_jax.per_shard`, so no image crosses
  devices), normalises, and takes one SGD step. ``config.cutmix.method =
  "none"`` gives the same step without mixing, for the benchmark.
* `make_eval_step(...)`, `make_sample_fn(...)` (a mixed batch and its
  `cutmix_jax.MixParams`, for pictures), and `train_and_evaluate(config,
  workdir)`, which runs it all and returns the final metrics.

Why `jax.jit` over ``nnx.split`` state rather than `nnx.jit`: both compile the
same program, but `nnx.jit` walks the module graph in Python on every call
(see train/README.md for the measured step times), and the split form lets
the step donate its state and be lowered for `cost_analysis()`.

The mesh uses JAX's default Explicit axis type (`jax.make_mesh`): the model
has no sharding annotations, the batch arrives sharded ``P("data")`` and the
parameters replicated ``P()``, so the only collective in the step is the
gradient and batch-norm all-reduce. `cutmix_jax.per_shard` needs an
Explicit-axes mesh (it calls `jax.reshard`, which rejects Auto axes).
"""

import dataclasses
import functools
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import cutmix_jax
from train import input_pipeline
from train import models

_NUM_STAGES = {"preact_resnet": 4, "wide_resnet": 3, "pyramidnet": 3}
_METHODS = ("cutmix", "mixup", "switch", "none")


class ConfigError(ValueError):
  """A configuration value that cannot work; the message names the field."""


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or infinite."""


# --------------------------------------------------------------------------
# Configuration.


def _check(ok: bool, field: str, expected: str, got: Any) -> None:
  if not ok:
    raise ConfigError(f"config.{field}: expected {expected}, got {got!r}.")


def validate_config(config: ml_collections.ConfigDict, num_devices: int,
                    num_processes: int = 1) -> None:
  """Checks every value the run depends on, before anything is built.

  Args:
    config: the run's configuration.
    num_devices: the global device count (the batch is split over it).
    num_processes: the number of hosts.

  Raises:
    ConfigError: naming the first bad field, what was expected and what came.
  """
  c, m, o, a = config.cutmix, config.model, config.optimizer, config.augment
  _check(config.dataset in input_pipeline.DATASETS, "dataset",
         f"one of {input_pipeline.DATASETS}", config.dataset)
  _check(m.name in models.MODELS, "model.name", f"one of {tuple(models.MODELS)}", m.name)
  _check(isinstance(m.width, int) and m.width > 0, "model.width", "an int > 0", m.width)
  _check(m.stem_stride in (1, 2) and (m.stem_stride == 1 or m.name == "preact_resnet"),
         "model.stem_stride", "1, or 2 with preact_resnet", m.stem_stride)
  _check(0.0 <= m.dropout < 1.0, "model.dropout", "a value in [0, 1)", m.dropout)
  for field in ("batch_size", "eval_batch_size"):
    value = config[field]
    _check(isinstance(value, int) and value > 0, field, "an int > 0", value)
    _check(value % num_devices == 0, field,
           f"a multiple of the device count {num_devices}", value)
    _check(value % num_processes == 0, field,
           f"a multiple of the process count {num_processes}", value)
  _check(config.num_epochs > 0 or config.num_train_steps > 0, "num_epochs",
         "> 0 (or num_train_steps > 0)", config.num_epochs)
  _check(o.learning_rate > 0, "optimizer.learning_rate", "> 0", o.learning_rate)
  _check(0.0 <= o.momentum < 1.0, "optimizer.momentum", "a value in [0, 1)", o.momentum)
  _check(o.weight_decay >= 0, "optimizer.weight_decay", ">= 0", o.weight_decay)
  _check(o.schedule in ("cosine", "step", "constant"), "optimizer.schedule",
         "'cosine', 'step' or 'constant'", o.schedule)
  _check(o.warmup_epochs >= 0, "optimizer.warmup_epochs", ">= 0", o.warmup_epochs)
  _check(c.method in _METHODS, "cutmix.method", f"one of {_METHODS}", c.method)
  _check(c.alpha > 0, "cutmix.alpha", "> 0", c.alpha)
  _check(c.mixup_alpha > 0, "cutmix.mixup_alpha", "> 0", c.mixup_alpha)
  _check(0.0 <= c.prob <= 1.0, "cutmix.prob", "a value in [0, 1]", c.prob)
  _check(0.0 <= c.switch_prob <= 1.0, "cutmix.switch_prob", "a value in [0, 1]",
         c.switch_prob)
  _check(0.0 <= c.label_smoothing < 1.0, "cutmix.label_smoothing",
         "a value in [0, 1)", c.label_smoothing)
  _check(c.mode in ("batch", "elem", "pair"), "cutmix.mode",
         "'batch', 'elem' or 'pair'", c.mode)
  _check(c.label_mode in ("area", "larger_area", "complete"), "cutmix.label_mode",
         "'area', 'larger_area' or 'complete'", c.label_mode)
  if c.minmax is not None:
    lo, hi = c.minmax
    _check(0 < lo < hi <= 1, "cutmix.minmax", "(lo, hi) with 0 < lo < hi <= 1", c.minmax)
  if c.center_std is not None:
    _check(c.center_std > 0, "cutmix.center_std", "> 0", c.center_std)
  if c.box_size is not None:
    _check(0 < c.box_size <= 32, "cutmix.box_size", "an int in [1, 32]", c.box_size)
  if c.feature_stage is not None:
    stages = _NUM_STAGES.get(m.name, 0)
    _check(c.method == "cutmix", "cutmix.method", "'cutmix' with feature_stage set",
           c.method)
    _check(0 <= c.feature_stage <= stages, "cutmix.feature_stage",
           f"a stage in [0, {stages}] for {m.name}", c.feature_stage)
  _check(a.on in ("device", "host"), "augment.on", "'device' or 'host'", a.on)
  _check(a.pad >= 0, "augment.pad", ">= 0", a.pad)
  for field in ("log_every_steps", "checkpoint_every_steps", "keep_checkpoints",
                "eval_every_epochs"):
    _check(isinstance(config[field], int) and config[field] > 0, field,
           "an int > 0", config[field])
  _check(config.distributed in ("auto", "on", "off"), "distributed",
         "'auto', 'on' or 'off'", config.distributed)


# --------------------------------------------------------------------------
# Devices and randomness.


def make_mesh(devices=None) -> Mesh:
  """A one-axis ``("data",)`` mesh over all devices (Explicit axes, JAX's default)."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), ("data",), devices=devices)


def named_keys(seed: int) -> dict[str, jax.Array]:
  """One root key from ``seed``, split once into the run's purpose-named keys.

  No key is stored in the training state: inside the step the augmentation and
  dropout keys are folded with the step number, so a resumed run draws
  exactly what an uninterrupted one would.
  """
  names = ("init", "data", "augment", "dropout")
  return dict(zip(names, jax.random.split(jax.random.key(seed), len(names))))


def data_seed(data_key: jax.Array) -> int:
  """The integer seed of the data order (NumPy permutations on the host)."""
  return int(jax.random.randint(data_key, (), 0, 2**31 - 1))


# --------------------------------------------------------------------------
# Model, optimizer and state.


def create_model(config: ml_collections.ConfigDict, num_classes: int,
                 rng: jax.Array, in_channels: int = 3) -> models.Classifier:
  """The configured classifier, initialised from ``rng``."""
  m = config.model
  kwargs = dict(depth=m.depth, width=m.width, num_classes=num_classes,
                in_channels=in_channels,
                dtype=jnp.bfloat16 if config.half_precision else None,
                rngs=nnx.Rngs(params=rng))
  if m.name == "wide_resnet":
    kwargs["dropout"] = m.dropout
  if m.stem_stride != 1:
    kwargs["stem_stride"] = m.stem_stride
  return models.MODELS[m.name](**kwargs)


def learning_rate_schedule(config: ml_collections.ConfigDict,
                           steps_per_epoch: int, num_steps: int) -> optax.Schedule:
  """The configured schedule over optimizer steps, with optional linear warm-up."""
  o = config.optimizer
  warmup = int(o.warmup_epochs * steps_per_epoch)
  if o.schedule == "cosine":
    main = optax.cosine_decay_schedule(o.learning_rate, max(num_steps - warmup, 1))
  elif o.schedule == "step":
    main = optax.piecewise_constant_schedule(
        o.learning_rate,
        {int(e * steps_per_epoch) - warmup: o.decay_factor for e in o.decay_epochs})
  else:
    main = optax.constant_schedule(o.learning_rate)
  if warmup == 0:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, o.learning_rate, warmup), main], [warmup])


def make_optimizer(config: ml_collections.ConfigDict, schedule: optax.Schedule
                   ) -> optax.GradientTransformation:
  """SGD with momentum and L2 weight decay added to the gradients (PyTorch's SGD)."""
  o = config.optimizer
  return optax.chain(
      optax.add_decayed_weights(o.weight_decay),
      optax.sgd(schedule, momentum=o.momentum or None, nesterov=o.nesterov))


def num_train_steps(config: ml_collections.ConfigDict, steps_per_epoch: int) -> int:
  """``config.num_train_steps`` if set, else ``num_epochs`` whole epochs."""
  if config.num_train_steps > 0:
    return config.num_train_steps
  return config.num_epochs * steps_per_epoch


def create_train_state(config: ml_collections.ConfigDict, rng: jax.Array,
                       mesh: Mesh | None = None, *, num_classes: int = 10,
                       steps_per_epoch: int = 1, in_channels: int = 3
                       ) -> tuple[nnx.GraphDef, nnx.State]:
  """Builds the model and its optimizer and splits them for `make_train_step`.

  Args:
    config: the run's configuration (model, optimizer).
    rng: the ``init`` key.
    mesh: the device mesh; the state is replicated over it (default: all
      devices).
    num_classes: ``K``.
    steps_per_epoch: for the learning-rate schedule's epoch boundaries.
    in_channels: the image channels.

  Returns:
    ``(graphdef, state)`` of the pair ``(model, optimizer)``; ``state`` is an
    `nnx.State` of arrays replicated over ``mesh``.
  """
  mesh = make_mesh() if mesh is None else mesh
  model = create_model(config, num_classes, rng, in_channels)
  schedule = learning_rate_schedule(config, steps_per_epoch,
                                    num_train_steps(config, steps_per_epoch))
  optimizer = nnx.Optimizer(model, make_optimizer(config, schedule), wrt=nnx.Param)
  graphdef, state = nnx.split((model, optimizer))
  return graphdef, jax.device_put(state, NamedSharding(mesh, P()))


# --------------------------------------------------------------------------
# Mixing.


def _cutmix_options(c: ml_collections.ConfigDict) -> dict[str, Any]:
  return dict(alpha=c.alpha, mode=c.mode, prob=c.prob,
              label_smoothing=c.label_smoothing,
              minmax=tuple(c.minmax) if c.minmax is not None else None,
              center_std=c.center_std, box_size=c.box_size, label_mode=c.label_mode)


def feature_cutmix(rng: jax.Array, features: jax.Array, labels: jax.Array, *,
                   input_size: tuple[int, int], num_classes: int,
                   axis_name: str | None = None, return_params: bool = True,
                   **options) -> tuple[jax.Array, jax.Array, cutmix_jax.MixParams]:
  """CutMix on a feature map with the boxes drawn for the input (the paper's variant).

  The boxes are drawn at the input resolution exactly as input-level CutMix
  draws them, mapped to the feature map with `cutmix_jax.rescale_boxes`, and
  the label weights are recomputed from the rescaled boxes' pasted fraction,
  so the label still equals what was pasted.

  Args:
    rng: the mixing key.
    features: ``[B, h, w, C]`` activations.
    labels: ``int[B]``.
    input_size: ``(H, W)`` of the input images.
    num_classes: ``K``.
    axis_name: the mesh axis, inside `cutmix_jax.per_shard`.
    return_params: must be True (kept for `per_shard`'s calling convention).
    **options: `cutmix_jax.cutmix`'s drawing options (alpha, mode, prob,
      label_smoothing, minmax, center_std, box_size, label_mode).

  Returns:
    ``(mixed_features, soft_labels, params)`` with ``params.box`` at the
    feature resolution.
  """
  del return_params
  label_smoothing = options.pop("label_smoothing")
  label_mode = options["label_mode"]
  batch, height, width = features.shape[:3]
  params = cutmix_jax.sample_cutmix_params(
      rng, batch, *input_size, options.pop("alpha"), axis_name=axis_name, **options)
  params = params._replace(
      box=cutmix_jax.rescale_boxes(params.box, input_size, (height, width)))
  params = params._replace(lam=cutmix_jax.label_weights(
      params, height, width, label_mode=label_mode))
  mixed = cutmix_jax.cut_and_paste(features, params)
  soft = cutmix_jax.mix_labels(labels, params, num_classes=num_classes,
                               label_smoothing=label_smoothing)
  return mixed, soft, params


def make_mix_fn(config: ml_collections.ConfigDict, mesh: Mesh, num_classes: int,
                input_size: tuple[int, int] = (32, 32)) -> Callable:
  """The configured mixing, run per device shard with `cutmix_jax.per_shard`.

  Returns:
    ``mix(rng, x, labels) -> (mixed_x, soft_labels, MixParams)``; ``x`` is the
    image batch, or for feature-level CutMix the activations.
  """
  c = config.cutmix
  if c.method == "none":
    def no_mix(rng, x, labels):
      del rng
      soft = cutmix_jax.soft_labels(labels, num_classes, label_smoothing=c.label_smoothing)
      return x, soft, None
    return no_mix
  if c.feature_stage is not None:
    fn = functools.partial(feature_cutmix, input_size=input_size,
                           num_classes=num_classes, **_cutmix_options(c))
  elif c.method == "cutmix":
    fn = functools.partial(cutmix_jax.cutmix, num_classes=num_classes,
                           return_params=True, **_cutmix_options(c))
  elif c.method == "mixup":
    fn = functools.partial(cutmix_jax.mixup, alpha=c.mixup_alpha, mode=c.mode,
                           prob=c.prob, label_smoothing=c.label_smoothing,
                           num_classes=num_classes, return_params=True)
  else:
    fn = functools.partial(
        cutmix_jax.mixup_or_cutmix, mixup_alpha=c.mixup_alpha, cutmix_alpha=c.alpha,
        switch_prob=c.switch_prob, prob=c.prob, mode=c.mode,
        label_smoothing=c.label_smoothing,
        minmax=tuple(c.minmax) if c.minmax is not None else None,
        label_mode=c.label_mode, num_classes=num_classes, return_params=True)
  return cutmix_jax.per_shard(fn, mesh)


# --------------------------------------------------------------------------
# Steps.


def _stats(mean, std):
  if mean is None:
    mean, std = input_pipeline._CIFAR_STATS["cifar10"]  # pylint: disable=protected-access
  return np.asarray(mean, np.float32), np.asarray(std, np.float32)


def _compute_dtype(config):
  return jnp.bfloat16 if config.half_precision else jnp.float32


def make_step_body(config: ml_collections.ConfigDict, mesh: Mesh | None = None, *,
                   num_classes: int = 10, mean=None, std=None,
                   image_size: tuple[int, int] = (32, 32)) -> Callable:
  """The train step on live NNX objects, to be wrapped by a jit.

  Returns:
    ``body(model, optimizer, images, labels, aug_key, dropout_key) -> metrics``,
    which updates ``model`` and ``optimizer`` in place. `make_train_step` jits
    it over split state; ``nnx.jit(body)`` is the same step the NNX way.
  """
  mesh = make_mesh() if mesh is None else mesh
  mean, std = _stats(mean, std)
  mix = make_mix_fn(config, mesh, num_classes, image_size)
  stage = config.cutmix.feature_stage
  augment = config.augment.on == "device"
  dtype = _compute_dtype(config)

  def body(model, optimizer, images, labels, aug_key, dropout_key):
    count = optimizer.step[...]
    # A fresh, reproducible draw every step, from keys that never change.
    crop_key, mix_key = jax.random.split(jax.random.fold_in(aug_key, count))
    if augment:
      images = input_pipeline.augment_on_device(
          crop_key, images, pad=config.augment.pad, flip=config.augment.flip)
    targets = None
    if stage is None:
      images, targets, _ = mix(mix_key, images, labels)
    x = input_pipeline.normalize(images, mean, std, dtype)

    def loss_fn(model):
      hook, mixed_targets = None, []
      if stage is not None:
        def hook(features):
          features, soft, _ = mix(mix_key, features, labels)
          mixed_targets.append(soft)
          return features
      logits = model(x, train=True, dropout_key=jax.random.fold_in(dropout_key, count),
                     feature_hook=hook, hook_stage=stage)
      soft = mixed_targets[0] if mixed_targets else targets
      loss = optax.softmax_cross_entropy(logits, soft).mean()
      return loss, logits

    (loss, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    correct = jnp.sum(jnp.argmax(logits, -1) == labels)
    return {"loss": loss, "correct": correct}

  return body


def make_train_step(config: ml_collections.ConfigDict, graphdef: nnx.GraphDef,
                    mesh: Mesh | None = None, *, num_classes: int = 10,
                    mean=None, std=None, image_size: tuple[int, int] = (32, 32)
                    ) -> Callable:
  """The jitted train step for a configuration.

  Args:
    config: the run's configuration (augmentation, mixing, precision).
    graphdef: from `create_train_state`.
    mesh: the device mesh (default: all devices).
    num_classes: ``K``.
    mean: ``float[C]`` per-channel mean in [0, 255] (default: CIFAR-10's).
    std: ``float[C]`` per-channel standard deviation.
    image_size: ``(H, W)`` of the images.

  Returns:
    ``step(state, images, labels, aug_key, dropout_key) -> (state, metrics)``,
    a `jax.jit` function that donates ``state``. ``images`` are
    ``uint8[B, H, W, C]`` and ``labels`` ``int32[B]``, both sharded
    ``P("data")``; ``metrics`` holds the batch's mean ``loss`` (float32) and
    its number of ``correct`` top-1 predictions against the original labels.
    ``step.lower(...).compile().cost_analysis()`` gives XLA's counts.
  """
  body = make_step_body(config, mesh, num_classes=num_classes, mean=mean, std=std,
                        image_size=image_size)

  def step(state, images, labels, aug_key, dropout_key):
    model, optimizer = nnx.merge(graphdef, state)
    metrics = body(model, optimizer, images, labels, aug_key, dropout_key)
    return nnx.state((model, optimizer)), metrics

  return jax.jit(step, donate_argnums=0)


def make_eval_step(config: ml_collections.ConfigDict, graphdef: nnx.GraphDef, *,
                   mean=None, std=None) -> Callable:
  """``eval(state, images, labels, weights) -> sums`` of loss, correct and weight.

  ``weights`` is 1 for real examples and 0 for the padding of the last batch.
  """
  mean, std = _stats(mean, std)
  dtype = _compute_dtype(config)

  def eval_step(state, images, labels, weights):
    model, _ = nnx.merge(graphdef, state)
    logits = model(input_pipeline.normalize(images, mean, std, dtype), train=False)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    return {"loss": jnp.sum(loss * weights), "correct": jnp.sum(correct * weights),
            "count": jnp.sum(weights)}

  return jax.jit(eval_step)


def make_sample_fn(config: ml_collections.ConfigDict, mesh: Mesh, *,
                   num_classes: int, image_size: tuple[int, int] = (32, 32),
                   prob: float | None = None) -> Callable:
  """``sample(rng, images, labels) -> (mixed uint8 images, soft labels, MixParams)``.

  The step's augmentation and input-level mixing, for pictures. For
  feature-level CutMix it shows the boxes at the input resolution, before
  they are rescaled to the feature map. With ``method="none"`` the params
  are `None`. ``prob`` replaces ``config.cutmix.prob`` (the run's picture
  uses 1.0, so that it shows a mixed batch even when the coin would not).
  """
  sample_config = ml_collections.ConfigDict(config.to_dict())
  sample_config.cutmix.feature_stage = None
  if prob is not None:
    sample_config.cutmix.prob = prob
  mix = make_mix_fn(sample_config, mesh, num_classes, image_size)
  augment = config.augment.on == "device"

  def sample(rng, images, labels):
    crop_key, mix_key = jax.random.split(rng)
    if augment:
      images = input_pipeline.augment_on_device(
          crop_key, images, pad=config.augment.pad, flip=config.augment.flip)
    return mix(mix_key, images, labels)

  return jax.jit(sample)


@jax.jit
def _all_finite(tree) -> jax.Array:
  return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
                            if jnp.issubdtype(x.dtype, jnp.inexact)]))


# --------------------------------------------------------------------------
# Checkpoints and logs.


def _checkpoint_manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  # Orbax writes each checkpoint to a temporary directory and renames it when
  # complete, so a killed run leaves either a whole checkpoint or none.
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"),
      options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))


def _save(manager: ocp.CheckpointManager, step: int, state: nnx.State) -> None:
  manager.save(step, args=ocp.args.StandardSave(nnx.to_pure_dict(state)))


def restore_state(manager: ocp.CheckpointManager, step: int,
                  state: nnx.State) -> nnx.State:
  """Restores checkpoint ``step`` into a state of the same structure and sharding."""
  pure = nnx.to_pure_dict(state)
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), pure)
  restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
  nnx.replace_by_pure_dict(state, restored)
  return state


class MetricsLog:
  """``workdir/metrics.jsonl``: one JSON object a line, appended as training goes.

  On resume, lines past the restored step (written by the interrupted run
  after its last checkpoint) are dropped, so the log reads as one run.
  """

  def __init__(self, workdir: str, resume_step: int, enabled: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.enabled = enabled
    if enabled and os.path.exists(self.path):
      kept = [line for line in read_metrics(self.path) if line["step"] <= resume_step]
      with open(self.path, "w") as f:
        f.writelines(json.dumps(line) + "\n" for line in kept)

  def write(self, **record) -> None:
    if self.enabled:
      with open(self.path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(path: str) -> list[dict]:
  """The records of a metrics.jsonl file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------
# The run.


@dataclasses.dataclass
class _Window:
  """Train metrics accumulated on device between two log lines."""
  loss: Any = 0.0
  correct: Any = 0
  steps: int = 0
  start: float = dataclasses.field(default_factory=time.perf_counter)

  def add(self, metrics) -> None:
    self.loss = self.loss + metrics["loss"]
    self.correct = self.correct + metrics["correct"]
    self.steps += 1


def _put_batch(sharding, *arrays):
  # Each process hands over its rows; JAX assembles the global batch.
  return [jax.make_array_from_process_local_data(sharding, a) for a in arrays]


def evaluate(eval_step, state, data: input_pipeline.Data, local_batch: int,
             sharding: NamedSharding, process_count: int) -> dict[str, float]:
  """Loss and accuracy over the whole test set (the last batch padded, weighted 0)."""
  per_process = -(-data.test_size // process_count)
  num_batches = -(-per_process // local_batch)
  totals = None
  for i in range(num_batches):
    images = data.test_images[i * local_batch:(i + 1) * local_batch]
    labels = data.test_labels[i * local_batch:(i + 1) * local_batch]
    pad = local_batch - len(labels)
    weights = np.concatenate([np.ones(len(labels), np.float32), np.zeros(pad, np.float32)])
    images = np.concatenate([images, np.zeros((pad,) + data.test_images.shape[1:], np.uint8)])
    labels = np.concatenate([labels, np.zeros(pad, np.int32)])
    sums = eval_step(state, *_put_batch(sharding, images, labels, weights))
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = jax.device_get(totals)
  return {"loss": float(totals["loss"] / totals["count"]),
          "accuracy": float(totals["correct"] / totals["count"])}


def _host_batches(data, seed, start, stop, local_batch, spe, config, aug_seed):
  for step in range(start, stop):
    images, labels = input_pipeline.train_batch(data, seed, step, local_batch, spe)
    if config.augment.on == "host":
      images = input_pipeline.crop_and_flip_host(
          images, (aug_seed, step, jax.process_index()), pad=config.augment.pad,
          flip=config.augment.flip)
    yield images, labels


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Trains and evaluates, resuming from ``workdir`` if it holds a checkpoint.

  Writes ``workdir/metrics.jsonl``, checkpoints under ``workdir/checkpoints``,
  and at the end ``workdir/curves.png`` and ``workdir/cutmix_samples.png``.

  Args:
    config: the run's configuration.
    workdir: where to write; running again with the same workdir resumes.

  Returns:
    The final test metrics: ``{"step", "epoch", "loss", "accuracy"}``.

  Raises:
    ConfigError: a bad configuration value (before anything runs).
    input_pipeline.DataUnavailableError: the data set cannot be loaded.
    NonFiniteLossError: the loss stopped being finite; the last checkpoint
      written before it is kept.
  """
  from train import plots  # pylint: disable=g-import-not-at-top

  num_processes = jax.process_count()
  validate_config(config, jax.device_count(), num_processes)
  is_main = jax.process_index() == 0
  os.makedirs(workdir, exist_ok=True)
  mesh = make_mesh()
  batch_sharding = NamedSharding(mesh, P("data"))
  keys = named_keys(config.seed)

  data = input_pipeline.load(config.dataset, data_dir=config.data_dir,
                             manual_dir=config.tfds_manual_dir,
                             train_fraction=config.train_fraction,
                             train_subset_seed=config.train_subset_seed)
  local_batch = config.batch_size // num_processes
  spe = input_pipeline.steps_per_epoch(data, local_batch, num_processes)
  if spe == 0:
    raise ConfigError(f"config.batch_size: expected at most the training set size "
                      f"{data.train_size}, got {config.batch_size}.")
  num_steps = num_train_steps(config, spe)
  image_size = data.train_images.shape[1:3]
  in_channels = data.train_images.shape[-1]

  graphdef, state = create_train_state(config, keys["init"], mesh,
                                       num_classes=data.num_classes,
                                       steps_per_epoch=spe, in_channels=in_channels)
  schedule = learning_rate_schedule(config, spe, num_steps)
  train_step = make_train_step(config, graphdef, mesh, num_classes=data.num_classes,
                               mean=data.mean, std=data.std, image_size=image_size)
  eval_step = make_eval_step(config, graphdef, mean=data.mean, std=data.std)

  manager = _checkpoint_manager(workdir, config.keep_checkpoints)
  start = manager.latest_step() or 0
  if start:
    state = restore_state(manager, start, state)
    print(f"Resumed from the checkpoint at step {start} in {workdir}.", flush=True)
  last_good = start or None
  log = MetricsLog(workdir, start, enabled=is_main)
  order_seed = data_seed(keys["data"])

  if start == 0 and config.num_plot_samples > 0:
    # Every process takes part (the batch is global); process 0 draws it.
    sample = make_sample_fn(config, mesh, num_classes=data.num_classes,
                            image_size=image_size, prob=1.0)
    images, labels = _put_batch(batch_sharding, *input_pipeline.train_batch(
        data, order_seed, 0, local_batch, spe))
    mixed, _, params = sample(keys["augment"], images, labels)
    mixed, labels, params = multihost_utils.process_allgather(
        (mixed, labels, params), tiled=True)
    if is_main:
      plots.plot_cutmix_samples(
          os.path.join(workdir, "cutmix_samples.png"), mixed, labels, params,
          num_samples=config.num_plot_samples,
          class_names=plots.class_names(config.dataset, data.num_classes))

  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top
  bar = tqdm.tqdm(total=num_steps, initial=start, unit="step", dynamic_ncols=True,
                  disable=not (is_main and config.progress_bar))
  batches = _host_batches(data, order_seed, start, num_steps, local_batch, spe, config,
                          data_seed(keys["augment"]))
  if config.augment.on == "host":
    batches = input_pipeline.prefetch(batches)
  window = _Window()
  test_metrics = None

  def check_finite(step):
    loss_sum = float(window.loss)
    if math.isfinite(loss_sum) and bool(_all_finite(state)):
      return loss_sum
    where = (f"the last good checkpoint, step {last_good}, is kept in "
             f"{manager.directory}" if last_good else "no checkpoint had been written yet")
    raise NonFiniteLossError(
        f"Training stopped: the loss became non-finite ({loss_sum}) between steps "
        f"{step - window.steps + 1} and {step}. Nothing was saved after it; {where}. "
        "Lower config.optimizer.learning_rate or check the data, then rerun (the run "
        "resumes from that checkpoint).")

  step = start
  try:
    for step in range(start + 1, num_steps + 1):
      images, labels = next(batches)
      state, metrics = train_step(state, *_put_batch(batch_sharding, images, labels),
                                  keys["augment"], keys["dropout"])
      window.add(metrics)
      bar.update(1)
      end_of_epoch = step % spe == 0
      if step % config.log_every_steps == 0 or end_of_epoch or step == num_steps:
        loss_sum = check_finite(step)
        elapsed = time.perf_counter() - window.start
        train_metrics = dict(
            step=step, epoch=round(step / spe, 4), split="train",
            loss=loss_sum / window.steps,
            accuracy=float(window.correct) / (window.steps * config.batch_size),
            learning_rate=float(schedule(step - 1)),
            images_per_second=window.steps * config.batch_size / elapsed)
        log.write(**train_metrics)
        bar.set_postfix(epoch=f"{step / spe:.2f}", loss=f"{train_metrics['loss']:.3f}",
                        img_s=f"{train_metrics['images_per_second']:.0f}")
        window = _Window()
      if step % config.checkpoint_every_steps == 0 or step == num_steps:
        check_finite(step)
        _save(manager, step, state)
        last_good = step
      if (end_of_epoch and (step // spe) % config.eval_every_epochs == 0) or step == num_steps:
        test_metrics = evaluate(eval_step, state, data, config.eval_batch_size // num_processes,
                                batch_sharding, num_processes)
        test_metrics = dict(step=step, epoch=round(step / spe, 4), split="test",
                            **test_metrics)
        log.write(**test_metrics)
        if is_main:
          bar.write(f"step {step} epoch {step / spe:.2f}: test loss "
                    f"{test_metrics['loss']:.4f}, accuracy {test_metrics['accuracy']:.4f}")
  finally:
    bar.close()
    manager.wait_until_finished()

  if test_metrics is None:  # Nothing left to train: the run had already finished.
    test_metrics = dict(step=step, epoch=round(step / spe, 4), split="test",
                        **evaluate(eval_step, state, data,
                                   config.eval_batch_size // num_processes,
                                   batch_sharding, num_processes))
  if is_main:
    plots.plot_curves(os.path.join(workdir, "curves.png"), read_metrics(log.path))
    print(f"Final test accuracy: {100 * test_metrics['accuracy']:.2f}% "
          f"(step {test_metrics['step']}, epoch {test_metrics['epoch']:g}, "
          f"{config.dataset}, {config.model.name}-{config.model.depth}, "
          f"mixing: {config.cutmix.method}).", flush=True)
  manager.close()
  return test_metrics
