"""What a run starts from: its keys, the model, the optimizer and their state.

* `named_keys(seed)`: the root key split once into ``init``, ``data``,
  ``augment`` and ``dropout`` keys; nothing else draws randomness.
* `learning_rate_schedule(...)`: the optax schedule, built once per run and
  shared by the optimizer and the logs.
* `create_train_state(...)` -> ``(graphdef, state)``: the model and its
  `nnx.Optimizer`, split for `jax.jit`; ``state`` is replicated over the mesh.
"""

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


def create_model(
    config: ml_collections.ConfigDict,
    num_classes: int,
    rng: jax.Array,
    in_channels: int = 3,
) -> models.Classifier:
  """The configured classifier, initialised from ``rng``."""
  m = config.model
  kwargs = dict(
      depth=m.depth,
      width=m.width,
      num_classes=num_classes,
      in_channels=in_channels,
      dtype=jnp.bfloat16 if config.half_precision else None,
      rngs=nnx.Rngs(params=rng),
  )
  if m.name == "wide_resnet":
    kwargs["dropout"] = m.dropout
  if m.stem_stride != 1:
    kwargs["stem_stride"] = m.stem_stride
  return models.MODELS[m.name](**kwargs)


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
  """Builds the model and its optimizer and splits them for the jitted steps.

  Args:
    config: the run's configuration (model, optimizer).
    rng: the ``init`` key.
    mesh: the device mesh; the state is replicated over it.
    schedule: the learning rate over optimizer steps
      (`learning_rate_schedule`).
    num_classes: ``K``.
    in_channels: the image channels.

  Returns:
    ``(graphdef, state)`` of the pair ``(model, optimizer)``; ``state`` is an
    `nnx.State` of arrays replicated over ``mesh``.
  """
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
