"""study.md's header: what the study ran, when, on which commit and machine.

`lines(config, command)` gives the title and one bullet each for the command,
the date and commit (`git_commit`), the machine (`machine_description`), the
recipe and the data, so that a table of accuracies is never read without
where it was measured.
"""

import datetime
import os
import platform
import subprocess

import ml_collections

_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def _git(*args: str) -> str:
  return subprocess.run(
      ["git", *args],
      cwd=_ROOT,
      capture_output=True,
      text=True,
      timeout=10,
      check=True,
  ).stdout.strip()


def git_commit() -> str:
  """The checkout's short commit, and whether it has uncommitted changes."""
  try:
    head = _git("rev-parse", "--short", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no")
  except (OSError, subprocess.SubprocessError):
    return "unknown (not a git checkout)"
  return head + (" with uncommitted changes" if dirty else "")


def machine_description() -> str:
  """CPU model and cores, the JAX backend and version."""
  import jax

  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(
          line.split(":", 1)[1].strip()
          for line in f
          if line.startswith("model name")
      )
  except (OSError, StopIteration):
    pass
  device = jax.devices()[0]
  accelerator = (
      "no accelerator"
      if device.platform == "cpu"
      else f"{jax.device_count()} x {device.device_kind}"
  )
  return (
      f"{os.cpu_count()} CPU cores ({cpu}), {accelerator}, JAX {jax.__version__}, "
      f"{platform.system()}"
  )


def lines(c: ml_collections.ConfigDict, command: str = "") -> list[str]:
  """study.md's title, then what was run where: command, date, machine, recipe, data."""
  now = datetime.datetime.now(datetime.timezone.utc)
  title = (
      f"# Does it help? {c.dataset}, train_fraction {c.train_fraction:g}, "
      f"{c.num_epochs} epochs"
  )
  text = [title, ""]
  if command:
    text.append(f"- Command: `{command}`")
  text.append(f"- Date: {now:%Y-%m-%d %H:%M} UTC; commit {git_commit()}.")
  text.append(f"- Machine: {machine_description()}.")
  text.append(
      f"- Recipe: {c.model.name}-{c.model.depth} width {c.model.width}, batch "
      f"{c.batch_size}, {c.optimizer.schedule} learning rate "
      f"{c.optimizer.learning_rate:g}, {c.num_epochs} epochs, crop padding "
      f"{c.augment.pad}, flip {c.augment.flip}; CutMix alpha "
      f"{c.alphas.cutmix:g}, MixUp alpha {c.alphas.mixup:g}, ResizeMix scale "
      f"({c.cutmix.scale[0]:g}, {c.cutmix.scale[1]:g}), each with prob "
      f"{c.cutmix.prob:g}."
  )
  text.append(
      f"- Data: {c.dataset}, a stratified {c.train_fraction:g} of the training split "
      f"(subset seed {c.train_subset_seed}, the same for every run), the whole test "
      "split. Runs are paired by seed: same initialisation and batch order."
  )
  text.append(
      "- Accuracy: on the whole test split at the end of training; std: the sample "
      "standard deviation over seeds; p-values: two-sided (sign test: ties dropped)."
  )
  return text
