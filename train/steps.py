"""The jitted steps: train (augment, mix, one SGD step), evaluate, and sample.

* `make_train_step(config, graphdef, mesh, ...)` -> ``step(state, metrics,
  images, labels, aug_key, dropout_key) -> (state, metrics)``: ``images``
  are ``uint8[B, H, W, C]`` sharded along the batch; the step augments,
  mixes (with `cutmix_jax.per_shard`, so no image crosses devices),
  normalises, takes one SGD step and adds the batch to ``metrics``.
  ``config.cutmix.method = "none"`` gives the same step without mixing.
* `make_eval_step(...)` -> ``eval(state, metrics, images, labels, mask) ->
  metrics``, the padding of the last batch masked out.
* `make_sample_fn(...)`: the step's augmentation and mixing alone, with the
  `cutmix_jax.MixParams`, for pictures.

``metrics`` is the state of an `nnx.MultiMetric` (`new_metrics`) that lives
on the devices between log lines: mean ``loss`` (on the mixed labels in
training) and ``accuracy`` (against the original labels).

Why `jax.jit` over ``nnx.split`` state rather than `nnx.jit`: both compile the
same program, but `nnx.jit` walks the module graph in Python on every call
(see train/README.md for the measured step times), and the split form lets
the step donate its state and be lowered for `cost_analysis()`.

The mesh has JAX's default Explicit axis type (`jax.make_mesh`): the model
has no sharding annotations, the batch arrives sharded ``P("data")`` and the
parameters replicated ``P()``, so the only collective in the step is the
all-reduce of gradients, batch-norm statistics and metrics.
`cutmix_jax.per_shard` needs an Explicit-axes mesh (it calls `jax.reshard`).
"""

from collections.abc import Callable
import functools

from flax import nnx
import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import optax

from train import augmentation
from train import mixing


def new_metrics() -> nnx.MultiMetric:
  """The metrics of a window of train steps, or of an evaluation: mean loss, accuracy."""
  return nnx.MultiMetric(
      loss=nnx.metrics.Average("loss"), accuracy=nnx.metrics.Accuracy()
  )


@functools.cache
def _metrics_graphdef() -> nnx.GraphDef:
  # Built on first use: creating metrics allocates arrays, which must wait
  # until jax.distributed is initialised.
  return nnx.graphdef(new_metrics())


@functools.cache
def _zero_metrics(mesh: Mesh) -> Callable[[], nnx.State]:
  # Zeros made in place on every device (a device_put of host zeros would
  # first check across processes that they are equal).
  return jax.jit(
      lambda: nnx.state(new_metrics()), out_shardings=NamedSharding(mesh, P())
  )


def empty_metrics(mesh: Mesh) -> nnx.State:
  """The state of `new_metrics`, replicated over ``mesh``, for a step to add to."""
  return _zero_metrics(mesh)()


def compute_metrics(metrics: nnx.State) -> dict[str, float]:
  """``{"loss", "accuracy"}`` of a metrics state, as Python floats."""
  values = nnx.merge(_metrics_graphdef(), metrics).compute()
  return {name: float(value) for name, value in values.items()}


def _compute_dtype(config: ml_collections.ConfigDict):
  return jnp.bfloat16 if config.half_precision else jnp.float32


def make_step_body(
    config: ml_collections.ConfigDict,
    mesh: Mesh,
    *,
    num_classes: int,
    mean,
    std,
    image_size: tuple[int, int],
) -> Callable:
  """The train step on live NNX objects, to be wrapped by a jit.

  Returns:
    ``body(model, optimizer, metrics, images, labels, aug_key, dropout_key)``,
    which updates its first three arguments in place. `make_train_step` jits
    it over split state; ``nnx.jit(body)`` is the same step the NNX way.
  """
  mean = np.asarray(mean, np.float32)
  std = np.asarray(std, np.float32)
  mix = mixing.make_mix_fn(
      config, mesh, num_classes=num_classes, input_size=image_size
  )
  stage = config.cutmix.feature_stage
  augment = config.augment.on == "device"
  dtype = _compute_dtype(config)

  def body(model, optimizer, metrics, images, labels, aug_key, dropout_key):
    count = optimizer.step[...]
    # A fresh, reproducible draw every step, from keys that never change.
    crop_key, mix_key = jax.random.split(jax.random.fold_in(aug_key, count))
    step_dropout_key = jax.random.fold_in(dropout_key, count)
    if augment:
      images = augmentation.augment_on_device(
          crop_key, images, pad=config.augment.pad, flip=config.augment.flip
      )
    targets = None
    if stage is None:
      images, targets, _ = mix(mix_key, images, labels)
    x = augmentation.normalize(images, mean, std, dtype)

    def loss_fn(model):
      hook, mixed_targets = None, []
      if stage is not None:

        def hook(features):
          features, soft, _ = mix(mix_key, features, labels)
          mixed_targets.append(soft)
          return features

      logits = model(
          x,
          rngs=nnx.Rngs(dropout=step_dropout_key),
          feature_hook=hook,
          hook_stage=stage,
      )
      soft = mixed_targets[0] if mixed_targets else targets
      losses = optax.softmax_cross_entropy(logits, soft)
      return losses.mean(), (losses, logits)

    model.train()
    (_, (losses, logits)), grads = nnx.value_and_grad(loss_fn, has_aux=True)(
        model
    )
    optimizer.update(model, grads)
    metrics.update(loss=losses, logits=logits, labels=labels)

  return body


