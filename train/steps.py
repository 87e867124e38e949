"""The jitted steps: train (augment, mix, one SGD step), evaluate, and sample.

``config.cutmix``'s fields are the library's keywords (`mix_function`). The
train step takes ``uint8`` images sharded along the batch, augments them,
mixes each device's shard with `cutmix_jax.per_shard` (no image crosses
devices), takes one SGD step and adds the batch to ``metrics``, the state of
an `nnx.MultiMetric` kept on the devices between log lines. The steps are
`jax.jit` over ``nnx.split`` state (no graph walk in Python per call), and
the train step donates its state.
"""

import ast
from collections.abc import Callable
import functools
import inspect

from flax import nnx
import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import optax

import cutmix_jax
from train import startup

# config.cutmix's fields that are the trainer's own, not library keywords.
_TRAINER_FIELDS = ("method", "box", "feature_stage")


def new_metrics() -> nnx.MultiMetric:
  """Mean loss and accuracy of a window of train steps, or of an evaluation."""
  return nnx.MultiMetric(
      loss=nnx.metrics.Average("loss"), accuracy=nnx.metrics.Accuracy()
  )


@functools.cache
def _metrics_graphdef() -> nnx.GraphDef:
  # Built on first use: metrics allocate arrays, which must wait until
  # jax.distributed is initialised.
  return nnx.graphdef(new_metrics())


@functools.cache
def _zero_metrics(mesh: Mesh) -> Callable[[], nnx.State]:
  # Zeros made in place on every device (a device_put of host zeros would
  # first check across processes that they are equal).
  return jax.jit(
      lambda: nnx.state(new_metrics()), out_shardings=NamedSharding(mesh, P())
  )


def empty_metrics(mesh: Mesh) -> nnx.State:
  """A zero metrics state, replicated over ``mesh``, for a step to add to."""
  return _zero_metrics(mesh)()


def compute_metrics(metrics: nnx.State) -> dict[str, float]:
  """``{"loss", "accuracy"}`` of a metrics state, as Python floats."""
  values = nnx.merge(_metrics_graphdef(), metrics).compute()
  return {name: float(value) for name, value in values.items()}


def _constructor_name(func: ast.expr) -> str | None:
  """``minmax``, or ``boxes.minmax`` as the library's messages write rules."""
  if isinstance(func, ast.Attribute):
    module = ast.unparse(func.value)
    return func.attr if module in ("boxes", "cutmix_jax.boxes") else None
  return func.id if isinstance(func, ast.Name) else None


def box_rule(text: str | None):
  """``"minmax(0.2, 0.8)"`` -> ``cutmix_jax.boxes.minmax(0.2, 0.8)`` (rules nest)."""
  if text is None:
    return None
  refusal = startup.StartupError(
      "config.cutmix.box: expected a cutmix_jax.boxes rule such as "
      f"'minmax(0.2, 0.8)' or 'gaussian_center(0.25)', got {text!r}."
  )

  def build(node):
    if isinstance(node, ast.Call) and (name := _constructor_name(node.func)):
      constructor = getattr(cutmix_jax.boxes, name, None)
      if not callable(constructor) or name.startswith("_"):
        raise refusal
      args = [build(a) for a in node.args]
      kwargs = {k.arg: build(k.value) for k in node.keywords}
      try:
        return constructor(*args, **kwargs)
      except (ValueError, TypeError) as e:  # The constructor's own words.
        raise startup.StartupError(f"config.cutmix.box: {e}") from None
    try:
      return ast.literal_eval(node)
    except ValueError:
      raise refusal from None

  try:
    return build(ast.parse(text, mode="eval").body)
  except SyntaxError:
    raise refusal from None


def _no_mixing(rng, images, labels, *, num_classes, label_smoothing=0.0):
  """The baseline: the images as they are, the labels one-hot (smoothed)."""
  del rng
  targets = optax.smooth_labels(
      jax.nn.one_hot(labels, num_classes), label_smoothing
  )
  return images, targets, None


def mix_function(
    config: ml_collections.ConfigDict,
    *,
    num_classes: int,
    image_size: tuple[int, int],
) -> Callable:
  """``mix(rng, x, labels) -> (mixed_x, soft_labels, MixParams or None)``.

  ``x`` is a batch (or shard) of images, or for feature-level CutMix the
  activations (the boxes drawn at ``image_size``, rescaled to them).
  """
  c = config.cutmix
  if c.method == "none":
    return functools.partial(
        _no_mixing, num_classes=num_classes, label_smoothing=c.label_smoothing
    )
  function = getattr(cutmix_jax, c.method)
  takes = inspect.signature(function).parameters
  options = {
      name: tuple(value) if isinstance(value, list) else value
      for name, value in c.items()
      if name in takes and name not in _TRAINER_FIELDS
  }
  if "box" in takes:
    rule = box_rule(c.box)
    if c.feature_stage is not None:
      rule = cutmix_jax.boxes.at_resolution(tuple(image_size), rule)
    options["box"] = rule
  elif c.box is not None:
    raise startup.StartupError(
        f"config.cutmix.box: cutmix_jax.{c.method} draws no box: expected "
        f"None, got {c.box!r}."
    )
  return cutmix_jax.with_params(
      functools.partial(function, num_classes=num_classes, **options)
  )


