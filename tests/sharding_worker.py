"""Runs the sharding checks on 8 host devices; prints one JSON report line.

`tests/test_sharding.py` runs it in a subprocess whose environment sets
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before JAX is imported,
and asserts on the report. Importing this module does nothing (pytest's
doctest collection imports it).
"""

COLLECTIVES = (
    "all-gather",
    "all-to-all",
    "collective-permute",
    "all-reduce",
    "reduce-scatter",
)


def _error(call) -> str:
  """``"TypeName: message"`` of what ``call()`` raises, or ``"no error"``."""
  try:
    call()
  except Exception as e:
    return f"{type(e).__name__}: {e}"
  return "no error"


def main():
  import functools
  import json

  import jax
  import jax.numpy as jnp
  from jax.sharding import AxisType
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P
  import numpy as np

  import cutmix_jax

  assert jax.device_count() == 8, jax.devices()
  mesh = jax.make_mesh((8,), ("data",))
  height, width, classes = 16, 12, 10
  sharding = NamedSharding(mesh, P("data"))
  key = jax.random.key(0)

  def batch(n, example=(height, width, 3)):
    values = np.arange(1, n + 1, dtype=np.float32)
    values = values.reshape((n,) + (1,) * len(example))
    images = jax.device_put(
        np.broadcast_to(values, (n,) + example).copy(), sharding
    )
    labels = jax.device_put(jnp.arange(n, dtype=jnp.int32) % classes, sharding)
    return images, labels

  def mixer(fn=cutmix_jax.cutmix, **options):
    return cutmix_jax.per_shard(
        cutmix_jax.with_params(
            functools.partial(fn, num_classes=classes, **options)
        ),
        mesh,
    )

  def summary(fn, *args, sharding=sharding):
    # The HLO of the program that runs (jit reuses this compile).
    text = fn.lower(*args).compile().as_text()
    out = fn(*args)
    report = dict(
        collectives=[c for c in COLLECTIVES if c in text],
        data_sharded=[
            bool(x.sharding.is_equivalent_to(sharding, x.ndim))
            for x in jax.tree.leaves(out)
        ],
        images=np.asarray(out[0])[..., 0].tolist(),
        labels=np.asarray(out[1]).tolist(),
    )
    report.update(
        {k: np.asarray(v).tolist() for k, v in out[2]._asdict().items()}
    )
    return report

  import time

  seconds = {}
  last = [time.process_time()]

  def lap(name):
    now = time.process_time()
    seconds[name] = round(now - last[0], 2)
    last[0] = now

  report = {"devices": jax.device_count(), "cpu_seconds": seconds}
  images, labels = batch(64)
  # Batch mode with alpha given positionally (per_shard passes it through).
  report["cutmix_batch"] = summary(
      jax.jit(mixer(mode="batch")), key, images, labels, 1.0
  )
  for mode in ("elem", "pair"):
    report[f"cutmix_{mode}"] = summary(
        jax.jit(mixer(mode=mode)), key, images, labels
    )
  report["mixup_elem"] = summary(
      jax.jit(mixer(cutmix_jax.mixup, mode="elem")), key, images, labels
  )
  # A traced prob (e.g. from a schedule) passes through per_shard replicated.
  traces = []

  def counted(rng, x, y, prob):
    traces.append(1)
    return mixer(mode="batch")(rng, x, y, prob=prob)

  fn = jax.jit(counted)
  report["prob_zero"] = summary(fn, key, images, labels, jnp.float32(0.0))
  report["prob_one"] = summary(fn, key, images, labels, jnp.float32(1.0))
  report["prob_traces"] = len(traces)
  # A video batch (B, T, H, W, C), an ST-VideoMix cuboid per example.
  video, _ = batch(64, (4, height, width, 2))
  report["video_st_elem"] = summary(
      jax.jit(mixer(mode="elem", axes=(1, 2, 3))), key, video, labels
  )
  # Contrast: plain jit lets partners come from other devices.
  plain = jax.jit(
      cutmix_jax.with_params(
          functools.partial(cutmix_jax.cutmix, num_classes=classes, mode="elem")
      )
  )
  report["plain_cutmix"] = summary(plain, key, images, labels)
  # A mesh with Auto axes: per_shard asks for no reshard there.
  auto = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
  auto_sharding = NamedSharding(auto, P("data"))
  report["auto_mesh"] = summary(
      jax.jit(
          cutmix_jax.per_shard(
              cutmix_jax.with_params(
                  functools.partial(cutmix_jax.cutmix, num_classes=classes)
              ),
              auto,
          )
      ),
      key,
      jax.device_put(np.asarray(images), auto_sharding),
      jax.device_put(np.asarray(labels), auto_sharding),
      sharding=auto_sharding,
  )
  # A batch over two mesh axes, P(("data", "fsdp")) as in big_vision or t5x:
  # one shard per device, so nothing crosses devices either.
  grid = jax.make_mesh((4, 2), ("data", "fsdp"))
  both = NamedSharding(grid, P(("data", "fsdp")))
  two_axes = cutmix_jax.per_shard(
      cutmix_jax.with_params(
          functools.partial(cutmix_jax.cutmix, num_classes=classes, mode="elem")
      ),
      grid,
      axis_name=("data", "fsdp"),
  )
  report["two_axes"] = summary(
      jax.jit(two_axes),
      key,
      jax.device_put(np.asarray(images), both),
      jax.device_put(np.asarray(labels), both),
      sharding=both,
  )
  # A function of the user's on a batch dict: the mask takes the image's
  # draw inside the shard, so it crosses no device either.
  cut_elem = cutmix_jax.with_params(
      functools.partial(cutmix_jax.cutmix, num_classes=classes, mode="elem")
  )

  def mix_dict(rng, batch, labels, *, axis_name):
    image, soft, params = cut_elem(
        rng, batch["image"], labels, axis_name=axis_name
    )
    mask = cutmix_jax.cut_and_paste(batch["mask"], params)
    return {"image": image, "mask": mask}, soft

  batch_dict = {
      "image": images,
      "mask": jax.device_put(
          np.asarray(images)[..., 0].astype(np.int32), sharding
      ),
  }
  fn = jax.jit(cutmix_jax.per_shard(mix_dict, mesh))
  text = fn.lower(key, batch_dict, labels).compile().as_text()
  out, _ = fn(key, batch_dict, labels)
  report["batch_dict"] = dict(
      collectives=[c for c in COLLECTIVES if c in text],
      data_sharded=[
          bool(x.sharding.is_equivalent_to(sharding, x.ndim))
          for x in jax.tree.leaves(out)
      ],
      image=np.asarray(out["image"])[..., 0].tolist(),
      mask=np.asarray(out["mask"]).tolist(),
  )
  lap("mixers")

  # Small shards: no example of a shard of 2 or more is its own partner
  # (issue 17, 2), over several keys. (Eager calls: explicit_mesh_checks
  # and in-process on one device.)
  small = {}
  for n, mode in ((16, "elem"), (16, "batch"), (16, "pair"), (24, "pair"),
                  (40, "elem")):  # fmt: skip
    x, y = batch(n)
    jitted = jax.jit(mixer(mode=mode))
    runs = []
    for seed in (0, 1, 2):
      out, soft, params = jitted(jax.random.key(seed), x, y)
      runs.append(
          dict(
              partner=np.asarray(params.partner).tolist(),
              applied=np.asarray(params.applied).tolist(),
              box=np.asarray(params.box).tolist(),
              images=np.asarray(out)[..., 0].tolist(),
          )
      )
    small[f"{mode}_{n}"] = runs
  report["small_shards"] = small
  lap("small_shards")

  # per_shard's contract: run-time values at call time, clear refusals with
  # the caller's global sizes, the same value checks as the plain function.
  mix = mixer()
  x8, y8 = batch(8)
  x16, y16 = batch(16)
  checks = {
      "one_per_shard": lambda: mix(key, x8, y8),
      "one_per_shard_jit": lambda: jax.jit(mix)(key, x8, y8),
      "odd_batch": lambda: mix(
          key, np.zeros((60, height, width, 3)), np.zeros(60, np.int32)
      ),
      "labels_global_size": lambda: mix(key, x16, np.asarray(y16)[:8]),
      "wrong_axis": lambda: cutmix_jax.per_shard(
          cutmix_jax.cutmix, mesh, axis_name="batch"
      ),
      "static_at_call_time": lambda: mix(key, images, labels, mode="elem"),
      "num_classes_at_call_time": lambda: cutmix_jax.per_shard(
          cutmix_jax.cutmix, mesh
      )(key, images, labels, num_classes=classes),
      "alpha_negative": lambda: mix(key, images, labels, -1.0),
      "alpha_nan": lambda: mix(key, images, labels, alpha=float("nan")),
      "prob_above_one": lambda: mix(key, images, labels, prob=1.5),
      "smoothing_negative": lambda: mix(
          key, images, labels, label_smoothing=-0.5
      ),
      # (Valid numpy labels run eagerly in explicit_mesh_checks.) Built on
      # the host: an eager .at[].set on labels sharded over an Explicit mesh
      # would need jax.set_mesh itself.
      "label_out_of_range": lambda: mix(
          key, images, np.where(np.arange(64) == 5, 99, np.asarray(labels))
      ),
  }
  contract = {name: _error(call) for name, call in checks.items()}
  report["per_shard_contract"] = contract
  lap("contract")

  # Every function under jax.set_mesh, on meshes of 4 and 8 devices: jitted
  # on both, eagerly (every op dispatched on its own) on the 4-device one
  # (on a subset of the devices; eagerly on 8 costs half as much again).
  from explicit_mesh_checks import explicit_mesh_report

  report["explicit_mesh"] = explicit_mesh_report(
      [
          jax.make_mesh((n,), ("data",), devices=jax.devices()[:n])
          for n in (4, 8)
      ],
      eager_devices=4,
  )
  lap("explicit_mesh")
  print(json.dumps(report))


if __name__ == "__main__":
  main()
