"""Mixing a batch sharded over devices: `per_shard`, and explicit-mesh layouts."""

from collections.abc import Callable
import contextlib
import functools
import inspect
import math

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from cutmix_jax._src import checks
from cutmix_jax._src import sampling


def _batch_sharding(x: jax.Array):
  """``x``'s sharding if its batch axis is sharded over explicit mesh axes."""
  sharding = getattr(jax.typeof(x), "sharding", None)
  spec = getattr(sharding, "spec", None)
  return sharding if spec and spec[0] is not None else None


def shard_like_batch(values, batch: jax.Array):
  """Reshards per-example ``values`` like ``batch`` on explicit-axes meshes:
  like its batch axis, or replicated where only the values are sharded."""
  # A select or gather needs its operands laid out alike: values are drawn
  # replicated, and per_shard's params may meet arrays that are not sharded.
  if (sharding := _batch_sharding(batch)) is not None:
    spec = P(sharding.spec[0])
    return jax.sharding.reshard(values, NamedSharding(sharding.mesh, spec))
  for leaf in jax.tree.leaves(values):
    if (own := _batch_sharding(leaf)) is not None:
      return jax.sharding.reshard(values, NamedSharding(own.mesh, P()))
  return values


def with_partners(x: jax.Array, params):
  """``params`` laid out like ``x``'s batch, and ``x[params.partner]`` (kept
  sharded like the batch on explicit-axes meshes)."""
  params = shard_like_batch(params, x)
  if (sharding := _batch_sharding(x)) is None:
    return params, x[params.partner]
  return params, x.at[params.partner].get(out_sharding=sharding)


def _static_hint(arg: str, value, when: str = "") -> TypeError:
  return TypeError(
      f"{arg}: expected a run-time number or array at call time, or a static "
      f"option bound before wrapping: per_shard(functools.partial(mix_fn, "
      f"{arg}=...), mesh), got {checks.describe(value)}{when} (per_shard "
      "passes call-time arguments to every shard as arrays)."
  )


def _runtime_value(value, arg: str) -> jax.Array:
  """A call-time argument as an array; refuses options shaping the program."""
  with contextlib.suppress(TypeError, ValueError):
    if value is not None and not isinstance(value, (str, bytes)):
      return jnp.asarray(value)
  raise _static_hint(arg, value)


def _batch(x, user_function: bool):
  """A batch to shard: an array, or for a function of the user's, a tuple or
  dict of arrays; a list of numbers (the library's functions take one too)
  becomes an array."""
  arrays = all(hasattr(leaf, "shape") for leaf in jax.tree.leaves(x))
  return (
      x if hasattr(x, "shape") or user_function and arrays else jnp.asarray(x)
  )


