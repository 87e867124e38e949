"""CutMix where it is used: the trainer's jitted train step, with and without it.

Uses the trainer in ``train/`` (`train.train_state.create_train_state` and
`train.steps.make_train_step`): the same configuration once as it is and
once with ``cutmix.method = "none"``, both stepped in the same process,
interleaved. Reported: the wall-time ratio (median of paired ratios), XLA's
``cost_analysis()`` bytes accessed and flops of both compiled steps, and
their compile times. Separately, the number of traces of a jitted function
that calls `cutmix_jax.cutmix` with ten different traced ``alpha``/``prob``
values (one means no recompilation).
"""

import importlib.util
import time

import jax
import jax.numpy as jnp
import numpy as np

import cutmix_jax
from benchmarks import timing


def load_config(path: str):
  """An ml_collections config file's ``get_config()``, loaded by path."""
  spec = importlib.util.spec_from_file_location("bench_train_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _cost(compiled) -> dict[str, float]:
  """``bytes accessed`` and ``flops`` from a compiled executable's cost analysis."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older JAX: one dict per program
    analysis = analysis[0] if analysis else {}
  return {"bytes_accessed": float(analysis.get("bytes accessed", float("nan"))),
          "flops": float(analysis.get("flops", float("nan")))}


class _Stepper:
  """One compiled train step with its own (donated, threaded) state."""

  def __init__(self, config, mesh, images, labels, keys):
    from jax.sharding import NamedSharding  # pylint: disable=g-import-not-at-top
    from jax.sharding import PartitionSpec as P  # pylint: disable=g-import-not-at-top
    from train import steps  # pylint: disable=g-import-not-at-top
    from train import train_state  # pylint: disable=g-import-not-at-top
    schedule = train_state.learning_rate_schedule(config, 1, config.num_train_steps)
    graphdef, self.state = train_state.create_train_state(
        config, keys["init"], mesh, schedule=schedule, num_classes=10)
    # Normalised by the batch's own statistics (the benchmark's data).
    step = steps.make_train_step(
        config, graphdef, mesh, num_classes=10, mean=images.mean((0, 1, 2)),
        std=images.std((0, 1, 2)), image_size=images.shape[1:3])
    self.metrics = steps.empty_metrics(mesh)
    sharding = NamedSharding(mesh, P("data"))
    self.images = jax.device_put(images, sharding)
    self.labels = jax.device_put(labels, sharding)
    self.keys = (keys["augment"], keys["dropout"])
    args = (self.state, self.metrics, self.images, self.labels) + self.keys
    start = time.perf_counter()
    lowered = step.lower(*args)
    lowered_at = time.perf_counter()
    self.compiled = lowered.compile()
    self.compile = {"lower_s": lowered_at - start,
                    "compile_s": time.perf_counter() - lowered_at}
    self.cost = _cost(self.compiled)

  def __call__(self) -> None:
    self.state, self.metrics = self.compiled(
        self.state, self.metrics, self.images, self.labels, *self.keys)
    jax.block_until_ready(self.metrics)


def measure(config_path: str, *, batch_size: int | None, rounds: int,
            min_sample_s: float, extra_modes: tuple[str, ...] = ()) -> dict:
  """Times the configured step against the same step without mixing.

  Args:
    config_path: a trainer config file (e.g. ``train/configs/default.py``).
    batch_size: overrides ``config.batch_size`` if given.
    rounds: interleaved rounds.
    min_sample_s: the shortest sample (a step is usually longer).
    extra_modes: more CutMix modes to time in the same rounds (``"elem"``).

  Returns:
    A JSON-able record: config, per-step samples, ratios, costs, compile times.
  """
  from train import train_state  # pylint: disable=g-import-not-at-top

  config = load_config(config_path)
  if batch_size:
    config.batch_size = batch_size
  config.num_train_steps = 10_000  # only the schedule's length; never run out
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (config.batch_size, 32, 32, 3)).astype(np.uint8)
  labels = rng.integers(0, 10, config.batch_size).astype(np.int32)
  keys = train_state.named_keys(config.seed)

  variants = {"no mixing": ("none", None),
              f"CutMix {config.cutmix.mode}": ("cutmix", config.cutmix.mode)}
  for mode in extra_modes:
    variants[f"CutMix {mode}"] = ("cutmix", mode)
  steppers = {}
  for name, (method, mode) in variants.items():
    variant = config.copy_and_resolve_references()
    variant.cutmix.method = method
    if mode:
      variant.cutmix.mode = mode
    steppers[name] = _Stepper(variant, mesh, images, labels, keys)

  samples = timing.interleave(steppers, rounds=rounds, min_sample_s=min_sample_s)
  base = samples["no mixing"]
  rows = []
  for name, stepper in steppers.items():
    s = samples[name]
    rows.append({
        "name": name, "samples": list(s.seconds), "inner": s.inner,
        "median_s": s.median, "ratios": list(timing.paired_ratios(s, base)),
        "ratio": timing.median_ratio(s, base),
        **stepper.cost, **stepper.compile,
    })
  base_cost = steppers["no mixing"].cost
  for row in rows:
    row["bytes_ratio"] = row["bytes_accessed"] / base_cost["bytes_accessed"]
    row["flops_ratio"] = row["flops"] / base_cost["flops"]
  return {
      "config": config_path, "model": f"{config.model.name}-{config.model.depth}"
      f" width {config.model.width}", "batch_size": config.batch_size,
      "cutmix": {"alpha": config.cutmix.alpha, "prob": config.cutmix.prob,
                 "mode": config.cutmix.mode},
      "devices": len(mesh.devices.ravel()), "rows": rows,
  }


def count_traces(batch_size: int = 8, side: int = 32, values: int = 10) -> dict:
  """Traces of a jitted step calling `cutmix_jax.cutmix` with ``values`` alpha/prob pairs.

  ``alpha`` and ``prob`` are passed as arguments of the jitted function
  (traced scalars, as a schedule would feed them), so a correct library
  traces once and reuses the executable for every value.
  """
  traces = 0

  def step(rng, images, labels, alpha, prob):
    nonlocal traces
    traces += 1
    return cutmix_jax.cutmix(rng, images, labels, alpha, prob=prob, num_classes=10)

  jitted = jax.jit(step)
  images = jnp.zeros((batch_size, side, side, 3), jnp.uint8)
  labels = jnp.arange(batch_size, dtype=jnp.int32) % 10
  alphas = np.linspace(0.2, 2.0, values)
  probs = np.linspace(0.0, 1.0, values)
  for i, (alpha, prob) in enumerate(zip(alphas, probs)):
    jax.block_until_ready(jitted(jax.random.key(i), images, labels,
                                 float(alpha), float(prob)))
  return {"values": values, "traces": traces,
          "alphas": alphas.tolist(), "probs": probs.tolist()}
