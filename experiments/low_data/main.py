"""Does mixing help? The trainer over methods and seeds, then paired statistics.

``.venv/bin/python -m experiments.low_data.main
--methods=none,cutmix,mixup,resizemix --seeds=0-19 --workdir=DIR``
(``make study``; the config defaults to experiments/low_data/config.py)
runs `train.train.train_and_evaluate` once for every (seed, method), one run
at a time, seed by seed, each in
``DIR/runs/<method>-seed<seed>/`` with ``config.seed`` set to the seed,
``config.cutmix.method`` to the method and ``config.cutmix.alpha`` to the
method's ``config.alphas``; everything else, the training subset
(`experiments.low_data.data`) included, is the config's, so the runs of one
seed differ only in the mixing (same initialisation, same batches). Any
config field can be overridden as with ``train.main``
(``--config.num_epochs=100``).

It is resumable: a finished run (its ``result.json`` exists) is not redone,
an interrupted one resumes from its latest checkpoint, and a run directory
made with another configuration stops the study with the fields that differ.
A bad argument stops it at start-up with one ``ERROR:`` line (status 2).
A run's own output goes to its ``train.log``; the terminal shows one bar over
the runs. At the end it writes

* ``DIR/study.md``: accuracies, paired gains, wins/ties/losses, a sign test
  and a paired t-test (`train.study_report`), the command, machine and date;
* ``DIR/study.png``: every seed's accuracies and the test curves;
* ``DIR/cam.png``: class activation maps of the first seed's baseline and
  CutMix models (`experiments.low_data.cam`), when both methods are in the study, and in
  ``study.md`` the CAMs' region agreement on mixed images for every run.
"""

from collections.abc import Sequence
import os
import re
import sys
import time

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags
import numpy as np

from experiments.low_data import data as low_data
from experiments.low_data import runs
from experiments.low_data import study_header
from train import startup


def define_flags() -> None:
  """The command line's flags; only ``python -m`` of this module defines them.

  (Defined at import, they would clash with `train.main`'s ``--config`` and
  ``--workdir`` in any process that imports both, a test session for one.)
  """
  flags.DEFINE_string("workdir", None, "The study's directory (runs, report).")
  flags.DEFINE_string(
      "methods",
      "none,cutmix,mixup,resizemix",
      "Comma-separated cutmix.method values; 'none' is the baseline "
      "the others are paired with.",
  )
  flags.DEFINE_string("seeds", "0-19", "Seeds: '0-19', '0,3,5' or '0-4,9'.")
  flags.DEFINE_bool(
      "cam", True, "Draw cam.png and measure the CAMs' agreement."
  )
  config_flags.DEFINE_config_file(
      "config",
      "experiments/low_data/config.py",
      "The study's config file, then --config.FIELD=VALUE overrides.",
      lock_config=True,
  )
  flags.mark_flags_as_required(["workdir"])


StudyError = startup.StartupError  # A bad argument: one line, status 2.


def parse_seeds(text: str) -> list[int]:
  """``"0-4,9"`` -> ``[0, 1, 2, 3, 4, 9]``.

  Raises:
    StudyError: naming ``--seeds`` for anything else, or a repeated seed.
  """
  parts = [part.strip() for part in text.split(",")]
  seeds = []
  for part in parts:
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
    if match is None:
      seeds = []
      break
    first, last = int(match.group(1)), int(match.group(2) or match.group(1))
    if last < first:
      seeds = []
      break
    seeds += range(first, last + 1)
  if not seeds or len(set(seeds)) != len(seeds):
    raise StudyError(
        f"--seeds: expected distinct non-negative seeds such as '0-9', "
        f"'0,3,5' or '0-4,9', got {text!r}."
    )
  return seeds


def parse_methods(text: str) -> list[str]:
  """``"none,cutmix"`` -> ``["none", "cutmix"]``, the baseline first if present.

  Raises:
    StudyError: naming ``--methods`` for an empty list or a repeated method.
  """
  methods = [m.strip() for m in text.split(",") if m.strip()]
  if not methods or len(set(methods)) != len(methods):
    raise StudyError(
        f"--methods: expected distinct cutmix.method values such as "
        f"'none,cutmix,mixup', got {text!r}."
    )
  return sorted(methods, key=lambda m: m != "none")


