"""Mixing on a batch sharded over devices, with no image crossing a device."""

from collections.abc import Callable
import functools

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from cutmix_jax._src import params as params_lib
from cutmix_jax._src import validation


def _explicit_axes(mesh: Mesh) -> set[str]:
  """The mesh axes of type Explicit (Auto axes are resharded by shard_map)."""
  types = getattr(mesh, "axis_types", None) or ()
  return {
      name
      for name, kind in zip(mesh.axis_names, types)
      if kind == jax.sharding.AxisType.Explicit
  }


def _runtime_value(value, position: str):
  """A call-time argument as an array, refusing options that must be static."""
  if value is None or isinstance(value, (str, bytes, tuple, list, dict)):
    raise TypeError(
        f"{position}: per_shard passes call-time arguments to every shard as "
        f"run-time arrays, got {value!r}; bind static options (num_classes, "
        "mode, minmax, ...) with functools.partial before wrapping."
    )
  return jnp.asarray(value)


def _global_partners(out, axis_name: str, local_batch: int):
  offset = (jax.lax.axis_index(axis_name) * local_batch).astype(jnp.int32)

  def shift(x):
    if isinstance(x, params_lib.MixParams):
      return x._replace(partner=x.partner + offset)
    return x

  return jax.tree.map(
      shift, out, is_leaf=lambda x: isinstance(x, params_lib.MixParams)
  )


def per_shard(
    mix_fn: Callable, mesh: Mesh, *, axis_name: str = "data"
) -> Callable:
  """Runs a mixing function on each device's shard of the batch.

  On a batch sharded along its first axis (``NamedSharding(mesh,
  P(axis_name))``), plain `cutmix` would pick partners across the whole batch
  and XLA would move images between devices to fetch them. Wrapped with
  `per_shard`, every device mixes its own shard through `jax.shard_map`:

  * a partner is another example of the same shard (as big_vision does for
    MixUp), so no pixel crosses a device;
  * in ``"batch"`` mode lambda, box and coin are drawn from the unfolded key,
    so every shard uses the same box: the global batch has one box, as in the
    paper; partners and per-example draws use the key folded with the shard
    index, so shards differ there.

  The contract, for any ``mix_fn`` (the library's functions or your own):

  * ``mix_fn(rng, images, labels, *args, axis_name=axis_name, **kwargs)`` is
    called once per shard with that shard's images and labels, the same
    ``rng`` on every shard, and ``axis_name``.
  * Arguments given at call time after ``labels``, positional or keyword, are
    run-time values: each becomes an array passed to every shard, replicated
    (an ``alpha`` or a ``prob`` from a schedule; changing them does not
    recompile). Static options (``num_classes``, ``mode``, ``return_params``,
    ...) are bound with `functools.partial` before wrapping; a string, tuple
    or None given at call time is refused.
  * Every output is a pytree of arrays with the batch on axis 0, returned
    sharded along ``axis_name``; each `MixParams` in it gets *global* partner
    indices (the shard's offset added).

  Args:
    mix_fn: `cutmix`, `mixup` or `mixup_or_cutmix`, with static options bound
      by `functools.partial`, or a function with the same contract.
    mesh: the device mesh.
    axis_name: the mesh axis the batch is sharded over.

  Returns:
    ``fn(rng, images, labels, *args, **kwargs)`` with ``mix_fn``'s outputs.

  Raises:
    ValueError: (when ``fn`` is called) for an ``axis_name`` that is not a
      mesh axis, or a batch that does not divide into the shards.
    TypeError: for a static option given at call time.

  Examples:
    >>> import functools, jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
    >>> mix = cutmix_jax.per_shard(
    ...     functools.partial(cutmix_jax.cutmix, num_classes=10), mesh)
    >>> images, labels = jnp.zeros((8, 32, 32, 3)), jnp.arange(8)
    >>> mixed, soft = jax.jit(mix)(jax.random.key(0), images, labels, 0.5)
    >>> soft.shape
    (8, 10)
  """
  if axis_name not in mesh.axis_names:
    raise ValueError(
        f"axis_name: expected one of the mesh's axes {tuple(mesh.axis_names)}, "
        f"got {axis_name!r}."
    )
  shards = mesh.shape[axis_name]

  def wrapped(rng, images, labels, *args, **kwargs):
    for arg, x in (("images", images), ("labels", labels)):
      shape = validation.check_batch(x, arg=arg)
      if shape[0] % shards:
        raise ValueError(
            f"{arg}: expected a batch that divides into the {shards} shards of "
            f"mesh axis {axis_name!r}, got {shape[0]} (shape {shape})."
        )
    if "axis_name" in kwargs:
      raise TypeError("axis_name: per_shard sets it; pass it to per_shard.")
    args = tuple(
        _runtime_value(v, f"argument {i + 4}") for i, v in enumerate(args)
    )
    kwargs = {k: _runtime_value(v, k) for k, v in kwargs.items()}
    local_batch = images.shape[0] // shards

    def body(rng, images, labels, args, kwargs):
      out = mix_fn(rng, images, labels, *args, axis_name=axis_name, **kwargs)
      return _global_partners(out, axis_name, local_batch)

    in_specs = (P(), P(axis_name), P(axis_name), P(), P())
    operands = (rng, images, labels, args, kwargs)
    # An explicit-axes mesh (jax.make_mesh's default) wants inputs already
    # laid out as in_specs; resharding is free when they already are.
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
    except validation.StaticOptionTracedError as e:
      # Here the way out is not jit's static_argnames: per_shard made the
      # call-time argument an array.
      raise TypeError(
          f"{e.arg}: per_shard passes call-time arguments to every shard as "
          f"run-time arrays, but {e.arg} must be known at trace time; bind "
          f"it before wrapping: per_shard(functools.partial(mix_fn, "
          f"{e.arg}=...), mesh)."
      ) from None

  return functools.wraps(mix_fn)(wrapped)
