"""Interleaved round-robin timing, medians and paired ratios.

A noisy machine (two shared cores here) drifts by tens of percent over a
minute. Timing one contender after another turns that drift into a bogus
difference between them. Instead every round times each contender once, in a
rotated order, so neighbouring samples see the same machine; a contender's
cost is then the median over rounds of its time divided by the baseline's
time *in the same round* (a paired ratio), which cancels the slow drift.
"""

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import math
import statistics
import time


@dataclasses.dataclass(frozen=True)
class Samples:
  """Per-call seconds of one contender, one sample per round.

  Attributes:
    name: the contender's row name.
    seconds: one entry per round: the mean per-call time of ``inner`` calls.
    inner: how many calls each sample averages (chosen so a sample is long
      enough for the clock, see `calibrate`).
  """

  name: str
  seconds: tuple[float, ...]
  inner: int

  @property
  def median(self) -> float:
    return statistics.median(self.seconds)


def time_calls(run: Callable[[], object], calls: int) -> float:
  """Mean wall seconds of ``calls`` consecutive calls of ``run``.

  ``run`` must block until its work is done (``block_until_ready`` for JAX),
  so each call is a whole, finished computation.
  """
  start = time.perf_counter()
  for _ in range(calls):
    run()
  return (time.perf_counter() - start) / calls


def calibrate(
    run: Callable[[], object],
    min_sample_s: float,
    max_inner: int = 1000,
    warmup: int = 2,
) -> int:
  """How many calls a sample needs to last at least ``min_sample_s``.

  Runs ``run`` ``warmup`` times first (compilation, caches, allocator
  warm-up), then times one call and scales up.
  """
  for _ in range(warmup):
    run()
  once = time_calls(run, 1)
  return max(1, min(max_inner, math.ceil(min_sample_s / max(once, 1e-9))))


def interleave(
    runners: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    min_sample_s: float = 0.02,
    warmup: int = 2,
) -> dict[str, Samples]:
  """Times every runner once per round, rotating the order each round.

  Rotation puts every contender in every position equally often, so none of
  them always runs right after an expensive neighbour (cache and frequency
  effects).

  Args:
    runners: row name -> a zero-argument callable that does one blocking call.
    rounds: how many samples each runner gets.
    min_sample_s: each sample averages enough calls to last this long.
    warmup: untimed calls of each runner before its first timed one.

  Returns:
    Row name -> `Samples`, in the order of ``runners``.
  """
  names = list(runners)
  inner = {
      name: calibrate(runners[name], min_sample_s, warmup=warmup)
      for name in names
  }
  seconds: dict[str, list[float]] = {name: [] for name in names}
  for order in rotations(names, rounds):
    for name in order:
      seconds[name].append(time_calls(runners[name], inner[name]))
  return {
      name: Samples(name, tuple(seconds[name]), inner[name]) for name in names
  }


def rotations(names: Sequence[str], rounds: int):
  """``rounds`` orders of ``names``, each rotated by one from the last."""
  names = list(names)
  for r in range(rounds):
    shift = r % len(names)
    yield names[shift:] + names[:shift]


def paired_ratios(samples: Samples, baseline: Samples) -> tuple[float, ...]:
  """Round-by-round ratios ``samples / baseline`` (same rounds, same noise)."""
  return tuple(s / b for s, b in zip(samples.seconds, baseline.seconds))


def median_ratio(samples: Samples, baseline: Samples) -> float:
  """The median paired ratio: the cost relative to the baseline."""
  return statistics.median(paired_ratios(samples, baseline))


def spread(values: Sequence[float]) -> tuple[float, float]:
  """The 25th and 75th percentiles, a noise band robust to outliers."""
  if len(values) < 2:
    return values[0], values[0]
  q = statistics.quantiles(values, n=4, method="inclusive")
  return q[0], q[2]