def cam_agreements(
    base: ml_collections.ConfigDict,
    data,
    workdir: str,
    methods: Sequence[str],
    seeds: Sequence[int],
    cam_path: str | None,
) -> tuple[dict[str, dict[int, float]], float]:
  """Every run's CAM region agreement on CutMix-mixed test images, in %.

  Also draws ``cam_path`` from the first seed's baseline and CutMix models.

  Returns:
    ``({method: {seed: agreement}}, reference)``: the reference is the
    agreement of maps that show the larger of the two classes everywhere.
  """
  import jax

  from experiments.low_data import cam
  from train import plots

  rng = jax.random.key(2019)  # One draw of mixes, the same for every model.
  mixed, params = cam.mix_for_display(
      rng, data.test_images, data.test_labels, num_classes=data.num_classes
  )

  def restore(method, seed):
    return cam.restore_model(
        runs.run_config(base, method, seed),
        runs.run_dir(workdir, method, seed),
        num_classes=data.num_classes,
        in_channels=data.train_images.shape[-1],
    )

  pair = params.applied & (data.test_labels[params.partner] != data.test_labels)
  reference = 100 * float(np.maximum(params.lam, 1 - params.lam)[pair].mean())
  agreements = {m: {} for m in methods}
  for seed in seeds:
    for method in methods:
      agreements[method][seed] = 100 * cam.mixed_agreement(
          restore(method, seed),
          mixed,
          data.test_labels,
          params,
          mean=data.mean,
          std=data.std,
      )
  if cam_path and "none" in methods and "cutmix" in methods:
    named = {
        "baseline": restore("none", seeds[0]),
        "CutMix": restore("cutmix", seeds[0]),
    }
    cam.plot_cams(
        cam_path,
        named,
        data.test_images,
        data.test_labels,
        mean=data.mean,
        std=data.std,
        rng=rng,
        class_names=plots.class_names(base.dataset, data.num_classes),
        title=f"Class activation maps of the seed-{seeds[0]} models "
        f"({base.dataset}, {len(data.train_labels)} training images)",
    )
  return agreements, reference


def check_study(
    base: ml_collections.ConfigDict, plan: Sequence[tuple[str, int]], workdir
) -> None:
  """Every check that needs no device, of every run, before any run starts."""
  try:
    low_data.check_fraction(base.train_fraction)
  except ValueError as e:
    raise StudyError(str(e)) from None
  startup.check_workdir(workdir)
  for method, seed in plan:
    config = runs.run_config(base, method, seed)
    startup.check_config(config)
    runs.check_run_dir(config, runs.run_dir(workdir, method, seed))


