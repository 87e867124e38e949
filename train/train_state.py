"""What a run starts from: its keys, the model, the optimizer and their state."""

from flax import nnx
import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np
import optax

from train import models


def named_keys(seed: int) -> dict[str, jax.Array]:
  """``{"init", "data", "augment", "dropout"}`` keys from ``seed``.

  None is stored in the state: the step folds in its number, so a resumed run
  draws what an uninterrupted one would.
  """
  names = ("init", "data", "augment", "dropout")
  return dict(zip(names, jax.random.split(jax.random.key(seed), len(names))))


def data_seed(data_key: jax.Array) -> int:
  """The integer seed of the data order (NumPy permutations on the host)."""
  return int(jax.random.randint(data_key, (), 0, 2**31 - 1))


def create_model(
    config: ml_collections.ConfigDict,
    num_classes: int,
    rng: jax.Array,
    in_channels: int = 3,
) -> models.Classifier:
  """The configured classifier, initialised from ``rng``."""
  m = config.model
  kwargs = dict(dropout=m.dropout) if m.name == "wide_resnet" else {}
  if m.stem_stride != 1:
    kwargs["stem_stride"] = m.stem_stride
  return models.MODELS[m.name](
      depth=m.depth,
      width=m.width,
      num_classes=num_classes,
      in_channels=in_channels,
      dtype=jnp.bfloat16 if config.half_precision else None,
      rngs=nnx.Rngs(params=rng),
      **kwargs,
  )


def num_train_steps(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> int:
  """``config.num_train_steps`` if set, else ``num_epochs`` whole epochs."""
  if config.num_train_steps > 0:
    return config.num_train_steps
  return config.num_epochs * steps_per_epoch


def learning_rate_schedule(
    config: ml_collections.ConfigDict, steps_per_epoch: int, num_steps: int
) -> optax.Schedule:
  """The configured schedule over optimizer steps, with optional linear warm-up."""
  o = config.optimizer
  warmup = int(o.warmup_epochs * steps_per_epoch)
  if o.schedule == "cosine":
    main = optax.cosine_decay_schedule(
        o.learning_rate, max(num_steps - warmup, 1)
    )
  elif o.schedule == "step":
    main = optax.piecewise_constant_schedule(
        o.learning_rate,
        {
            int(e * steps_per_epoch) - warmup: o.decay_factor
            for e in o.decay_epochs
        },
    )
  else:
    main = optax.constant_schedule(o.learning_rate)
  if warmup == 0:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, o.learning_rate, warmup), main], [warmup]
  )


def make_optimizer(
    config: ml_collections.ConfigDict, schedule: optax.Schedule
) -> optax.GradientTransformation:
  """SGD with momentum and L2 weight decay added to the gradients (PyTorch's SGD)."""
  o = config.optimizer
  return optax.chain(
      optax.add_decayed_weights(o.weight_decay),
      optax.sgd(schedule, momentum=o.momentum or None, nesterov=o.nesterov),
  )


def create_train_state(
    config: ml_collections.ConfigDict,
    rng: jax.Array,
    mesh: Mesh,
    *,
    schedule: optax.Schedule,
    num_classes: int = 10,
    in_channels: int = 3,
) -> tuple[nnx.GraphDef, nnx.State]:
  """``(graphdef, state)`` of ``(model, optimizer)``, replicated over ``mesh``."""
  model = create_model(config, num_classes, rng, in_channels)
  optimizer = nnx.Optimizer(
      model, make_optimizer(config, schedule), wrt=nnx.Param
  )
  graphdef, state = nnx.split((model, optimizer))
  # Every process built the same values from the same key; each hands over
  # its copy (a device_put would first compare them across processes).
  replicated = NamedSharding(mesh, P())
  return graphdef, jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(
          replicated, np.asarray(x)
      ),
      state,
  )
