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
import sys
import time

from benchmarks import acceptance
from benchmarks import baseline as baseline_lib
from benchmarks import contenders as contenders_lib
from benchmarks import environment
from benchmarks import report
from benchmarks import sections as sections_lib
from benchmarks.workload import DTYPES

SECTIONS = (
    "speed",
    "compile",
    "correctness",
    "scaling",
    "train_step",
    "video",
)


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
      help="trainer config file (default train/configs/default.py)",
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
      "--train-rounds",
      type=int,
      default=None,
      help="interleaved rounds of the train-step section, each a few "
      "seconds a variant on a CPU (default min(--rounds, 7), at least 3; "
      "quick 2)",
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
  args.train_rounds = args.train_rounds or (
      2 if quick else max(3, min(args.rounds, 7))
  )
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
  args.train_config = args.train_config or ("train/configs/default.py")
  if quick and args.train_batch is None:
    args.train_batch = 16
  return args


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
      sections_lib.log(f"error: {e}")
      return 2
    sections_lib.log(f"baseline {baseline.label}: {baseline.subject}")
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
    speed_records, text = sections_lib.run_speed(args, chosen)
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
    checks, text = sections_lib.run_correctness(args, chosen)
    record["correctness"] = checks
    sections.append("## Correctness next to speed\n\n" + text)
  if "scaling" in args.sections:
    points, text = sections_lib.run_scaling(args, chosen, out_dir)
    record["scaling"] = points
    sections.append("## How the cost grows\n\n" + text)
  if "train_step" in args.sections:
    train, text = sections_lib.run_train_step(args, baseline)
    record["train_step"] = train
    sections.append("## In the train step\n\n" + text)
  if "video" in args.sections:
    record["video"], text = sections_lib.run_video(args)
    sections.append(
        "## Video: S-, T- and ST-VideoMix\n\n"
        "One `cutmix` call each, with the cut axes given by `axes`, "
        "interleaved with the floor on the same NTHWC batch.\n\n" + text
    )
  if "compile" in args.sections:
    # Last: its cold compiles empty JAX's caches, which the sections above
    # share (the same programs at the same shapes).
    compile_records, text = sections_lib.run_compile(args, baseline)
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
  sections_lib.log(f"wrote {out_dir / 'latest.md'}, {out_dir / 'latest.json'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