def run_study(
    base: ml_collections.ConfigDict,
    methods: Sequence[str],
    seeds: Sequence[int],
    workdir: str,
    *,
    command: str = "",
    cam: bool = True,
) -> dict[str, dict[int, float]]:
  """Runs what is missing, then writes study.md, study.png (and cam.png).

  Args:
    base: the configuration every run starts from.
    methods: ``cutmix.method`` values; ``"none"`` is the baseline.
    seeds: the seeds; each method runs once per seed.
    workdir: the study's directory.
    command: the command line, for the report.
    cam: whether to draw cam.png and measure the CAMs.

  Returns:
    ``{method: {seed: final test accuracy in %}}``.

  Raises:
    StudyError: a bad configuration value, or a run directory that holds
      another configuration (before anything runs).
  """
  from tqdm import auto as tqdm

  from experiments.low_data import report
  from train import input_pipeline
  from train import train

  invocation_start = time.perf_counter()
  plan = [(m, s) for s in seeds for m in methods]
  check_study(base, plan, workdir)
  for method, seed in plan:  # The library's checks, before any run.
    train.check_run(
        runs.run_config(base, method, seed), runs.run_dir(workdir, method, seed)
    )
  data = low_data.subset(
      input_pipeline.load(
          base.dataset, data_dir=base.data_dir, manual_dir=base.tfds_manual_dir
      ),
      base.train_fraction,
      base.train_subset_seed,
  )
  done = sum(
      os.path.exists(os.path.join(runs.run_dir(workdir, m, s), "result.json"))
      for m, s in plan
  )
  results = {}
  with tqdm.tqdm(
      total=len(plan), initial=done, unit="run", dynamic_ncols=True
  ) as bar:
    for method, seed in plan:
      directory = runs.run_dir(workdir, method, seed)
      finished = os.path.exists(os.path.join(directory, "result.json"))
      bar.set_description(f"{method} seed {seed}")
      results[method, seed] = runs.run_once(
          runs.run_config(base, method, seed), directory, data
      )
      if not finished:
        bar.update(1)
        bar.set_postfix(last=f"{results[method, seed]['accuracy']:.2f}%")
  accuracies = {
      m: {s: results[m, s]["accuracy"] for s in seeds} for m in methods
  }
  curves = {
      m: {s: runs.accuracy_curve(runs.run_dir(workdir, m, s)) for s in seeds}
      for m in methods
  }

  footer = []
  if cam:
    agreements, reference = cam_agreements(
        base, data, workdir, methods, seeds, os.path.join(workdir, "cam.png")
    )
    footer += report.cam_table(agreements, reference)
  train_seconds = sum(r["seconds"] for r in results.values())
  footer += [
      "",
      (
          f"Training time of the {len(plan)} runs: {train_seconds / 60:.1f} min "
          f"(sum of their wall times); this invocation: "
          f"{(time.perf_counter() - invocation_start) / 60:.1f} min."
      ),
  ]
  header = study_header.lines(base, command)
  text = report.markdown_report(accuracies, header=header, footer=footer)
  with open(os.path.join(workdir, "study.md"), "w") as f:
    f.write(text)
  report.plot_study(
      os.path.join(workdir, "study.png"),
      accuracies,
      curves,
      title=f"{base.dataset}, train_fraction {base.train_fraction:g}, "
      f"{base.num_epochs} epochs, "
      f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})",
  )
  return accuracies


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  workdir, base = flags.FLAGS.workdir, flags.FLAGS.config
  try:  # Before JAX is imported or anything is written.
    seeds = parse_seeds(flags.FLAGS.seeds)
    methods = parse_methods(flags.FLAGS.methods)
    check_study(base, [(m, s) for s in seeds for m in methods], workdir)
  except StudyError as e:
    print(f"ERROR: {e}", file=sys.stderr, flush=True)
    sys.exit(2)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
  import matplotlib

  matplotlib.use("Agg")  # The program's pictures are files only.
  import jax

  from train import input_pipeline
  from train import train

  if jax.config.jax_compilation_cache_dir is None:
    # The runs of one method compile the same programs; later runs and a
    # resumed study read them from disk. The cache changes no numbers.
    jax.config.update(
        "jax_compilation_cache_dir", os.path.join(workdir, "jax_cache")
    )
  try:
    os.makedirs(workdir, exist_ok=True)
    run_study(
        base,
        methods,
        seeds,
        workdir,
        command=".venv/bin/python -m experiments.low_data.main "
        + " ".join(sys.argv[1:]),
        cam=flags.FLAGS.cam,
    )
  except StudyError as e:  # The checks that need the devices.
    print(f"ERROR: {e}", file=sys.stderr, flush=True)
    sys.exit(2)
  except (train.NonFiniteLossError, input_pipeline.DataUnavailableError) as e:
    print(f"ERROR: {e}", file=sys.stderr, flush=True)
    sys.exit(1)
  except train.StoppedOnRequest as e:  # Asked for: the study resumes too.
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)
  with open(os.path.join(workdir, "study.md")) as f:
    print(f.read(), flush=True)
  print(
      f"Wrote {workdir}/study.md, study.png"
      + (", cam.png" if flags.FLAGS.cam else ""),
      flush=True,
  )


if __name__ == "__main__":
  define_flags()
  app.run(main)
