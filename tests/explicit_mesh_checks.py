"""Every public function inside ``jax.set_mesh`` on an Explicit-axes mesh.

`sharding_worker` calls `explicit_mesh_report` with meshes of 4 and 8 host
devices. For each function it compares the result on a batch sharded over
``("data",)``, under ``jit`` (and eagerly on one mesh), with the result on the
same batch unsharded, and reports whether the batch outputs kept the batch's
sharding. Eagerly, per_shard is given numpy labels, and its params are
applied to arrays left unsharded. The functions are compiled together: one
program for the unsharded reference and one a mesh (a compile each is most of
the cost); a failure is then traced back to the function that raised.
"""

BATCH, CLASSES = 16, 10  # 16 divides into 4 or 8 shards of 2 or more


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


def _error(e) -> str:
  return f"{type(e).__name__}: {str(e)[:500]}"


def _calls(mesh):
  """``{name: call(images, labels)}``: every public function, one call each.

  ``mesh`` is per_shard's (None: the unsharded reference, without it).
  """
  import functools

  import jax
  import jax.numpy as jnp
  import numpy as np

  import cutmix_jax

  rng = np.random.default_rng(0)
  key = jax.random.key(3)
  with_params = cutmix_jax.with_params
  images = jnp.asarray(rng.normal(size=(BATCH, 8, 6, 3)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, CLASSES, BATCH), jnp.int32)
  _, _, params = with_params(cutmix_jax.mixup_or_cutmix)(
      key, images, labels, num_classes=CLASSES, mode="elem"
  )
  logits = jnp.asarray(rng.normal(size=(BATCH, CLASSES)), jnp.float32)
  opts = dict(num_classes=CLASSES)
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
              y, params, num_classes=CLASSES, label_smoothing=0.1
          ),
      ),
      "mixed_cross_entropy": lambda x, y: (
          cutmix_jax.mixed_cross_entropy(logits, y, params),
      ),
      "resizemix_elem": lambda x, y: with_params(cutmix_jax.resizemix)(
          key, x, y, mode="elem", **opts
      ),
      "one_of_elem": lambda x, y: with_params(cutmix_jax.one_of)(
          key, x, y, [(0.4, cutmix_jax.cutmix), (0.6, cutmix_jax.resizemix)],
          mode="elem", **opts,
      ),  # fmt: skip
      # Params drawn from the same batch, and an attention over its 4 x 3
      # grid of 2 x 2 patches.
      "transmix_weights": lambda x, y: (
          cutmix_jax.transmix_weights(
              jnp.abs(x[:, ::2, ::2, 0]).reshape(BATCH, 12),
              with_params(cutmix_jax.cutmix)(
                  key, x, y, mode="elem", box=cutmix_jax.boxes.on_patch_grid(2),
                  **opts,
              )[2],
              image_size=(8, 6), patch_size=2,
          ),
      ),  # fmt: skip
  }
  if mesh is not None:
    calls["per_shard_cutmix"] = lambda x, y: cutmix_jax.per_shard(
        with_params(functools.partial(cutmix_jax.cutmix, **opts)), mesh
    )(key, x, y)
  return images, labels, calls


def _entry(out, expected):
  """Which outputs are sharded along data; whether they equal the reference."""
  import jax

  sharded = [_leading_axis(leaf) == "data" for leaf in jax.tree.leaves(out)]
  if expected is None:
    # per_shard: partners come from within each shard, so the draws differ
    # from the unsharded call's; the output is still valid (test_sharding).
    return sharded, None
  return sharded, all(
      _same(a, b)
      for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(expected))
  )


def explicit_mesh_report(meshes, *, eager_devices: int):
  """``{str(devices): report}``, the calls eager too on ``eager_devices``."""
  import jax
  from jax.sharding import PartitionSpec as P
  import numpy as np

  images, labels, reference_calls = _calls(None)

  def together(calls):
    return jax.jit(lambda x, y: {name: c(x, y) for name, c in calls.items()})

  expected = together(reference_calls)(images, labels)
  reports = {}
  for mesh in meshes:
    num_devices = mesh.devices.size
    eager = num_devices == eager_devices
    _, _, calls = _calls(mesh)
    entries = {name: {} for name in calls}
    with jax.set_mesh(mesh):
      x = jax.device_put(images, P("data"))
      y = jax.device_put(labels, P("data"))
      try:
        outs = together(calls)(x, y)
      except Exception:
        # Find the function that fails (one program per call, this once).
        outs = {}
        for name, call in calls.items():
          try:
            outs[name] = jax.jit(call)(x, y)
          except Exception as e:
            entries[name]["error"] = _error(e)
      for name, out in outs.items():
        entries[name]["jit_sharded"], entries[name]["jit_equal"] = _entry(
            out, expected.get(name)
        )
      if eager:
        for name, call in calls.items():
          try:
            # per_shard eagerly takes numpy labels beside the sharded
            # images, as a host pipeline gives them: it converts them itself.
            numpy_labels = name.startswith("per_shard")
            out = call(x, np.asarray(labels) if numpy_labels else y)
          except Exception as e:
            entries[name]["error"] = _error(e)
            continue
          entries[name]["eager_sharded"], entries[name]["eager_equal"] = _entry(
              out, expected.get(name)
          )
      # Once, on the mesh that leaves devices out (params on 4 devices,
      # arrays on the first); on 8 too it cost 8 of the worker's 87 s.
      on_host = eager and _params_on_unsharded_arrays(
          mesh, x, y, images, labels
      )
    reports[str(num_devices)] = dict(
        devices=num_devices, eager=eager, calls=entries, on_host=on_host
    )
  return reports


def _params_on_unsharded_arrays(mesh, x, y, images, labels):
  """per_shard's params (sharded like the batch) applied to arrays that are
  not (a mask or labels kept whole): ``{name: "equal" | "differs" | error}``
  against the same call on the sharded arrays, eagerly and jitted."""
  import functools

  import jax

  import cutmix_jax

  mix = cutmix_jax.per_shard(
      cutmix_jax.with_params(
          functools.partial(cutmix_jax.cutmix, num_classes=CLASSES)
      ),
      mesh,
  )
  params = mix(jax.random.key(5), x, y)[2]
  logits = x[:, 0, 0, :].repeat(4, axis=1)[:, :CLASSES]
  calls = {
      "cut_and_paste": lambda a, _: cutmix_jax.cut_and_paste(a, params),
      "blend": lambda a, _: cutmix_jax.blend(a, params),
      "mix_labels": lambda _, b: cutmix_jax.mix_labels(
          b, params, num_classes=CLASSES
      ),
      "mixed_cross_entropy": lambda _, b: cutmix_jax.mixed_cross_entropy(
          logits, b, params
      ),
  }
  out = {}
  for name, call in calls.items():
    for how, fn in (("eager", call), ("jit", jax.jit(call))):
      try:
        same = _same(fn(images, labels), call(x, y))
        out[f"{name}_{how}"] = "equal" if same else "differs"
      except Exception as e:
        out[f"{name}_{how}"] = _error(e)
  return out
