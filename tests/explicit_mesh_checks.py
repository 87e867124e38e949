"""Every public function inside ``jax.set_mesh`` on an Explicit-axes mesh.

`sharding_worker` calls `explicit_mesh_report` for meshes of 4 and 8 host
devices. For each function it compares the result on a batch sharded over
``("data",)``, eagerly and under ``jit``, with the result on the same batch
unsharded, and reports whether the batch outputs kept the batch's sharding.
"""


def _same(a, b) -> bool:
  """Selects are exact; float arithmetic may fuse differently when sharded."""
  import numpy as np

  a, b = np.asarray(a), np.asarray(b)
  if a.dtype != b.dtype or a.shape != b.shape:
    return False
  if np.issubdtype(a.dtype, np.floating):
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-6, equal_nan=True))
  return bool(np.array_equal(a, b))


def _leading_axis(leaf):
  """The mesh axis of the leaf's first dimension (None for scalars)."""
  spec = tuple(getattr(leaf.sharding, "spec", ()))
  return spec[0] if spec else None


def explicit_mesh_report(mesh, *, eager: bool = True):
  import functools

  import jax
  import jax.numpy as jnp
  from jax.sharding import PartitionSpec as P
  import numpy as np

  import cutmix_jax

  num_devices = mesh.devices.size
  batch, classes = 2 * num_devices, 10
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(batch, 8, 6, 3)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, classes, batch), jnp.int32)
  key = jax.random.key(3)
  with_params = cutmix_jax.with_params
  _, _, params = with_params(cutmix_jax.mixup_or_cutmix)(
      key, images, labels, num_classes=classes, mode="elem"
  )
  logits = jnp.asarray(rng.normal(size=(batch, classes)), jnp.float32)
  opts = dict(num_classes=classes)
  calls = {
      "cutmix_batch": lambda x, y: with_params(cutmix_jax.cutmix)(
          key, x, y, **opts
      ),
      "cutmix_elem": lambda x, y: with_params(cutmix_jax.cutmix)(
          key, x, y, mode="elem", **opts
      ),
      "cutmix_pair": lambda x, y: with_params(cutmix_jax.cutmix)(
          key, x, y, mode="pair", **opts
      ),
      "mixup_elem": lambda x, y: with_params(cutmix_jax.mixup)(
          key, x, y, 0.4, mode="elem", **opts
      ),
      "mixup_or_cutmix_elem": lambda x, y: with_params(
          cutmix_jax.mixup_or_cutmix
      )(key, x, y, mode="elem", **opts),
      "cut_and_paste": lambda x, y: (cutmix_jax.cut_and_paste(x, params),),
      "blend": lambda x, y: (cutmix_jax.blend(x, params),),
      "mix_labels": lambda x, y: (
          cutmix_jax.mix_labels(
              y, params, num_classes=classes, label_smoothing=0.1
          ),
      ),
      "mixed_cross_entropy": lambda x, y: (
          cutmix_jax.mixed_cross_entropy(logits, y, params),
      ),
      "per_shard_cutmix": lambda x, y: cutmix_jax.per_shard(
          with_params(functools.partial(cutmix_jax.cutmix, **opts)), mesh
      )(key, x, y),
  }
  report = {"devices": num_devices, "eager": eager, "calls": {}}
  for name, call in calls.items():
    entry = {}
    try:
      # The reference is jitted (compiling op by op twice costs a minute).
      expected = jax.jit(call)(images, labels)
      with jax.set_mesh(mesh):
        x = jax.device_put(images, P("data"))
        y = jax.device_put(labels, P("data"))
        ways = (("eager", call),) if eager else ()
        for how, fn in ways + (("jit", jax.jit(call)),):
          out = fn(x, y)
          entry[how + "_sharded"] = [
              _leading_axis(leaf) == "data" for leaf in jax.tree.leaves(out)
          ]
          if name.startswith("per_shard"):
            # Partners come from within each shard there, so the draws
            # differ from the unsharded call's; the output is still valid.
            entry[how + "_equal"] = None
          else:
            entry[how + "_equal"] = all(
                _same(a, b)
                for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(expected))
            )
    except Exception as e:
      entry["error"] = f"{type(e).__name__}: {str(e)[:500]}"
    report["calls"][name] = entry
  return report
