"""The study's report: paired statistics, the Markdown table and the picture.

Pure functions of the runs' results, so that they can be tested and rerun
without training: `paired_comparison` (gains over the baseline on the same
seeds, wins/ties/losses, a two-sided sign test and a paired t-test),
`markdown_report` and `plot_study`.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import math

# No backend is chosen here (as in train.plots): the study (main.py)
# chooses Agg, and a notebook keeps its inline backend.
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

# What each method is called in tables and legends.
METHOD_NAMES = {
    "none": "baseline (no mixing)",
    "cutmix": "CutMix",
    "mixup": "MixUp",
    "resizemix": "ResizeMix",
    "mixup_or_cutmix": "CutMix or MixUp",
}
_COLORS = {
    "none": "tab:gray",
    "cutmix": "tab:red",
    "mixup": "tab:blue",
    "resizemix": "tab:green",
    "mixup_or_cutmix": "tab:purple",
}

# {method: {seed: value}}
Results = Mapping[str, Mapping[int, float]]


@dataclasses.dataclass(frozen=True)
class Comparison:
  """A method against the baseline on the seeds both ran (in percentage points).

  Attributes:
    seeds: the paired seeds, ascending.
    gains: the method's accuracy minus the baseline's, per seed.
    wins: seeds where the method is ahead.
    ties: seeds where both are equal.
    losses: seeds where the baseline is ahead.
    sign_p: two-sided exact sign test on wins against losses (ties dropped);
      NaN when every seed ties.
    t_p: two-sided paired t-test of the gains; NaN with fewer than two seeds
      or gains all equal.
  """

  seeds: tuple[int, ...]
  gains: np.ndarray
  wins: int
  ties: int
  losses: int
  sign_p: float
  t_p: float


def paired_comparison(
    method: Mapping[int, float], baseline: Mapping[int, float]
) -> Comparison:
  """Pairs a method's accuracies with the baseline's by seed.

  Args:
    method: ``{seed: accuracy in %}``.
    baseline: ``{seed: accuracy in %}`` of the baseline.

  Returns:
    A `Comparison` over the seeds present in both.

  Raises:
    ValueError: no seed is present in both.
  """
  seeds = tuple(sorted(set(method) & set(baseline)))
  if not seeds:
    raise ValueError(
        "paired_comparison: expected seeds that both methods ran, got "
        f"{sorted(method)} and {sorted(baseline)}."
    )
  # Accuracies are multiples of 100/N; round away float noise before comparing.
  gains = np.round(np.array([method[s] - baseline[s] for s in seeds]), 9)
  wins, losses = int(np.sum(gains > 0)), int(np.sum(gains < 0))
  ties = len(seeds) - wins - losses
  sign_p = (
      stats.binomtest(wins, wins + losses, 0.5).pvalue
      if wins + losses
      else math.nan
  )
  t_p = math.nan
  if len(seeds) > 1 and np.ptp(gains) > 0:
    t_p = float(
        stats.ttest_rel(
            [method[s] for s in seeds], [baseline[s] for s in seeds]
        ).pvalue
    )
  return Comparison(seeds, gains, wins, ties, losses, float(sign_p), t_p)


def mean_std(values: Sequence[float]) -> str:
  """``"93.56 +- 0.85"``: the mean and the sample standard deviation (n - 1)."""
  values = np.asarray(values, np.float64)
  std = values.std(ddof=1) if len(values) > 1 else math.nan
  return f"{round(values.mean(), 2) + 0.0:.2f} +- {std:.2f}"  # No "-0.00".


def _p(value: float) -> str:
  return "n/a" if math.isnan(value) else f"{value:.3g}"


def method_name(method: str) -> str:
  return METHOD_NAMES.get(method, method)


def markdown_report(
    accuracies: Results,
    *,
    baseline: str = "none",
    header: Sequence[str] = (),
    footer: Sequence[str] = (),
) -> str:
  """The study as Markdown: a summary table, then every seed's accuracy.

  Args:
    accuracies: ``{method: {seed: final test accuracy in %}}``.
    baseline: the method the others are paired with.
    header: lines before the tables (command, machine, data).
    footer: lines after them.

  Returns:
    The Markdown text.
  """
  lines = list(header)
  if header:
    lines.append("")
  lines.append(
      "| method | test accuracy (%), mean +- std | paired gain over the "
      "baseline (pp), mean +- std | wins / ties / losses | sign test p | "
      "paired t-test p |"
  )
  lines.append("|---|---|---|---|---|---|")
  for method, by_seed in accuracies.items():
    row = [method_name(method), mean_std(list(by_seed.values()))]
    if method == baseline or baseline not in accuracies:
      row += ["-", "-", "-", "-"]
    else:
      c = paired_comparison(by_seed, accuracies[baseline])
      row += [
          ("+" if round(c.gains.mean(), 2) >= 0 else "") + mean_std(c.gains),
          f"{c.wins} / {c.ties} / {c.losses} of {len(c.seeds)}",
          _p(c.sign_p),
          _p(c.t_p),
      ]
    lines.append("| " + " | ".join(row) + " |")
  seeds = sorted(set().union(*(set(v) for v in accuracies.values())))
  lines += [
      "",
      "Final test accuracy (%) of every run:",
      "",
      "| seed | " + " | ".join(method_name(m) for m in accuracies) + " |",
      "|---" * (len(accuracies) + 1) + "|",
  ]
  for seed in seeds:
    cells = [
        f"{accuracies[m][seed]:.2f}" if seed in accuracies[m] else "-"
        for m in accuracies
    ]
    lines.append(f"| {seed} | " + " | ".join(cells) + " |")
  if footer:
    lines += [""] + list(footer)
  return "\n".join(lines) + "\n"


def cam_table(
    agreements: Results, reference: float, *, baseline: str = "none"
) -> list[str]:
  """Markdown lines: each method's CAM region agreement, paired with the baseline's.

  Args:
    agreements: ``{method: {seed: region agreement in %}}`` (`train.cam`).
    reference: the agreement of maps showing the larger class everywhere.
    baseline: the method the others are paired with.

  Returns:
    The lines of a paragraph and a table.
  """
  intro = (
      "Class activation maps on CutMix-mixed test images (one draw, alpha 1, a "
      "box per image; the pairs of two different classes): the share of pixels "
      "where the larger of the two classes' maps is the class whose pixels are "
      "there (`experiments/low_data/cam.py`, `region_agreement`; maps showing the larger class "
      f"everywhere score {reference:.1f}%), mean +- std over seeds:"
  )
  columns = (
      "| method | CAM region agreement (%) | higher / equal / lower than the "
      "baseline's |"
  )
  lines = [intro, "", columns, "|---|---|---|"]
  for method, by_seed in agreements.items():
    paired = "-"
    if method != baseline and baseline in agreements:
      c = paired_comparison(by_seed, agreements[baseline])
      paired = f"{c.wins} / {c.ties} / {c.losses} of {len(c.seeds)} seeds"
    lines.append(
        f"| {method_name(method)} | {mean_std(list(by_seed.values()))} | "
        f"{paired} |"
    )
  return lines


def _curve_band(curves: Mapping[int, Sequence[tuple[float, float]]]):
  """Epochs common to every seed, and the accuracies ``[seeds, epochs]`` there."""
  per_seed = [dict(c) for c in curves.values()]
  epochs = sorted(set.intersection(*(set(c) for c in per_seed)))
  return np.array(epochs), np.array([[c[e] for e in epochs] for c in per_seed])


def plot_study(
    path: str | None,
    accuracies: Results,
    curves: Mapping[str, Mapping[int, Sequence[tuple[float, float]]]],
    *,
    baseline: str = "none",
    title: str = "",
):
  """The study's picture.

  Top left: every seed's final accuracy, a line joining each seed's runs
  across methods. Top right: each method's gain over the baseline, seed by
  seed. Bottom: test accuracy against epochs, the mean over seeds and a band
  of one standard deviation, over the whole run and over its second half.

  Args:
    path: where to write the PNG (``None``: do not write).
    accuracies: ``{method: {seed: final test accuracy in %}}``.
    curves: ``{method: {seed: [(epoch, test accuracy in %), ...]}}``.
    baseline: the method the gains are measured against.
    title: a figure title.

  Returns:
    The matplotlib figure.
  """
  methods = list(accuracies)
  fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
  ax = axes[0, 0]
  seeds = sorted(set().union(*(set(v) for v in accuracies.values())))
  for seed in seeds:
    xs = [i for i, m in enumerate(methods) if seed in accuracies[m]]
    ax.plot(
        xs,
        [accuracies[methods[i]][seed] for i in xs],
        "-",
        color="0.75",
        linewidth=0.9,
        zorder=1,
    )
  for i, m in enumerate(methods):
    values = list(accuracies[m].values())
    ax.scatter([i] * len(values), values, color=_COLORS.get(m), s=22, zorder=2)
    ax.plot(
        [i - 0.2, i + 0.2],
        [np.mean(values)] * 2,
        color="black",
        linewidth=2,
        zorder=3,
    )
  ax.set_xticks(range(len(methods)), [method_name(m) for m in methods])
  ax.set(
      ylabel="final test accuracy (%)",
      title="every seed (grey lines join the runs of one seed; black: mean)",
  )

  ax = axes[0, 1]
  others = [m for m in methods if m != baseline]
  if baseline in accuracies and others:
    width = 0.8 / len(others)
    for k, m in enumerate(others):
      c = paired_comparison(accuracies[m], accuracies[baseline])
      ax.bar(
          np.arange(len(c.seeds)) + (k - (len(others) - 1) / 2) * width,
          c.gains,
          width,
          color=_COLORS.get(m),
          label=f"{method_name(m)}: wins / ties / losses {c.wins} / {c.ties} / "
          f"{c.losses}",
      )
      seeds_axis = c.seeds
    ax.set_xticks(range(len(seeds_axis)), [str(s) for s in seeds_axis])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.legend(fontsize=8)
  ax.set(
      xlabel="seed",
      ylabel="accuracy minus the baseline's (pp)",
      title="paired gain over the baseline, seed by seed",
  )

  for ax, half in ((axes[1, 0], False), (axes[1, 1], True)):
    for m in methods:
      if not curves.get(m):
        continue
      epochs, acc = _curve_band(curves[m])
      keep = epochs >= epochs.max() / 2 if half else np.ones_like(epochs, bool)
      mean = acc.mean(0)
      std = acc.std(0, ddof=1) if len(acc) > 1 else np.zeros_like(mean)
      ax.plot(
          epochs[keep],
          mean[keep],
          color=_COLORS.get(m),
          linewidth=1.2,
          marker="o" if keep.sum() < 20 else None,
          markersize=3,
          label=f"{method_name(m)} ({len(acc)} seeds)",
      )
      ax.fill_between(
          epochs[keep],
          (mean - std)[keep],
          (mean + std)[keep],
          color=_COLORS.get(m),
          alpha=0.2,
          linewidth=0,
      )
    ax.set(
        xlabel="epoch",
        ylabel="test accuracy (%)",
        title=(
            "second half of training"
            if half
            else "test accuracy: mean over seeds, band +- 1 std"
        ),
    )
    ax.legend(fontsize=8, loc="lower right")
  for ax in axes.flat:
    ax.grid(alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=110)
  return fig
