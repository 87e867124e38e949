"""Mixing a batch sharded over devices: `per_shard`, and explicit-mesh layouts."""

from collections.abc import Callable
import functools

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from cutmix_jax._src import arguments
from cutmix_jax._src import sampling


def _batch_sharding(x: jax.Array):
  """``x``'s sharding if its batch axis is sharded over explicit mesh axes."""
  sharding = getattr(jax.typeof(x), "sharding", None)
  spec = getattr(sharding, "spec", None)
  if spec is None or len(spec) == 0 or spec[0] is None:
    return None
  return sharding


def shard_like_batch(values, batch: jax.Array):
  """Reshards per-example ``values`` like ``batch`` on explicit-axes meshes."""
  # Drawn replicated, but a select there needs its operands sharded alike.
  sharding = _batch_sharding(batch)
  if sharding is None:
    return values

  def reshard(x):
    spec = P(sharding.spec[0], *([None] * (x.ndim - 1)))
    return jax.sharding.reshard(x, NamedSharding(sharding.mesh, spec))

  return jax.tree.map(reshard, values)


def take_partners(x: jax.Array, partner: jax.Array) -> jax.Array:
  """``x[partner]``, keeping the batch's sharding on explicit-axes meshes."""
  sharding = _batch_sharding(x)
  if sharding is not None:
    return x.at[partner].get(out_sharding=sharding)
  return x[partner]


def _explicit_axes(mesh: Mesh) -> set[str]:
  types = getattr(mesh, "axis_types", None) or ()
  return {
      name
      for name, kind in zip(mesh.axis_names, types)
      if kind == jax.sharding.AxisType.Explicit
  }


def _static_hint(arg: str, got: str) -> TypeError:
  return TypeError(
      f"{arg}: per_shard passes call-time arguments to every shard as "
      f"run-time arrays, got {got}; bind static options (num_classes, mode, "
      f"box, axes, ...) before wrapping: per_shard(functools.partial(mix_fn, "
      f"{arg}=...), mesh)."
  )


def _runtime_value(value, arg: str):
  """A call-time argument as an array; refuses options shaping the program."""
  if value is None or isinstance(value, (str, bytes, tuple, list, dict)):
    raise _static_hint(arg, repr(value))
  return value if isinstance(value, jax.Array) else jnp.asarray(value)


def _checks_globally(fn) -> bool:
  """Whether ``fn`` is (a partial of) one of the library's mixing functions."""
  while isinstance(fn, functools.partial):
    fn = fn.func
  return getattr(fn, "_checks_arguments", False)


def _global_partners(out, axis_name: str, local_batch: int):
  offset = (jax.lax.axis_index(axis_name) * local_batch).astype(jnp.int32)

  def shift(x):
    if isinstance(x, sampling.MixParams):
      return x._replace(partner=x.partner + offset)
    return x

  return jax.tree.map(
      shift, out, is_leaf=lambda x: isinstance(x, sampling.MixParams)
  )


