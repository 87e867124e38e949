"""``python -m benchmarks``: every section, one process, tables on stdout.

Writes ``latest.json`` (environment, arguments, every sample), ``latest.md``
(the tables, for the README) and ``scaling.png`` to ``--out``.
"""

import os

# Keras picks its backend once, at first import: JAX, before anything loads it.
os.environ.setdefault("KERAS_BACKEND", "jax")

import argparse
from collections.abc import Sequence
import pathlib
import statistics
import sys
import time

from benchmarks import acceptance
from benchmarks import baseline as baseline_lib
from benchmarks import contenders as contenders_lib
from benchmarks import correctness
from benchmarks import environment
from benchmarks import report
from benchmarks import scaling
from benchmarks import speed
from benchmarks import timing
from benchmarks import video
from benchmarks.workload import Batch
from benchmarks.workload import DTYPES
import cutmix_jax

SECTIONS = (
    "speed",
    "compile",
    "correctness",
    "scaling",
    "train_step",
    "video",
)
MODES = ("batch", "elem", "pair")
# The compiled calls: (mode, alpha). A Python alpha of 1 draws lambda as a
# uniform; any other alpha compiles the Beta sampler too.
COMPILE_CALLS = (*((mode, 1.0) for mode in MODES), ("batch", 0.5))


def _sizes(text: str) -> list[tuple[int, int]]:
  """``"64x224,256x32"`` -> ``[(64, 224), (256, 32)]`` (batch x side)."""
  out = []
  for item in text.split(","):
    batch, side = item.lower().split("x")
    out.append((int(batch), int(side)))
  return out


def _ints(text: str) -> list[int]:
  return [int(v) for v in text.split(",") if v]


def _names(text: str, allowed: Sequence, what: str) -> list[str]:
  names = [v.strip() for v in text.split(",") if v.strip()]
  bad = [n for n in names if n not in allowed]
  if bad:
    raise argparse.ArgumentTypeError(
        f"unknown {what} {bad}; choose from {list(allowed)}"
    )
  return names


def parse_args(argv=None) -> argparse.Namespace:
  p = argparse.ArgumentParser(
      prog="python -m benchmarks",
      description="cutmix_jax against the floor and its peers, interleaved.",
  )
  p.add_argument(
      "--quick",
      action="store_true",
      help="tiny sizes and few rounds (about a minute; a smoke test)",
  )
  p.add_argument(
      "--sizes",
      default=None,
      help="speed-table batches as BxSIDE, comma separated "
      "(default 64x224,256x32; quick 16x32)",
  )
  p.add_argument(
      "--dtypes",
      default=",".join(DTYPES),
      help="comma separated, from " + ",".join(DTYPES),
  )
  p.add_argument(
      "--rounds",
      type=int,
      default=None,
      help="interleaved rounds per group (default 11; quick 2)",
  )
  p.add_argument(
      "--min-sample-ms",
      type=float,
      default=None,
      help="each sample averages calls until it lasts this long "
      "(default 20; quick 2)",
  )
  p.add_argument(
      "--only",
      default=None,
      help="contender groups, comma separated, from "
      + ",".join(contenders_lib.GROUPS)
      + " (the floor always runs)",
  )
  p.add_argument(
      "--sections",
      default=",".join(SECTIONS),
      help="comma separated, from " + ",".join(SECTIONS),
  )
  p.add_argument(
      "--scaling-sides",
      default=None,
      help="image sides for the scaling sweep (default 32,128,512)",
  )
  p.add_argument(
      "--scaling-batches",
      default=None,
      help="batch sizes for the scaling sweep (default 16,128,1024)",
  )
  p.add_argument(
      "--train-config",
      default=None,
      help="trainer config file (default train/configs/default.py; "
      "quick train/configs/digits.py)",
  )
  p.add_argument(
      "--train-batch",
      type=int,
      default=None,
      help="override the train config's batch size (quick 16)",
  )
  p.add_argument(
      "--baseline",
      default=None,
      metavar="REV",
      help="also measure the library as it was at this git revision "
      "(e.g. d9d76eb), side by side in the same process: rows "
      "'cutmix batch [d9d76eb]' in the speed, compile and train "
      "step sections (needs git and the repository's history)",
  )
  p.add_argument(
      "--compile-repeats",
      type=int,
      default=None,
      help="timed compiles per call and per train step, rotated "
      "(default 3; quick 1)",
  )
  p.add_argument(
      "--out",
      default=str(pathlib.Path(__file__).parent / "results"),
      help="results directory (latest.json, latest.md, scaling.png)",
  )
  args = p.parse_args(argv)
  quick = args.quick
  args.sizes = _sizes(args.sizes or ("16x32" if quick else "64x224,256x32"))
  args.dtypes = _names(args.dtypes, DTYPES, "dtype")
  args.rounds = args.rounds or (2 if quick else 11)
  args.compile_repeats = args.compile_repeats or (1 if quick else 3)
  if args.min_sample_ms is None:
    args.min_sample_ms = 2.0 if quick else 20.0
  args.min_sample_s = args.min_sample_ms / 1e3
  args.only = (
      set(_names(args.only, contenders_lib.GROUPS, "group"))
      if args.only
      else None
  )
  args.sections = _names(args.sections, SECTIONS, "section")
  args.scaling_sides = _ints(
      args.scaling_sides or ("16,32" if quick else "32,128,512")
  )
  args.scaling_batches = _ints(
      args.scaling_batches or ("8,16" if quick else "16,128,1024")
  )
  args.train_config = args.train_config or (
      "train/configs/digits.py" if quick else "train/configs/default.py"
  )
  if quick and args.train_batch is None:
    args.train_batch = 16
  return args