def per_shard(
    mix_fn: Callable, mesh: Mesh, *, axis_name: str | tuple[str, ...] = "data"
) -> Callable:
  """Runs a mixing function on each device's shard of the batch.

  Each device mixes its shard of the batch (axis 0, sharded over ``axis_name``)
  in `jax.shard_map`: no image crosses devices. Partners form a uniform random
  cycle through each shard (random pairs in ``"pair"`` mode), so no example is
  its own partner and shards need 2 examples or more; ``"batch"`` mode draws
  the same lambda, box and coin on every shard. Arguments after ``labels`` reach
  every shard as replicated run-time arrays (bind static options first, with
  `functools.partial`). Library functions check arguments on the whole batch.
  The sharded call is compiled once per shape, outside `jax.jit` too.

  Args:
    mix_fn: `cutmix`, `mixup`, `mixup_or_cutmix` or `with_params` of one, or a
      function with their contract, called as ``mix_fn(rng, images, labels,
      *args, axis_name=axis_name, **kwargs)`` with the same ``rng`` per shard;
      a function of your own may take ``images`` as a tuple or dict of arrays
      (a mask that takes the image's draw, through `cut_and_paste`).
    mesh: the device mesh.
    axis_name: the mesh axis the batch is sharded over, or a tuple of axes
      (a batch laid out as ``P(("data", "fsdp"))``); a batch laid out
      otherwise is resharded to ``P(axis_name)`` by `jax.shard_map`.

  Returns:
    ``fn(rng, images, labels, *args, **kwargs)`` returning ``mix_fn``'s outputs,
    sharded along ``axis_name``; a `MixParams` has global partner indices.

  Raises:
    ValueError: for an ``axis_name`` not in ``mesh``; at call time, for a batch
      not splitting into shards of 2 or more, or what ``mix_fn`` refuses.
    TypeError: for a static option given at call time.

  Examples:
    >>> import functools, jax, jax.numpy as jnp, cutmix_jax
    >>> mesh = jax.make_mesh((jax.device_count(),), ("data",))
    >>> mix = jax.jit(cutmix_jax.per_shard(
    ...     functools.partial(cutmix_jax.cutmix, num_classes=10), mesh))
    >>> x, y = jnp.zeros((8, 32, 32, 3)), jnp.arange(8)
    >>> mix(jax.random.key(0), x, y, 0.5)[1].shape
    (8, 10)
  """
  ok = callable(mix_fn)
  checks.require(ok, "mix_fn", "a function", repr(mix_fn), TypeError)
  ok = isinstance(mesh, Mesh)
  checks.require(ok, "mesh", "a jax.sharding.Mesh", repr(mesh), TypeError)
  batch_axes = axis_name if isinstance(axis_name, tuple) else (axis_name,)
  expected = f"one of the mesh's axes {mesh.axis_names}, or a tuple of them"
  ok = bool(batch_axes) and all(a in mesh.axis_names for a in batch_axes)
  ok = ok and len(set(batch_axes)) == len(batch_axes)
  checks.require(ok, "axis_name", expected, repr(axis_name))
  shards = math.prod(mesh.shape[a] for a in batch_axes)
  divisible = (
      f"a batch that divides into the {shards} shards of mesh axis "
      f"{axis_name!r} with at least 2 examples each (per_shard mixes within "
      f"each shard): a multiple of {shards}, at least {2 * shards}"
  )
  sharded = P(axis_name)
  specs = (P(), sharded, sharded, P(), P())
  fn = mix_fn
  while isinstance(fn, functools.partial):
    fn = fn.func
  checks_args = getattr(fn, "_checks_arguments", False)  # a library function
  names: list[str] = []  # of the arguments after labels, for messages
  with contextlib.suppress(TypeError, ValueError):
    names = list(inspect.signature(mix_fn).parameters)[3:]

  def body(rng, images, labels, args, kwargs):
    out = mix_fn(rng, images, labels, *args, axis_name=axis_name, **kwargs)
    # mix_fn's partners index the shard; the caller's, the whole batch.
    shard_size = jax.tree.leaves(images)[0].shape[0]
    offset = jax.lax.axis_index(axis_name).astype(jnp.int32) * shard_size

    def to_global(x):
      is_params = isinstance(x, sampling.MixParams)
      return x._replace(partner=x.partner + offset) if is_params else x

    return jax.tree.map(
        to_global, out, is_leaf=lambda x: isinstance(x, sampling.MixParams)
    )

  # Jitted: eagerly, shard_map would compile each operation anew every call.
  mapped = jax.jit(
      jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=sharded)
  )

  def wrapped(rng, images, labels, *args, **kwargs):
    if "axis_name" in kwargs:
      expected = "none at call time (per_shard sets it; give it to per_shard)"
      checks.refuse("axis_name", expected, repr(kwargs["axis_name"]), TypeError)
    try:
      if checks_args:  # on the whole batch, with the values as given
        # Known values stay concrete in eval_shape only as JAX arrays; 64-bit
        # ones stay NumPy's, read as they are (an int32 cast would wrap them).
        images, labels = (
            jnp.asarray(x)
            if isinstance(x, np.ndarray) and x.dtype.itemsize <= 4
            else x
            for x in (images, labels)
        )
        jax.eval_shape(lambda: mix_fn(rng, images, labels, *args, **kwargs))
      images, labels = (_batch(x, not checks_args) for x in (images, labels))
      for arg, x in (("images", images), ("labels", labels)):
        leaves = jax.tree.leaves(x)
        for batch in {(np.shape(v) or (0,))[0] for v in leaves} or {0}:
          ok = batch % shards == 0 and batch // shards >= 2
          checks.require(ok, arg, divisible, f"a batch of {batch}")
      unnamed = (f"argument {i + 4}" for i in range(len(names), len(args)))
      arrays = tuple(map(_runtime_value, args, [*names, *unnamed]))
      keywords = {k: _runtime_value(v, k) for k, v in kwargs.items()}
      operands = (rng, images, labels, arrays, keywords)
      # shard_map requires this layout on explicit axes.
      if set(batch_axes) & set(mesh.explicit_axes):
        layout = tuple(NamedSharding(mesh, spec) for spec in specs)
        operands = jax.sharding.reshard(operands, layout)
      return mapped(*operands)
    except checks.StaticOptionTracedError as e:
      # Raised tracing mix_fn on the whole batch or on a shard.
      value = {**dict(zip(names, args)), **kwargs}.get(e.arg)
      raise _static_hint(e.arg, value, " at call time") from None

  # Not mix_fn's __dict__: with_params and one_of must not see the function
  # inside as if it were the wrapper (they would skip per_shard).
  return functools.wraps(mix_fn, updated=())(wrapped)
