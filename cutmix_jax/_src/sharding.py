"""Mixing on a batch sharded over devices, with no image crossing a device."""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from cutmix_jax._src import params as params_lib


def _explicit_axes(mesh: Mesh) -> set[str]:
  """The mesh axes of type Explicit (Auto axes are resharded by shard_map)."""
  types = getattr(mesh, "axis_types", None) or ()
  return {name for name, kind in zip(mesh.axis_names, types)
          if kind == jax.sharding.AxisType.Explicit}


def per_shard(mix_fn: Callable, mesh: Mesh, *, axis_name: str = "data") -> Callable:
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
    index, so shards differ there;
  * returned `MixParams` carry *global* partner indices (shard offset added).

  Args:
    mix_fn: `cutmix`, `mixup` or `mixup_or_cutmix`, with static options bound
      by `functools.partial` (``num_classes``, ``mode``, ...).
    mesh: the device mesh.
    axis_name: the mesh axis the batch is sharded over.

  Returns:
    ``fn(rng, images, labels, **dynamic)`` with ``mix_fn``'s outputs, each
    sharded along ``axis_name``. Keyword values that are `jax.Array` (a traced
    ``prob`` from a schedule, say) are passed to every shard, replicated;
    other keywords are bound statically.

  Examples:
    >>> import functools, jax, jax.numpy as jnp, numpy as np
    >>> import cutmix_jax
    >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
    >>> mix = cutmix_jax.per_shard(
    ...     functools.partial(cutmix_jax.cutmix, num_classes=10), mesh)
    >>> images, labels = jnp.zeros((8, 32, 32, 3)), jnp.arange(8)
    >>> mixed, soft = jax.jit(mix)(jax.random.key(0), images, labels)
    >>> soft.shape
    (8, 10)
  """

  def wrapped(rng, images, labels, **kwargs):
    dynamic = {k: v for k, v in kwargs.items() if isinstance(v, jax.Array)}
    static = {k: v for k, v in kwargs.items() if k not in dynamic}

    def body(rng, images, labels, dynamic):
      out = mix_fn(rng, images, labels, axis_name=axis_name, **static, **dynamic)
      if len(out) == 3 and isinstance(out[2], params_lib.MixParams):
        offset = jax.lax.axis_index(axis_name) * images.shape[0]
        out = (*out[:2], out[2]._replace(
            partner=out[2].partner + offset.astype(jnp.int32)))
      return out

    in_specs = (P(), P(axis_name), P(axis_name), P())
    # An explicit-axes mesh (jax.make_mesh's default) wants inputs already
    # laid out as in_specs; resharding is free when they already are.
    args = (rng, images, labels, dynamic)
    if axis_name in _explicit_axes(mesh):
      args = jax.tree.map(
          lambda spec, x: jax.reshard(x, NamedSharding(mesh, spec)),
          in_specs, args, is_leaf=lambda x: isinstance(x, P))
    return jax.shard_map(
        body, mesh=mesh, in_specs=in_specs, out_specs=P(axis_name))(*args)

  return functools.wraps(mix_fn)(wrapped)
