"""CutMix where it is used: the trainer's jitted train step, with and without it.

Uses the trainer in ``train/`` (`train.train_state.create_train_state` and
`train.steps.make_train_step`): the same configuration once as it is and
once with ``cutmix.method = "none"``, both stepped in the same process,
interleaved. Reported: the wall-time ratio (median of paired ratios), XLA's
``cost_analysis()`` bytes accessed and flops of both compiled steps, and
their compile times (repeated, rotated, as paired ratios). With a baseline
revision of the library (`benchmarks.baseline`), the same CutMix step built
on it runs in the same rounds (0.2 through ``return_params=True``, its way to
the parameters). Separately, the number of traces of a jitted function that
calls `cutmix_jax.cutmix` with ten different traced ``alpha``/``prob``
values (one means no recompilation).
"""

import contextlib
import functools
import importlib.util
import statistics
import time
import types

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing
import cutmix_jax


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
  return {
      "bytes_accessed": float(analysis.get("bytes accessed", float("nan"))),
      "flops": float(analysis.get("flops", float("nan"))),
  }


@contextlib.contextmanager
def _library_in(library):
  """Points the trainer's mixing at ``library`` while a step is built.

  The trainer calls the library when it builds and traces the step; the
  compiled executable holds no Python, so the swap can end after compiling.
  """
  from train import steps

  saved = steps.cutmix_jax
  steps.cutmix_jax = library
  try:
    yield
  finally:
    steps.cutmix_jax = saved


def _trainer_api(library):
  """``library`` as the trainer calls it. 0.2 returned its parameters with
  ``return_params=True`` where 0.3 has ``with_params(fn)``; everything else
  the trainer calls (the functions, their keywords, `per_shard`) it had."""
  if hasattr(library, "with_params"):
    return library
  adapted = types.ModuleType(library.__name__)
  adapted.__dict__.update(library.__dict__)
  adapted.with_params = lambda fn: functools.partial(fn, return_params=True)
  return adapted


class _Stepper:
  """One compiled train step with its own (donated, threaded) state.

  Built with ``library`` in place of `cutmix_jax` (a baseline revision, see
  `benchmarks.baseline`); `compile` builds, traces and compiles the step
  anew and appends its times to ``compile_times``.
  """

  def __init__(self, config, mesh, images, labels, keys, library):
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from train import steps
    from train import train_state

    self._config, self._mesh, self._library = config, mesh, library
    schedule = train_state.learning_rate_schedule(
        config, 1, config.num_train_steps
    )
    self._graphdef, self.state = train_state.create_train_state(
        config, keys["init"], mesh, schedule=schedule, num_classes=10
    )
    # Normalised by the batch's own statistics (the benchmark's data).
    self._stats = dict(mean=images.mean((0, 1, 2)), std=images.std((0, 1, 2)))
    self.metrics = steps.empty_metrics(mesh)
    sharding = NamedSharding(mesh, P("data"))
    self.images = jax.device_put(images, sharding)
    self.labels = jax.device_put(labels, sharding)
    self.keys = (keys["augment"], keys["dropout"])
    self.compile_times: list[dict[str, float]] = []
    self.compiled = self.compile(record=False)
    self.cost = _cost(self.compiled)

  def compile(self, record: bool = True):
    """A freshly built, traced and compiled step (nothing reused from before)."""
    from train import steps

    args = (self.state, self.metrics, self.images, self.labels) + self.keys
    with _library_in(self._library):
      cpu = time.process_time()
      start = time.perf_counter()
      step = steps.make_train_step(
          self._config,
          self._graphdef,
          self._mesh,
          num_classes=10,
          image_size=self.images.shape[1:3],
          **self._stats,
      )
      lowered = step.lower(*args)
      lowered_at = time.perf_counter()
      compiled = lowered.compile()
      done = time.perf_counter()
      cpu = time.process_time() - cpu
    if record:
      self.compile_times.append(
          {
              "lower_s": lowered_at - start,
              "compile_s": done - lowered_at,
              "total_s": done - start,
              "cpu_s": cpu,
          }
      )
    return compiled

  def __call__(self) -> None:
    self.state, self.metrics = self.compiled(
        self.state, self.metrics, self.images, self.labels, *self.keys
    )
    jax.block_until_ready(self.metrics)


def _compile_record(stepper: _Stepper, base: _Stepper) -> dict:
  """Median compile times and the paired ratios to ``base``'s compiles."""
  mine = stepper.compile_times
  ratios = [
      m["total_s"] / b["total_s"] for m, b in zip(mine, base.compile_times)
  ]
  return {
      "compile_times": mine,
      "lower_s": statistics.median(t["lower_s"] for t in mine),
      "compile_s": statistics.median(t["compile_s"] for t in mine),
      "compile_total_s": statistics.median(t["total_s"] for t in mine),
      "compile_cpu_s": statistics.median(t["cpu_s"] for t in mine),
      "compile_cpu_ratio": statistics.median(
          m["cpu_s"] / b["cpu_s"] for m, b in zip(mine, base.compile_times)
      ),
      "compile_ratios": ratios,
      "compile_ratio": statistics.median(ratios),
  }


