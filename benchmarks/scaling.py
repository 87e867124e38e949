"""How the cost grows: time against image side and batch size, as floor ratios.

A fixed cost (sampling the boxes, dispatch) shows as a ratio that falls
towards 1 as the batch grows; a cost per byte shows as a flat ratio above 1.
"""

import dataclasses

from benchmarks import speed
from benchmarks.contenders import Contender
from benchmarks.workload import Batch


@dataclasses.dataclass(frozen=True)
class Point:
  """One contender at one size: ``axis`` is ``"side"`` or ``"batch"``."""

  axis: str
  batch: Batch
  row: speed.Row


def sweep(
    contenders: list[Contender],
    batches: list[Batch],
    axis: str,
    *,
    rounds: int,
    min_sample_s: float,
) -> list[Point]:
  """Interleaved timing at each size; each size is its own interleaved group."""
  points = []
  for batch in batches:
    for row in speed.measure(
        contenders, batch, rounds=rounds, min_sample_s=min_sample_s
    ):
      points.append(Point(axis, batch, row))
  return points


def plot(points: list[Point], path) -> bool:
  """Ratio-to-floor curves, one panel per axis; ``False`` without matplotlib."""
  try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
  except ImportError:
    return False
  axes_names = [
      a for a in ("side", "batch") if any(p.axis == a for p in points)
  ]
  fig, axes = plt.subplots(
      1, len(axes_names), figsize=(6 * len(axes_names), 4.2), squeeze=False
  )
  for ax, axis in zip(axes[0], axes_names):
    mine = [p for p in points if p.axis == axis and p.row.ratio is not None]
    for name in dict.fromkeys(p.row.name for p in mine):
      xs = [getattr(p.batch, axis) for p in mine if p.row.name == name]
      ys = [p.row.ratio for p in mine if p.row.name == name]
      ax.plot(
          xs,
          ys,
          marker="o",
          label=name,
          linestyle="--" if name in ("floor", "copy") else "-",
      )
    fixed = mine[0].batch if mine else None
    other = (
        (
            f"batch {fixed.batch}"
            if axis == "side"
            else f"{fixed.side}x{fixed.side}"
        )
        if fixed
        else ""
    )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("image side (H = W)" if axis == "side" else "batch size")
    ax.set_ylabel("time / floor (median paired ratio)")
    ax.set_title(f"vs {axis} ({other}, {fixed.dtype if fixed else ''})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True