def make_train_step(
    config: ml_collections.ConfigDict,
    graphdef: nnx.GraphDef,
    mesh: Mesh,
    *,
    num_classes: int,
    mean,
    std,
    image_size: tuple[int, int] = (32, 32),
) -> Callable:
  """The jitted train step for a configuration.

  Args:
    config: the run's configuration (augmentation, mixing, precision).
    graphdef: from `train_state.create_train_state`.
    mesh: the device mesh.
    num_classes: ``K``.
    mean: ``float[C]`` per-channel mean in [0, 255] (the data's).
    std: ``float[C]`` per-channel standard deviation.
    image_size: ``(H, W)`` of the images.

  Returns:
    ``step(state, metrics, images, labels, aug_key, dropout_key) -> (state,
    metrics)``, a `jax.jit` function that donates ``state``. ``images`` are
    ``uint8[B, H, W, C]`` and ``labels`` ``int32[B]``, both sharded
    ``P("data")``; ``metrics`` is a metrics state (`empty_metrics`) to which
    the batch is added. ``step.lower(...).compile().cost_analysis()`` gives
    XLA's counts.
  """
  body = make_step_body(
      config,
      mesh,
      num_classes=num_classes,
      mean=mean,
      std=std,
      image_size=image_size,
  )

  def step(state, metrics, images, labels, aug_key, dropout_key):
    model, optimizer = nnx.merge(graphdef, state)
    window = nnx.merge(_metrics_graphdef(), metrics)
    body(model, optimizer, window, images, labels, aug_key, dropout_key)
    return nnx.state((model, optimizer)), nnx.state(window)

  return jax.jit(step, donate_argnums=(0, 1))


def make_eval_step(
    config: ml_collections.ConfigDict, graphdef: nnx.GraphDef, *, mean, std
) -> Callable:
  """``eval(state, metrics, images, labels, mask) -> metrics``.

  ``mask`` is True for real examples and False for the padding of the last
  batch, which then counts for nothing.
  """
  mean = np.asarray(mean, np.float32)
  std = np.asarray(std, np.float32)
  dtype = _compute_dtype(config)

  def eval_step(state, metrics, images, labels, mask):
    model, _ = nnx.merge(graphdef, state)
    model.eval()
    logits = model(augmentation.normalize(images, mean, std, dtype))
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    totals = nnx.merge(_metrics_graphdef(), metrics)
    totals.update(loss=losses, logits=logits, labels=labels, mask=mask)
    return nnx.state(totals)

  return jax.jit(eval_step, donate_argnums=1)


def make_sample_fn(
    config: ml_collections.ConfigDict,
    mesh: Mesh,
    *,
    num_classes: int,
    image_size: tuple[int, int] = (32, 32),
    prob: float | None = None,
) -> Callable:
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
  mix = mixing.make_mix_fn(
      sample_config, mesh, num_classes=num_classes, input_size=image_size
  )
  augment = config.augment.on == "device"

  def sample(rng, images, labels):
    crop_key, mix_key = jax.random.split(rng)
    if augment:
      images = augmentation.augment_on_device(
          crop_key, images, pad=config.augment.pad, flip=config.augment.flip
      )
    return mix(mix_key, images, labels)

  return jax.jit(sample)


@jax.jit
def all_finite(tree) -> jax.Array:
  """Whether every float in ``tree`` is finite (the NaN guard before a save)."""
  return jnp.all(
      jnp.array(
          [
              jnp.all(jnp.isfinite(x))
              for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.inexact)
          ]
      )
  )