def _log(message: str) -> None:
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
      _log(f"speed {batch.label} {dtype}")
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
      _log(f"compile {batch.label} {mode} alpha {alpha}")
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
  _log(f"correctness {batch.label}")
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
    _log(f"scaling {batch.label}")
    points += scaling.sweep(
        subset, [batch], "side", rounds=rounds, min_sample_s=args.min_sample_s
    )
  for size in args.scaling_batches:
    batch = Batch(size, 32, num_classes=_classes(args, 16))
    _log(f"scaling {batch.label}")
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
  _log(f"train step {args.train_config}")
  try:
    record.update(
        train_step.measure(
            args.train_config,
            batch_size=args.train_batch,
            rounds=max(3, min(args.rounds, 7)) if not args.quick else 2,
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


def main(argv=None) -> int:
  args = parse_args(argv)
  out_dir = pathlib.Path(args.out)
  out_dir.mkdir(parents=True, exist_ok=True)
  started = time.perf_counter()
  baseline = None
  if args.baseline:
    try:
      baseline = baseline_lib.load(args.baseline)
    except baseline_lib.BaselineError as e:
      _log(f"error: {e}")
      return 2
    _log(f"baseline {baseline.label}: {baseline.subject}")
  env = environment.describe()
  chosen = contenders_lib.select(args.only, baseline)
  record = {
      "environment": env,
      "arguments": {
          k: v if not isinstance(v, set) else sorted(v)
          for k, v in vars(args).items()
      },
      "baseline": baseline.describe() if baseline else None,
  }
  sections = []
  speed_records, compile_records, train = [], [], None
  if "speed" in args.sections:
    speed_records, text = run_speed(args, chosen)
    record["speed"] = speed_records
    sections.append(
        "## Speed: time per call and time / floor\n\n"
        "The floor is a jitted `max(x, flip(x, 0))`: it reads the batch twice "
        "and writes it once, the least any CutMix can do. `copy` reads once, "
        "writes once. Ratios are the median over interleaved rounds of "
        "time / floor's time in the same round (interquartile band in "
        "parentheses); cutmix_jax and the JAX peers run under `jax.jit` on "
        "device-resident data with a fresh key per call; timm runs eagerly "
        "on CPU PyTorch, in place on an NCHW tensor.\n\n" + text
    )
  if "correctness" in args.sections:
    checks, text = run_correctness(args, chosen)
    record["correctness"] = checks
    sections.append("## Correctness next to speed\n\n" + text)
  if "scaling" in args.sections:
    points, text = run_scaling(args, chosen, out_dir)
    record["scaling"] = points
    sections.append("## How the cost grows\n\n" + text)
  if "train_step" in args.sections:
    train, text = run_train_step(args, baseline)
    record["train_step"] = train
    sections.append("## In the train step\n\n" + text)
  if "video" in args.sections:
    shape = (2, 4, 16, 16, 3) if args.quick else video.DEFAULT_SHAPE
    dtype = args.dtypes[0]
    _log(f"video {'x'.join(map(str, shape))} {dtype}")
    rows = video.measure(
        shape,
        dtype=dtype,
        rounds=args.rounds,
        min_sample_s=args.min_sample_s,
    )
    record["video"] = {"shape": shape, "dtype": dtype, "rows": rows}
    sections.append(
        "## Video: S-, T- and ST-VideoMix\n\n"
        "One `cutmix` call each, with the cut axes given by `axes`, "
        "interleaved with the floor on the same NTHWC batch.\n\n"
        + video.table(rows, shape, dtype)
    )
  if "compile" in args.sections:
    # Last: its cold compiles empty JAX's caches, which the sections above
    # share (the same programs at the same shapes).
    compile_records, text = run_compile(args, baseline)
    record["compile"] = compile_records
    at = 1 if "speed" in args.sections else 0
    sections.insert(at, "## Compile time of a `cutmix` call\n\n" + text)
  label = baseline.label if baseline else None
  target_rows, text = acceptance.table(compile_records, train, label)
  record["targets"] = target_rows
  if speed_records:
    names = [c.name for c in chosen if c.group in ("cutmix_jax", "baseline")]
    text += "\n\n### Each call against the floor\n\n" + acceptance.modes_table(
        speed_records, names
    )
  sections.insert(0, "## Acceptance\n\n" + text)
  record["elapsed_s"] = time.perf_counter() - started
  record["load_average"] = {
      "start": env["load_average"],
      "end": environment.load_average(),
  }
  against = (
      f" Baseline {baseline.label}: {baseline.subject}." if baseline else ""
  )
  markdown = (
      f"# cutmix_jax benchmarks\n\n_{environment.summary(env)}; "
      f"`python -m benchmarks {' '.join(argv if argv is not None else sys.argv[1:])}`"
      f", {record['elapsed_s']:.0f} s; "
      f"{environment.load_summary(**record['load_average'])}.{against}_\n\n"
      + "\n\n".join(sections)
      + "\n"
  )
  print(markdown)
  (out_dir / "latest.md").write_text(markdown)
  report.write_json(record, out_dir / "latest.json")
  _log(f"wrote {out_dir / 'latest.md'}, {out_dir / 'latest.json'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