def measure(
    config_path: str,
    *,
    batch_size: int | None,
    rounds: int,
    min_sample_s: float,
    extra_modes: tuple[str, ...] = (),
    baseline=None,
    compile_repeats: int = 3,
) -> dict:
  """Times the configured step against the same step without mixing.

  Every variant is compiled once untimed (JAX's and Flax's own caches warm
  up on the first), then ``compile_repeats`` more times in rotated order, and
  stepped in interleaved rounds.

  Args:
    config_path: a trainer config file (e.g. ``train/configs/default.py``).
    batch_size: overrides ``config.batch_size`` if given.
    rounds: interleaved rounds.
    min_sample_s: the shortest sample (a step is usually longer).
    extra_modes: more CutMix modes to time in the same rounds (``"elem"``).
    baseline: a `benchmarks.baseline.Baseline`: its library's CutMix step
      (the configured mode) runs in the same rounds, named ``CutMix batch
      [d9d76eb]``.
    compile_repeats: timed compiles of every variant.

  Returns:
    A JSON-able record: config, per-step samples, ratios, costs, compile
    times; ``rows[i]["compile_ratio"]`` is the median paired ratio of its
    compile time to the no-mixing step's.
  """
  from train import train_state

  config = load_config(config_path)
  if batch_size:
    config.batch_size = batch_size
  config.num_train_steps = 10_000  # only the schedule's length; never run out
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (config.batch_size, 32, 32, 3)).astype(np.uint8)
  labels = rng.integers(0, 10, config.batch_size).astype(np.int32)
  keys = train_state.named_keys(config.seed)

  configured = f"CutMix {config.cutmix.mode}"
  variants = {
      "no mixing": ("none", None, cutmix_jax),
      configured: ("cutmix", config.cutmix.mode, cutmix_jax),
  }
  if baseline is not None:
    variants[f"{configured} {baseline.label}"] = (
        "cutmix",
        config.cutmix.mode,
        _trainer_api(baseline.module),
    )
  for mode in extra_modes:
    variants[f"CutMix {mode}"] = ("cutmix", mode, cutmix_jax)
  steppers = {}
  for name, (method, mode, library) in variants.items():
    variant = config.copy_and_resolve_references()
    variant.cutmix.method = method
    if mode:
      variant.cutmix.mode = mode
    steppers[name] = _Stepper(variant, mesh, images, labels, keys, library)
  for order in timing.rotations(list(steppers), compile_repeats):
    for name in order:
      steppers[name].compile()

  # A step lasts seconds: one untimed call is warm-up enough.
  samples = timing.interleave(
      steppers, rounds=rounds, min_sample_s=min_sample_s, warmup=1
  )
  base = samples["no mixing"]
  rows = []
  for name, stepper in steppers.items():
    s = samples[name]
    rows.append(
        {
            "name": name,
            "samples": list(s.seconds),
            "inner": s.inner,
            "median_s": s.median,
            "ratios": list(timing.paired_ratios(s, base)),
            "ratio": timing.median_ratio(s, base),
            **stepper.cost,
            **_compile_record(stepper, steppers["no mixing"]),
        }
    )
  base_cost = steppers["no mixing"].cost
  for row in rows:
    row["bytes_ratio"] = row["bytes_accessed"] / base_cost["bytes_accessed"]
    row["flops_ratio"] = row["flops"] / base_cost["flops"]
  if baseline is not None:
    mine = steppers[configured].compile_times
    theirs = steppers[f"{configured} {baseline.label}"].compile_times
    ratios = [m["total_s"] / t["total_s"] for m, t in zip(mine, theirs)]
    row = next(r for r in rows if r["name"] == configured)
    row["compile_ratios_to_baseline"] = ratios
    row["compile_ratio_to_baseline"] = statistics.median(ratios)
    row["compile_cpu_ratio_to_baseline"] = statistics.median(
        m["cpu_s"] / t["cpu_s"] for m, t in zip(mine, theirs)
    )
  return {
      "config": config_path,
      "model": f"{config.model.name}-{config.model.depth}"
      f" width {config.model.width}",
      "batch_size": config.batch_size,
      "cutmix": {
          "alpha": config.cutmix.alpha,
          "prob": config.cutmix.prob,
          "mode": config.cutmix.mode,
      },
      "devices": len(mesh.devices.ravel()),
      "compile_repeats": compile_repeats,
      "baseline": baseline.describe() if baseline is not None else None,
      "rows": rows,
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
    return cutmix_jax.cutmix(
        rng, images, labels, alpha, prob=prob, num_classes=10
    )

  jitted = jax.jit(step)
  images = jnp.zeros((batch_size, side, side, 3), jnp.uint8)
  labels = jnp.arange(batch_size, dtype=jnp.int32) % 10
  alphas = np.linspace(0.2, 2.0, values)
  probs = np.linspace(0.0, 1.0, values)
  for i, (alpha, prob) in enumerate(zip(alphas, probs)):
    jax.block_until_ready(
        jitted(jax.random.key(i), images, labels, float(alpha), float(prob))
    )
  return {
      "values": values,
      "traces": traces,
      "alphas": alphas.tolist(),
      "probs": probs.tolist(),
  }
