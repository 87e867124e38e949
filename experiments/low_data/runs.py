"""One run of the study: its directory and configuration, trained once.

A run lives in ``DIR/runs/<method>-seed<seed>/``. `run_once` trains it to
the end unless its ``result.json`` exists, resumes it from its latest
checkpoint if it was interrupted, and refuses a directory whose recorded
config differs from the run's in any field (a study's runs must be equal
but for the method and the seed).
"""

import contextlib
import json
import os
import time

import ml_collections

from train import input_pipeline
from train import startup


def run_dir(workdir: str, method: str, seed: int) -> str:
  return os.path.join(workdir, "runs", f"{method}-seed{seed}")


def run_config(
    base: ml_collections.ConfigDict, method: str, seed: int
) -> ml_collections.ConfigDict:
  """The base config with this method, its alpha and this seed, quiet."""
  config = ml_collections.ConfigDict(base.to_dict())
  config.cutmix.method = method
  if method in config.alphas:
    config.cutmix.alpha = config.alphas[method]
  config.seed = seed
  config.progress_bar = False
  config.num_plot_samples = 0
  return config


def check_run_dir(config: ml_collections.ConfigDict, directory: str) -> None:
  """Refuses a run directory recorded with any other config."""
  differing = startup.differences(config, directory, may_change=frozenset())
  if differing:
    raise startup.StartupError(
        f"{directory} holds a run made with another config (config."
        + ", config.".join(differing[:5])
        + "): use another --workdir, or delete that directory to train it "
        "again."
    )


def run_once(
    config: ml_collections.ConfigDict,
    directory: str,
    data: input_pipeline.Data,
) -> dict:
  """Trains one run to the end unless it has finished already; its result.

  Returns:
    ``{"method", "seed", "accuracy" (%), "loss", "step", "epoch", "seconds",
    "resumed_from"}``, also stored as ``directory/result.json``.
  """
  from train import train

  check_run_dir(config, directory)
  result_path = os.path.join(directory, "result.json")
  if os.path.exists(result_path):
    with open(result_path) as f:
      return json.load(f)
  checkpoints = os.path.join(directory, "checkpoints")
  resumed_from = (
      max((int(d) for d in os.listdir(checkpoints) if d.isdigit()), default=0)
      if os.path.isdir(checkpoints)
      else 0
  )
  os.makedirs(directory, exist_ok=True)
  start = time.perf_counter()
  # The run's output, stderr too: tqdm redraws the study's bar on the
  # terminal's streams whenever the trainer prints, unless it prints elsewhere.
  with (
      open(os.path.join(directory, "train.log"), "a") as log,
      contextlib.redirect_stdout(log),
      contextlib.redirect_stderr(log),
  ):
    final = train.train_and_evaluate(config, directory, data=data)
  result = dict(
      method=config.cutmix.method,
      seed=config.seed,
      accuracy=100 * final["accuracy"],
      loss=final["loss"],
      step=final["step"],
      epoch=final["epoch"],
      seconds=round(time.perf_counter() - start, 2),
      resumed_from=resumed_from,
  )
  with open(result_path + ".tmp", "w") as f:
    json.dump(result, f, indent=1)
  os.replace(result_path + ".tmp", result_path)  # Whole, or not at all.
  return result


def accuracy_curve(directory: str) -> list[tuple[float, float]]:
  """``[(epoch, test accuracy in %)]`` from a run's metrics.jsonl."""
  from train import metric_writers

  records = metric_writers.read_metrics(
      os.path.join(directory, "metrics.jsonl")
  )
  return [
      (r["epoch"], 100 * r["accuracy"]) for r in records if r["split"] == "test"
  ]
