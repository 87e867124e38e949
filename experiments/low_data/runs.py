"""One run of the study: its directory and configuration, trained once.

A run lives in ``DIR/runs/<method>-seed<seed>/``. `run_once` trains it to
the end unless its ``result.json`` exists, resumes it from its latest
checkpoint if it was interrupted, and refuses a directory made with another
configuration, naming the fields that differ.
"""

import contextlib
import json
import os
import time

import ml_collections


class StudyError(ValueError):
  """A bad study argument, or a run directory made with another configuration."""


def run_dir(workdir: str, method: str, seed: int) -> str:
  return os.path.join(workdir, "runs", f"{method}-seed{seed}")


def run_config(
    base: ml_collections.ConfigDict, method: str, seed: int
) -> ml_collections.ConfigDict:
  """The base config with this method and seed, quiet (no bar, no sample picture)."""
  config = ml_collections.ConfigDict(base.to_dict())
  config.cutmix.method = method
  config.seed = seed
  config.progress_bar = False
  config.num_plot_samples = 0
  return config


def _config_differences(
    stored: dict, wanted: dict, prefix: str = ""
) -> list[str]:
  keys = sorted(set(stored) | set(wanted))
  out = []
  for key in keys:
    a, b = stored.get(key, "<absent>"), wanted.get(key, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += _config_differences(a, b, f"{prefix}{key}.")
    elif a != b:
      out.append(f"config.{prefix}{key}: {a!r} there, {b!r} now")
  return out


def run_once(config: ml_collections.ConfigDict, directory: str) -> dict:
  """Trains one run to the end unless it has finished already; returns its result.

  Args:
    config: the run's configuration.
    directory: its working directory.

  Returns:
    ``{"method", "seed", "accuracy" (%), "loss", "step", "epoch", "seconds",
    "resumed_from"}``, also stored as ``directory/result.json``.

  Raises:
    StudyError: ``directory`` holds a run of another configuration.
  """
  from train import train

  result_path = os.path.join(directory, "result.json")
  config_path = os.path.join(directory, "config.json")
  wanted = json.loads(config.to_json())
  if os.path.exists(config_path):
    with open(config_path) as f:
      differences = _config_differences(json.load(f), wanted)
    if differences:
      raise StudyError(
          f"{directory} holds a run made with another configuration ("
          + "; ".join(differences[:5])
          + "). Use another --workdir, or delete that "
          "directory to train it again."
      )
  if os.path.exists(result_path):
    with open(result_path) as f:
      return json.load(f)
  os.makedirs(directory, exist_ok=True)
  with open(config_path, "w") as f:
    json.dump(wanted, f, indent=1)
  checkpoints = os.path.join(directory, "checkpoints")
  resumed_from = (
      max((int(d) for d in os.listdir(checkpoints) if d.isdigit()), default=0)
      if os.path.isdir(checkpoints)
      else 0
  )
  start = time.perf_counter()
  # The run's output, stderr too: tqdm redraws every bar on the terminal's
  # streams whenever the trainer prints, unless its prints go elsewhere.
  with (
      open(os.path.join(directory, "train.log"), "a") as log,
      contextlib.redirect_stdout(log),
      contextlib.redirect_stderr(log),
  ):
    final = train.train_and_evaluate(config, directory)
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


def test_curve(directory: str) -> list[tuple[float, float]]:
  """``[(epoch, test accuracy in %)]`` from a run's metrics.jsonl."""
  from train import metric_writers

  records = metric_writers.read_metrics(
      os.path.join(directory, "metrics.jsonl")
  )
  return [
      (r["epoch"], 100 * r["accuracy"]) for r in records if r["split"] == "test"
  ]
