"""CutMix over video axes (VideoMix) against the floor, on one NTHWC batch.

The three VideoMix variants are one `cutmix_jax.cutmix` call each, with the
cut axes chosen by ``axes``: S (a spatial box through every frame, the
image default), T (a run of whole frames) and ST (a spatio-temporal cuboid).
Each is timed interleaved with the floor on the same batch, as the image
speed table is, so the ratios cancel the machine's drift.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import timing
import cutmix_jax

# NTHWC: 8 clips of 16 frames of 112 x 112 RGB (the C3D / R(2+1)D input).
DEFAULT_SHAPE = (8, 16, 112, 112, 3)
VARIANTS = (
    ("S-VideoMix (axes=(2, 3))", (2, 3)),
    ("T-VideoMix (axes=(1,))", (1,)),
    ("ST-VideoMix (axes=(1, 2, 3))", (1, 2, 3)),
)


def _floor(rng, videos, labels):
  """Reads the batch twice (itself and its reverse) and writes it once."""
  del rng, labels
  return jnp.maximum(videos, jnp.flip(videos, 0))


def _runner(fn, videos, labels):
  fn = jax.jit(fn)
  keys = itertools.cycle(list(jax.random.split(jax.random.key(0), 16)))
  return lambda: jax.block_until_ready(fn(next(keys), videos, labels))


def measure(
    shape: tuple[int, ...] = DEFAULT_SHAPE,
    *,
    dtype: str = "float32",
    num_classes: int = 400,
    rounds: int = 11,
    min_sample_s: float = 0.02,
) -> list[dict]:
  """Times the floor and each VideoMix variant, interleaved.

  Args:
    shape: ``(N, T, H, W, C)``.
    dtype: the videos' dtype name.
    num_classes: the label count (Kinetics-400 by default).
    rounds: interleaved rounds.
    min_sample_s: each sample averages calls until it lasts this long.

  Returns:
    One dict per row: ``name``, ``axes`` (``None`` for the floor),
    ``samples`` (seconds per call, one per round), ``median_s`` and
    ``ratios`` (time over the floor's in the same round).
  """
  rng = np.random.default_rng(0)
  videos = jnp.asarray(rng.integers(0, 256, shape)).astype(dtype)
  labels = jnp.asarray(rng.integers(0, num_classes, shape[0]), jnp.int32)
  runners = {"floor": _runner(_floor, videos, labels)}
  for name, axes in VARIANTS:
    mix = functools.partial(
        cutmix_jax.cutmix, num_classes=num_classes, axes=axes
    )
    runners[name] = _runner(mix, videos, labels)
  samples = timing.interleave(runners, rounds=rounds, min_sample_s=min_sample_s)
  floor = samples["floor"]
  axes_of = dict(VARIANTS)
  return [
      {
          "name": name,
          "axes": axes_of.get(name),
          "samples": list(s.seconds),
          "median_s": s.median,
          "ratios": list(timing.paired_ratios(s, floor)),
      }
      for name, s in samples.items()
  ]


def table(rows: list[dict], shape: tuple[int, ...], dtype: str) -> str:
  """The rows as a markdown table: time per call and time / floor."""
  lines = [
      f"Batch `{'x'.join(map(str, shape))}` {dtype} (NTHWC).",
      "",
      "| variant | time per call | time / floor (IQR) |",
      "|---|---|---|",
  ]
  for row in rows:
    low, high = timing.spread(row["ratios"])
    median = timing.statistics.median(row["ratios"])
    lines.append(
        f"| {row['name']} | {row['median_s'] * 1e3:.2f} ms | "
        f"{median:.2f}x ({low:.2f}-{high:.2f}) |"
    )
  return "\n".join(lines)
