"""The sections of ``python -m benchmarks``: each measures, then renders its table.

Every ``run_*`` takes the parsed arguments and returns ``(records, markdown)``:
the records go to ``latest.json``, the markdown to ``latest.md`` and stdout.
"""

import pathlib
import statistics
import sys

from benchmarks import correctness
from benchmarks import report
from benchmarks import scaling
from benchmarks import speed
from benchmarks import timing
from benchmarks import video
from benchmarks.workload import Batch
import cutmix_jax

MODES = ("batch", "elem", "pair")
# The compiled calls: (mode, alpha). A Python alpha of 1 draws lambda as a
# uniform; any other alpha compiles the Beta sampler too.
COMPILE_CALLS = (*((mode, 1.0) for mode in MODES), ("batch", 0.5))


def log(message: str) -> None:
  print(message, file=sys.stderr, flush=True)


def _classes(args, batch_size: int) -> int:
  """10 classes; in quick mode as many as the batch, the correctness check's
  count, so that both sections share compiled programs."""
  return batch_size if args.quick else 10


def _correctness_batch(args) -> Batch:
  if args.quick:
    batch_size, side = args.sizes[0]
    return Batch(batch_size, side, num_classes=batch_size)
  return Batch(16, 32, num_classes=16)


def run_speed(args, chosen) -> tuple[list[dict], str]:
  """The speed tables: every size and dtype, each an interleaved group."""
  records, parts = [], []
  for batch_size, side in args.sizes:
    by_dtype = {}
    for dtype in args.dtypes:
      batch = Batch(
          batch_size, side, dtype=dtype, num_classes=_classes(args, batch_size)
      )
      log(f"speed {batch.label} {dtype}")
      rows = speed.measure(
          chosen, batch, rounds=args.rounds, min_sample_s=args.min_sample_s
      )
      by_dtype[dtype] = rows
      records.append({"batch": batch, "rows": rows})
    title = report.batch_title(Batch(batch_size, side))
    parts.append(f"### {title}\n\n" + report.speed_table(by_dtype, args.dtypes))
  return records, "\n\n".join(parts)


def run_compile(args, baseline) -> tuple[list[dict], str]:
  """Compile times of fresh ``cutmix`` calls, cold and warm, libraries rotated.

  ``--quick`` measures only cold compiles (the ones the acceptance judges).
  """
  libraries = {"current": cutmix_jax}
  if baseline is not None:
    libraries[baseline.label] = baseline.module
  kinds = ("cold",) if args.quick else ("cold", "warm")
  records = []
  for batch_size, side in args.sizes:
    for mode, alpha in COMPILE_CALLS:
      batch = Batch(batch_size, side, dtype=args.dtypes[0])
      log(f"compile {batch.label} {mode} alpha {alpha}")
      times = {(name, kind): [] for name in libraries for kind in kinds}
      for order in timing.rotations(list(libraries), args.compile_repeats):
        for name in order:
          for kind in kinds:
            times[name, kind].append(
                speed.compile_seconds(
                    batch,
                    mode,
                    libraries[name],
                    alpha=alpha,
                    cold=kind == "cold",
                )
            )
      for name in libraries:
        record = {
            "mode": mode,
            "alpha": alpha,
            "shape": batch.label,
            "dtype": batch.dtype,
            "library": name,
            "warm": None,
        }
        for kind in kinds:
          samples = times[name, kind]
          record[kind] = {
              "samples": samples,
              **{
                  k: statistics.median(t[k] for t in samples)
                  for k in ("lower_s", "compile_s", "total_s", "cpu_s")
              },
          }
        records.append(record)
  body = []
  for r in records:
    cold, warm = r["cold"], r["warm"]
    body.append(
        [
            f"cutmix {r['mode']}, alpha {r['alpha']:g}"
            + ("" if r["library"] == "current" else f" {r['library']}"),
            f"{r['shape']} {r['dtype']}",
            f"{cold['lower_s']:.3f}",
            f"{cold['compile_s']:.3f}",
            f"{cold['total_s']:.3f}",
            f"{cold['cpu_s']:.3f}",
            f"{warm['total_s']:.3f}" if warm else "—",
            f"{warm['cpu_s']:.3f}" if warm else "—",
        ]
    )
  text = report.table(
      [
          "call",
          "input",
          "cold: trace + lower s",
          "compile s",
          "total s",
          "CPU s",
          "warm: total s",
          "CPU s",
      ],
      body,
  )
  return records, text + (
      f"\n\nMedian of {args.compile_repeats} compiles of a fresh jitted "
      "function per call, libraries rotated. Cold: after `jax.clear_caches()`, "
      "what the first call in a process pays (imports aside); warm: right "
      "after, with JAX's caches of the library's inner functions filled, as "
      "when a program recompiles its step. CPU s is the process's CPU time "
      "over the same span (less stretched by a loaded machine)."
  )


def run_correctness(args, chosen) -> tuple[list, str]:
  batch = _correctness_batch(args)
  log(f"correctness {batch.label}")
  seeds = range(2 if args.quick else 8)
  checks = correctness.check_all(chosen, batch, args.dtypes, seeds)
  text = (
      f"On a {batch.label} batch, image i filled with the value i + 1 and "
      f"labelled class i, {len(seeds)} draws each (worst case shown). "
      '"foreign pixels": output values that name no input image.\n\n'
      + report.correctness_table(checks, args.dtypes)
  )
  return checks, text


