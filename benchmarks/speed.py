"""Every contender on one batch, interleaved, as a multiple of the floor.

The floor is the cheapest program that does what any CutMix must do: read the
batch twice (each image and its partner) and write it once. A CutMix that
costs 1.00x the floor costs nothing beyond moving the bytes.
"""

import dataclasses
import gc
import time

import jax
import jax.numpy as jnp

from benchmarks import timing
from benchmarks.contenders import Contender
from benchmarks.contenders import FLOOR
from benchmarks.workload import Batch
import cutmix_jax


@dataclasses.dataclass(frozen=True)
class Row:
  """One contender's result on one batch.

  Attributes:
    name: the contender.
    group: its ``--only`` group.
    status: ``"ok"`` or why it did not run (``"not installed"``, ...).
    samples: per-call seconds, one per round (empty if it did not run).
    inner: calls averaged per sample.
    ratios: per-round time over the floor's time in the same round.
  """

  name: str
  group: str
  status: str
  samples: tuple[float, ...] = ()
  inner: int = 0
  ratios: tuple[float, ...] = ()

  @property
  def median_s(self) -> float | None:
    return (
        timing.Samples(self.name, self.samples, self.inner).median
        if self.samples
        else None
    )

  @property
  def ratio(self) -> float | None:
    return timing.statistics.median(self.ratios) if self.ratios else None


def measure(
    contenders: list[Contender],
    batch: Batch,
    *,
    rounds: int,
    min_sample_s: float,
) -> list[Row]:
  """Times every runnable contender on ``batch``, interleaved with the floor."""
  runners, skipped = {}, {}
  for c in contenders:
    reason = c.missing or c.supports(batch)
    if reason:
      skipped[c.name] = reason
      continue
    try:
      runners[c.name] = c.runner(batch)
    except Exception as e:
      skipped[c.name] = f"failed: {type(e).__name__}: {e}"[:120]
  samples = timing.interleave(runners, rounds=rounds, min_sample_s=min_sample_s)
  floor = samples[FLOOR]
  rows = []
  for c in contenders:
    if c.name in skipped:
      rows.append(Row(c.name, c.group, skipped[c.name]))
      continue
    s = samples[c.name]
    rows.append(
        Row(
            c.name,
            c.group,
            "ok",
            s.seconds,
            s.inner,
            timing.paired_ratios(s, floor),
        )
    )
  del runners
  gc.collect()  # drop the device buffers before the next, larger batch
  return rows


def compile_seconds(
    batch: Batch,
    mode: str,
    library=cutmix_jax,
    *,
    alpha: float = 1.0,
    cold: bool = False,
) -> dict[str, float]:
  """Trace-and-lower and compile times of one ``library.cutmix`` call.

  Measured on a fresh function object, so the outer jit is traced, lowered
  and compiled anew (JAX caches per function and shapes). JAX also caches
  what it traced and compiled inside (`jax.random`'s jitted helpers, say):
  ``cold=True`` empties those caches first (`jax.clear_caches`), which is
  what the first call in a process pays, imports aside; without it the
  call is compiled in a process that has compiled the library before, as
  when a training program recompiles its step.

  ``cpu_s`` is the process's CPU time over the same span (all threads): on
  a shared machine the wall time stretches with the load, the CPU time much
  less.

  Args:
    batch: the input's description (shape, dtype, classes).
    mode: ``"batch"``, ``"elem"`` or ``"pair"``.
    library: `cutmix_jax`, or a previous revision of it (`benchmarks.baseline`).
    alpha: a Python float; 1.0 draws lambda as a uniform, others from Beta.
    cold: empty JAX's in-memory caches first.
  """

  def fresh(rng, images, labels):
    return library.cutmix(
        rng, images, labels, alpha, num_classes=batch.num_classes, mode=mode
    )

  images = jax.ShapeDtypeStruct(batch.shape, jnp.dtype(batch.dtype))
  labels = jax.ShapeDtypeStruct((batch.batch,), jnp.int32)
  key = jax.random.key(0)
  if cold:
    jax.clear_caches()
  cpu = time.process_time()
  start = time.perf_counter()
  lowered = jax.jit(fresh).lower(key, images, labels)
  traced = time.perf_counter()
  lowered.compile()
  done = time.perf_counter()
  return {
      "lower_s": traced - start,
      "compile_s": done - traced,
      "total_s": done - start,
      "cpu_s": time.process_time() - cpu,
  }
