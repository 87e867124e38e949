"""Runs the sharding checks on 8 host devices; prints one JSON report line.

Started by ``tests/conftest.py`` in a subprocess whose environment sets
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before JAX is imported;
``tests/test_sharding.py`` asserts on the report. Importing this module does
nothing (pytest's doctest collection imports it).
"""

COLLECTIVES = (
    "all-gather",
    "all-to-all",
    "collective-permute",
    "all-reduce",
    "reduce-scatter",
)


def main():
  import functools
  import json

  import jax
  import jax.numpy as jnp
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P
  import numpy as np

  import cutmix_jax

  assert jax.device_count() == 8, jax.devices()
  mesh = jax.make_mesh((8,), ("data",))
  batch, height, width, classes = 64, 16, 12, 10
  sharding = NamedSharding(mesh, P("data"))
  values = np.arange(1, batch + 1, dtype=np.float32)[:, None, None, None]
  images = jax.device_put(
      np.broadcast_to(values, (batch, height, width, 3)).copy(), sharding
  )
  labels = jax.device_put(
      jnp.arange(batch, dtype=jnp.int32) % classes, sharding
  )
  key = jax.random.key(0)

  def summary(fn, *args, **kwargs):
    compiled = fn.lower(*args, **kwargs).compile()
    text = compiled.as_text()
    out = fn(*args, **kwargs)
    leaves = jax.tree.leaves(out)
    report = dict(
        collectives=[c for c in COLLECTIVES if c in text],
        data_sharded=[
            bool(x.sharding.is_equivalent_to(sharding, x.ndim)) for x in leaves
        ],
        images=np.asarray(out[0])[..., 0].tolist(),
        labels=np.asarray(out[1]).tolist(),
    )
    if len(out) == 3:
      report.update(
          {k: np.asarray(v).tolist() for k, v in out[2]._asdict().items()}
      )
    return report

  report = {"devices": jax.device_count()}
  for mode in ("batch", "elem", "pair"):
    fn = jax.jit(
        cutmix_jax.per_shard(
            functools.partial(
                cutmix_jax.cutmix,
                num_classes=classes,
                mode=mode,
                return_params=True,
            ),
            mesh,
        )
    )
    report[f"cutmix_{mode}"] = summary(fn, key, images, labels)
  fn = jax.jit(
      cutmix_jax.per_shard(
          functools.partial(
              cutmix_jax.mixup,
              num_classes=classes,
              mode="elem",
              return_params=True,
          ),
          mesh,
      )
  )
  report["mixup_elem"] = summary(fn, key, images, labels)
  # A traced prob (e.g. from a schedule) passes through per_shard replicated.
  traces = []

  def counted(rng, x, y, prob):
    traces.append(1)
    return cutmix_jax.per_shard(
        functools.partial(
            cutmix_jax.cutmix,
            num_classes=classes,
            mode="batch",
            return_params=True,
        ),
        mesh,
    )(rng, x, y, prob=prob)

  fn = jax.jit(counted)
  report["prob_zero"] = summary(fn, key, images, labels, jnp.float32(0.0))
  report["prob_one"] = summary(fn, key, images, labels, jnp.float32(1.0))
  report["prob_traces"] = len(traces)
  # A video batch (B, T, H, W, C), an ST-VideoMix cuboid per example.
  video = jax.device_put(
      np.broadcast_to(values[..., None], (batch, 4, height, width, 2)).copy(),
      sharding,
  )
  fn = jax.jit(
      cutmix_jax.per_shard(
          functools.partial(
              cutmix_jax.cutmix,
              num_classes=classes,
              mode="elem",
              axes=(1, 2, 3),
              return_params=True,
          ),
          mesh,
      )
  )
  report["video_st_elem"] = summary(fn, key, video, labels)
  # Contrast: plain jit lets partners come from other devices.
  plain = jax.jit(
      functools.partial(
          cutmix_jax.cutmix,
          num_classes=classes,
          mode="elem",
          return_params=True,
      )
  )
  report["plain_cutmix"] = summary(plain, key, images, labels)
  # per_shard's contract: positional run-time values, clear refusals.
  mix = cutmix_jax.per_shard(
      functools.partial(
          cutmix_jax.cutmix, num_classes=classes, return_params=True
      ),
      mesh,
  )
  contract = {}
  _, _, params = jax.jit(mix)(key, images, labels, 0.5)
  contract["positional_alpha_partners_local"] = bool(
      np.all(
          np.asarray(params.partner) // (batch // 8)
          == np.arange(batch) // (batch // 8)
      )
  )
  for name, call in (
      (
          "odd_batch",
          lambda: mix(
              key, np.zeros((60, height, width, 3)), np.zeros(60, np.int32)
          ),
      ),
      (
          "wrong_axis",
          lambda: cutmix_jax.per_shard(
              cutmix_jax.cutmix, mesh, axis_name="batch"
          ),
      ),
      ("static_at_call_time", lambda: mix(key, images, labels, mode="elem")),
  ):
    try:
      call()
      contract[name] = "no error"
    except (TypeError, ValueError) as e:
      contract[name] = f"{type(e).__name__}: {e}"
  report["per_shard_contract"] = contract
  # Every function under jax.set_mesh, on meshes of 4 and 8 devices.
  from explicit_mesh_checks import explicit_mesh_report

  # Jitted on both meshes; eagerly (every op compiled on its own for the
  # mesh, a minute a mesh) on the 8-device one only.
  report["explicit_mesh"] = {
      str(n): explicit_mesh_report(
          jax.make_mesh((n,), ("data",), devices=jax.devices()[:n]),
          eager=n == 8,
      )
      for n in (4, 8)
  }
  print(json.dumps(report))


if __name__ == "__main__":
  main()