def check_mixing(
    config: ml_collections.ConfigDict,
    *,
    shard_batch: int,
    image_shape: tuple[int, int, int] = (32, 32, 3),
) -> None:
  """The library checks ``config.cutmix`` on one device's shapes (nothing runs).

  Its message reaches the user as written, after the config field it names.
  """
  num_classes = startup.NUM_CLASSES[config.dataset]
  images = jax.ShapeDtypeStruct((shard_batch, *image_shape), jnp.uint8)
  labels = jax.ShapeDtypeStruct((shard_batch,), jnp.int32)
  try:
    mix = mix_function(
        config, num_classes=num_classes, image_size=image_shape[:2]
    )
    jax.eval_shape(lambda x, y: mix(jax.random.key(0), x, y), images, labels)
  except (ValueError, TypeError) as e:
    if isinstance(e, startup.StartupError):
      raise
    name = str(e).split(":", 1)[0]
    field = f"cutmix.{name}" if name in config.cutmix else "cutmix"
    raise startup.StartupError(f"config.{field}: {e}") from None


def augment_on_device(
    rng: jax.Array, images: jax.Array, *, pad: int = 4, flip: bool = True
) -> jax.Array:
  """torchvision's ``RandomCrop(32, padding=4)`` and ``RandomHorizontalFlip``.

  Two `take_along_axis` gathers: static shapes, each example reads only
  itself (so it stays on its device).
  """
  b, h, w, _ = images.shape
  key_y, key_x, key_f = jax.random.split(rng, 3)
  dy = jax.random.randint(key_y, (b,), 0, 2 * pad + 1)
  dx = jax.random.randint(key_x, (b,), 0, 2 * pad + 1)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  rows = (dy[:, None] + jnp.arange(h)[None])[:, :, None, None]
  cols = dx[:, None] + jnp.arange(w)[None]
  if flip:
    mirror = jax.random.bernoulli(key_f, 0.5, (b,))
    cols = jnp.where(mirror[:, None], cols[:, ::-1], cols)
  out = jnp.take_along_axis(padded, rows, axis=1)
  return jnp.take_along_axis(out, cols[:, None, :, None], axis=2)


def normalize(images: jax.Array, mean, std, dtype=jnp.float32) -> jax.Array:
  """``(x - mean) / std`` per channel, from uint8 to ``dtype``."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  return ((images.astype(jnp.float32) - mean) / std).astype(dtype)


def _dtype(config):
  return jnp.bfloat16 if config.half_precision else jnp.float32


def _sharded_mix(config, mesh, *, num_classes, image_size):
  mix = mix_function(config, num_classes=num_classes, image_size=image_size)
  if config.cutmix.method == "none":
    return mix
  return cutmix_jax.per_shard(mix, mesh)


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
  """``step(state, metrics, images, labels, aug_key, dropout_key)``, jitted.

  Returns ``(state, metrics)``; donates both.
  """
  mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
  mix = _sharded_mix(
      config, mesh, num_classes=num_classes, image_size=image_size
  )
  stage = config.cutmix.feature_stage
  augment = config.augment.on == "device"

  def step(state, metrics, images, labels, aug_key, dropout_key):
    model, optimizer = nnx.merge(graphdef, state)
    window = nnx.merge(_metrics_graphdef(), metrics)
    count = optimizer.step[...]
    # A fresh, reproducible draw every step, from keys that never change.
    crop_key, mix_key = jax.random.split(jax.random.fold_in(aug_key, count))
    if augment:
      images = augment_on_device(
          crop_key, images, pad=config.augment.pad, flip=config.augment.flip
      )
    targets = None
    if stage is None:
      images, targets, _ = mix(mix_key, images, labels)
    x = normalize(images, mean, std, _dtype(config))

    def loss_fn(model):
      hook, mixed_targets = None, []
      if stage is not None:

        def hook(features):
          features, soft, _ = mix(mix_key, features, labels)
          mixed_targets.append(soft)
          return features

      logits = model(
          x,
          rngs=nnx.Rngs(dropout=jax.random.fold_in(dropout_key, count)),
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
    window.update(loss=losses, logits=logits, labels=labels)
    return nnx.state((model, optimizer)), nnx.state(window)

  return jax.jit(step, donate_argnums=(0, 1))


def make_eval_step(
    config: ml_collections.ConfigDict, graphdef: nnx.GraphDef, *, mean, std
) -> Callable:
  """``eval(state, metrics, images, labels, mask) -> metrics`` (mask: not padding)."""
  mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

  def eval_step(state, metrics, images, labels, mask):
    model, _ = nnx.merge(graphdef, state)
    model.eval()
    logits = model(normalize(images, mean, std, _dtype(config)))
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
) -> Callable:
  """``sample(rng, images, labels) -> (mixed, soft labels, MixParams or None)``.

  The step's augmentation and mixing with ``prob`` 1, at the input
  resolution: what the picture of a mixed batch shows.
  """
  shown = ml_collections.ConfigDict(config.to_dict())
  shown.cutmix.feature_stage = None
  shown.cutmix.prob = 1.0
  mix = _sharded_mix(
      shown, mesh, num_classes=num_classes, image_size=image_size
  )

  def sample(rng, images, labels):
    crop_key, mix_key = jax.random.split(rng)
    if config.augment.on == "device":
      images = augment_on_device(
          crop_key, images, pad=config.augment.pad, flip=config.augment.flip
      )
    return mix(mix_key, images, labels)

  return jax.jit(sample)


@jax.jit
def all_finite(tree) -> jax.Array:
  """Whether every float in ``tree`` is finite (the NaN guard before a save)."""
  leaves = [
      jnp.all(jnp.isfinite(x))
      for x in jax.tree.leaves(tree)
      if jnp.issubdtype(x.dtype, jnp.inexact)
  ]
  return jnp.all(jnp.array(leaves))