def per_shard(
    mix_fn: Callable, mesh: Mesh, *, axis_name: str = "data"
) -> Callable:
  """Runs a mixing function on each device's shard of the batch.

  Each device mixes its own shard of a batch sharded along axis 0
  (``NamedSharding(mesh, P(axis_name))``) in `jax.shard_map`: no image crosses
  devices, unlike plain `cutmix`. Partners form a random cycle within a shard
  (random pairs in ``"pair"`` mode), so none is its own; ``"batch"`` mode makes
  the same draw (lambda, box, coin) on every shard. Shards need >= 2 examples.

  ``mix_fn(rng, images, labels, *args, axis_name=axis_name, **kwargs)`` runs
  once per shard with the same ``rng``. Call-time arguments after ``labels``
  are run-time arrays, replicated (a scheduled ``prob`` does not recompile);
  bind static options (``num_classes``, ``mode``, ``box``, ...) with
  `functools.partial`. The library's functions check their arguments on the
  whole batch first. Outputs are pytrees with the batch on axis 0, sharded
  along ``axis_name``; a `MixParams` in them has global partner indices.

  Args:
    mix_fn: `cutmix`, `mixup`, `mixup_or_cutmix` or `with_params` of one,
      static options bound; or a function with the same contract.
    mesh: the device mesh.
    axis_name: the mesh axis the batch is sharded over.

  Returns:
    ``fn(rng, images, labels, *args, **kwargs)`` returning ``mix_fn``'s outputs.

  Raises:
    ValueError: for an ``axis_name`` not in ``mesh``; at call time, for a batch
      not splitting into shards of 2 or more, or what ``mix_fn`` refuses.
    TypeError: for a static option given at call time.

  Examples:
    >>> import functools, jax, jax.numpy as jnp, cutmix_jax
    >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
    >>> mix = cutmix_jax.per_shard(
    ...     functools.partial(cutmix_jax.cutmix, num_classes=10), mesh)
    >>> images, labels = jnp.zeros((8, 32, 32, 3)), jnp.arange(8)
    >>> mixed, soft = jax.jit(mix)(jax.random.key(0), images, labels, 0.5)
    >>> soft.shape
    (8, 10)
  """
  if not callable(mix_fn):
    arguments.require(False, "mix_fn", "a function", repr(mix_fn), TypeError)
  if not isinstance(mesh, Mesh):
    arguments.require(
        False, "mesh", "a jax.sharding.Mesh", repr(mesh), TypeError
    )
  if axis_name not in mesh.axis_names:
    raise ValueError(
        f"axis_name: expected one of the mesh's axes {tuple(mesh.axis_names)}, "
        f"got {axis_name!r}."
    )
  shards = mesh.shape[axis_name]
  checks = _checks_globally(mix_fn)

  def wrapped(rng, images, labels, *args, **kwargs):
    if "axis_name" in kwargs:
      raise TypeError("axis_name: per_shard sets it; pass it to per_shard.")
    args = tuple(
        _runtime_value(v, f"argument {i + 4}") for i, v in enumerate(args)
    )
    kwargs = {k: _runtime_value(v, k) for k, v in kwargs.items()}
    if checks:
      # Known values stay concrete in the check below only as JAX arrays.
      images, labels = (
          jnp.asarray(x) if isinstance(x, np.ndarray) else x
          for x in (images, labels)
      )
      try:
        jax.eval_shape(lambda: mix_fn(rng, images, labels, *args, **kwargs))
      except arguments.StaticOptionTracedError as e:
        raise _static_hint(e.arg, "a value it needs at trace time") from None
    for arg, x in (("images", images), ("labels", labels)):
      batch = np.shape(x)[0]
      if batch % shards or batch // shards < 2:
        raise ValueError(
            f"{arg}: per_shard mixes within each shard, so it needs a batch "
            f"that divides into the {shards} shards of mesh axis "
            f"{axis_name!r} with at least 2 examples each, got a batch of "
            f"{batch}; use a batch of {2 * shards} or more, or call the "
            "function without per_shard (partners then cross devices)."
        )
    local_batch = np.shape(images)[0] // shards

    def body(rng, images, labels, args, kwargs):
      out = mix_fn(rng, images, labels, *args, axis_name=axis_name, **kwargs)
      return _global_partners(out, axis_name, local_batch)

    in_specs = (P(), P(axis_name), P(axis_name), P(), P())
    operands = (rng, images, labels, args, kwargs)
    # An explicit-axes mesh (jax.make_mesh's default) wants inputs laid out
    # as in_specs; resharding is free when they already are.
    if axis_name in _explicit_axes(mesh):
      operands = tuple(
          jax.tree.map(
              lambda x, s=spec: jax.sharding.reshard(x, NamedSharding(mesh, s)),
              x,
          )
          for x, spec in zip(operands, in_specs)
      )
    try:
      return jax.shard_map(
          body, mesh=mesh, in_specs=in_specs, out_specs=P(axis_name)
      )(*operands)
    except arguments.StaticOptionTracedError as e:
      raise _static_hint(e.arg, "a value it needs at trace time") from None

  return functools.wraps(mix_fn)(wrapped)