def run_scaling(args, chosen, out_dir) -> tuple[list, str]:
  wanted = {
      "floor",
      "copy",
      "cutmix batch",
      "cutmix elem",
      "research JAX (1 box, float mask)",
      "keras.layers.CutMix (jax, jit)",
      "timm Mixup batch (torch cpu)",
  }
  subset = [c for c in chosen if c.name in wanted]
  rounds = max(2, min(args.rounds, 4))
  points = []
  for side in args.scaling_sides:
    batch = Batch(
        16 if args.quick else 32, side, num_classes=_classes(args, 16)
    )
    log(f"scaling {batch.label}")
    points += scaling.sweep(
        subset, [batch], "side", rounds=rounds, min_sample_s=args.min_sample_s
    )
  for size in args.scaling_batches:
    batch = Batch(size, 32, num_classes=_classes(args, 16))
    log(f"scaling {batch.label}")
    points += scaling.sweep(
        subset, [batch], "batch", rounds=rounds, min_sample_s=args.min_sample_s
    )
  plotted = scaling.plot(points, out_dir / "scaling.png")
  parts = []
  for axis in ("side", "batch"):
    mine = [p for p in points if p.axis == axis]
    columns = list(dict.fromkeys(p.batch.label for p in mine))
    names = list(dict.fromkeys(p.row.name for p in mine))
    body = []
    for name in names:
      line = [name]
      for col in columns:
        p = next(p for p in mine if p.row.name == name and p.batch.label == col)
        line.append(
            report.ratio(p.row.ratio) if p.row.status == "ok" else p.row.status
        )
      body.append(line)
    parts.append(report.table(["time / floor"] + columns, body))
  caption = "float32, ratio = median paired time / floor" + (
      "; plotted in `scaling.png`."
      if plotted
      else "; (matplotlib missing: no plot)."
  )
  return points, caption + "\n\n" + "\n\n".join(parts)


def run_train_step(args, baseline) -> tuple[dict, str]:
  from benchmarks import train_step

  record = {"traces": train_step.count_traces()}
  lines = [
      f"Traces of a jitted function calling `cutmix` with "
      f"{record['traces']['values']} different traced alpha/prob values: "
      f"**{record['traces']['traces']}**."
  ]
  if not pathlib.Path(args.train_config).exists():
    record["status"] = (
        f"{args.train_config} not found (the trainer is not here)"
    )
    return record, "\n\n".join(lines + [record["status"]])
  log(f"train step {args.train_config}")
  try:
    record.update(
        train_step.measure(
            args.train_config,
            batch_size=args.train_batch,
            rounds=args.train_rounds,
            min_sample_s=args.min_sample_s,
            extra_modes=(),
            baseline=baseline,
            compile_repeats=args.compile_repeats,
        )
    )
  except ImportError as e:
    record["status"] = f"trainer not importable: {e}"
    return record, "\n\n".join(lines + [record["status"]])
  body = []
  for row in record["rows"]:
    lo, hi = timing.spread(row["ratios"])
    body.append(
        [
            row["name"],
            report.ms(row["median_s"]),
            f"{row['ratio']:.3f}x ({lo:.3f}–{hi:.3f})",
            f"{row['bytes_accessed'] / 1e6:.2f} MB",
            f"{(row['bytes_ratio'] - 1) * 100:+.3f}%",
            f"{row['flops'] / 1e9:.3f} G",
            f"{(row['flops_ratio'] - 1) * 100:+.3f}%",
            f"{row['compile_total_s']:.1f}",
            f"{row['compile_cpu_s']:.1f}",
            f"{row['compile_ratio']:.3f}x",
        ]
    )
  lines.insert(
      0,
      f"`{record['config']}`: {record['model']}, batch {record['batch_size']} "
      f"uint8 32x32, CutMix alpha {record['cutmix']['alpha']} prob "
      f"{record['cutmix']['prob']}; {record['devices']} device(s).\n\n"
      + report.table(
          [
              "step",
              "ms / step",
              "time / no mixing (IQR)",
              "bytes accessed",
              "vs none",
              "flops",
              "vs none",
              "compile s",
              "CPU s",
              "compile / none",
          ],
          body,
      )
      + f"\n\nCompile: trace, lower and XLA compile of a freshly built "
      f"step, median of {record['compile_repeats']} rotated compiles "
      f"after an untimed one; ratios paired by repeat.",
  )
  return record, "\n\n".join(lines)


def run_video(args) -> tuple[list[dict], str]:
  """S-, T- and ST-VideoMix against the floor, one interleaved group per dtype."""
  shape = (2, 4, 16, 16, 3) if args.quick else video.DEFAULT_SHAPE
  records, tables = [], []
  for dtype in args.dtypes:
    log(f"video {'x'.join(map(str, shape))} {dtype}")
    rows = video.measure(
        shape,
        dtype=dtype,
        rounds=args.rounds,
        min_sample_s=args.min_sample_s,
    )
    records.append({"shape": shape, "dtype": dtype, "rows": rows})
    tables.append(video.table(rows, shape, dtype))
  return records, "\n\n".join(tables)
