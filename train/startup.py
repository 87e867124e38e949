"""What stops a run before it starts, checked before JAX or TF is imported.

`check_config` (each field by name), `check_workdir` (a directory this
process can write or create) and `check_resume` (a workdir's ``config.json``
against the run's: only `MAY_CHANGE_ON_RESUME` may differ) raise
`StartupError`, whose message is the one line the user sees.
"""

import functools
import json
import os

import ml_collections

RECORD = "config.json"
# What a resumed run may change: its length, and what and how often it logs.
# Anything else would make the resumed run another run than the one recorded.
MAY_CHANGE_ON_RESUME = frozenset(
    "num_epochs num_train_steps eval_batch_size log_every_steps "
    "eval_every_epochs checkpoint_every_steps keep_checkpoints "
    "num_plot_samples progress_bar distributed data_dir tfds_manual_dir".split()
)
# What a run writes into its workdir (all that --restart removes).
RUN_FILES = ("checkpoints", "metrics.jsonl", "curves.png", "cutmix_samples.png")
NUM_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100}
MODELS = ("preact_resnet", "wide_resnet", "pyramidnet")
METHODS = ("cutmix", "mixup", "mixup_or_cutmix", "resizemix", "none")
# The stages after which each model can mix its activations (0 is the stem).
NUM_STAGES = {"preact_resnet": 4, "wide_resnet": 3, "pyramidnet": 3}


class StartupError(ValueError):
  """A run that cannot start as asked; the message names what to change."""


def _field(config: ml_collections.ConfigDict, field: str):
  for name in field.split("."):
    config = config[name]
  return config


def _require(config, ok: bool, field: str, expected: str) -> None:
  if not ok:
    got = _field(config, field)
    raise StartupError(f"config.{field}: expected {expected}, got {got!r}.")


def _positive_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_fields(
    config: ml_collections.ConfigDict, reference: ml_collections.ConfigDict
) -> None:
  """Refuses fields that ``reference`` (the trainer's full config) lacks.

  A field the trainer does not read would be silently ignored (a study's
  ``train_fraction`` given to ``train.main``, a typo in a config file).
  """
  extra = sorted(set(_flat(config.to_dict())) - set(_flat(reference.to_dict())))
  if extra:
    raise StartupError(
        f"config.{extra[0]}: not a field of the trainer (train/configs/"
        "default.py lists them all); a program in experiments/ reads it."
    )


def check_config(config: ml_collections.ConfigDict) -> None:
  """Every value that needs no device to check (the library checks the mixing)."""
  m, o, a, c = config.model, config.optimizer, config.augment, config.cutmix
  need = functools.partial(_require, config)
  need(config.dataset in NUM_CLASSES, "dataset", f"one of {tuple(NUM_CLASSES)}")
  need(m.name in MODELS, "model.name", f"one of {MODELS}")
  need(_positive_int(m.width), "model.width", "an int > 0")
  stride_ok = m.stem_stride == 1 or (
      m.stem_stride == 2 and m.name == "preact_resnet"
  )
  need(stride_ok, "model.stem_stride", "1, or 2 with preact_resnet")
  need(0.0 <= m.dropout < 1.0, "model.dropout", "a value in [0, 1)")
  for field in (
      "batch_size",
      "eval_batch_size",
      "log_every_steps",
      "checkpoint_every_steps",
      "keep_checkpoints",
      "eval_every_epochs",
  ):
    need(_positive_int(config[field]), field, "an int > 0")
  need(
      config.num_epochs > 0 or config.num_train_steps > 0,
      "num_epochs",
      "> 0 (or num_train_steps > 0)",
  )
  need(o.learning_rate > 0, "optimizer.learning_rate", "> 0")
  need(0.0 <= o.momentum < 1.0, "optimizer.momentum", "a value in [0, 1)")
  need(o.weight_decay >= 0, "optimizer.weight_decay", ">= 0")
  need(
      o.schedule in ("cosine", "step", "constant"),
      "optimizer.schedule",
      "'cosine', 'step' or 'constant'",
  )
  need(o.warmup_epochs >= 0, "optimizer.warmup_epochs", ">= 0")
  need(a.on in ("device", "host"), "augment.on", "'device' or 'host'")
  need(a.pad >= 0, "augment.pad", ">= 0")
  need(
      config.distributed in ("auto", "on", "off"),
      "distributed",
      "'auto', 'on' or 'off'",
  )
  need(c.method in METHODS, "cutmix.method", f"one of {METHODS}")
  if c.feature_stage is not None:
    stages = NUM_STAGES[m.name]
    need(
        c.method == "cutmix", "cutmix.method", "'cutmix' with feature_stage set"
    )
    need(
        0 <= c.feature_stage <= stages,
        "cutmix.feature_stage",
        f"a stage in [0, {stages}] for {m.name}",
    )


def check_batch_split(
    config: ml_collections.ConfigDict, num_devices: int, num_processes: int
) -> None:
  """The batches split evenly, and each device holds two examples to mix."""
  for field in ("batch_size", "eval_batch_size"):
    for count, what in ((num_devices, "device"), (num_processes, "process")):
      multiple = config[field] % count == 0
      _require(
          config, multiple, field, f"a multiple of the {what} count {count}"
      )
  if config.cutmix.method != "none" and config.batch_size // num_devices < 2:
    raise StartupError(
        f"config.batch_size: {config.batch_size} over {num_devices} devices is "
        "1 example a device, and each device mixes only its own examples "
        "(cutmix_jax.per_shard), so none would have a partner: expected at "
        f"least {2 * num_devices}, or --config.cutmix.method=none."
    )


def check_workdir(workdir: str) -> None:
  """The workdir is a writable directory, or one that can be created."""
  if not workdir:
    raise StartupError("--workdir: expected a directory, got ''.")
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise StartupError(f"--workdir: {workdir} is a file, expected a directory.")
  existing = path
  while not os.path.exists(existing):  # The nearest ancestor that exists.
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise StartupError(
        f"--workdir: cannot create {workdir}: {existing} is a file."
    )
  if not os.access(existing, os.W_OK | os.X_OK):
    verb = "write in" if existing == path else "create"
    raise StartupError(
        f"--workdir: cannot {verb} {workdir}: {existing} is not writable."
    )


def _flat(tree: dict, prefix: str = "") -> dict:
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[prefix + key] = list(value) if isinstance(value, tuple) else value
  return out


def recorded_config(workdir: str) -> dict | None:
  """The flat config recorded in ``workdir``, or None if there is none."""
  path = os.path.join(workdir, RECORD)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return _flat(json.load(f))


def differences(
    config: ml_collections.ConfigDict,
    workdir: str,
    may_change: frozenset[str] = MAY_CHANGE_ON_RESUME,
) -> list[str] | None:
  """``["batch_size 64 -> 32", ...]`` but ``may_change``; None if unrecorded."""
  recorded = recorded_config(workdir)
  if recorded is None:
    return None
  wanted = _flat(json.loads(config.to_json()))
  return [
      f"{key} {recorded.get(key, '<absent>')!r} -> "
      f"{wanted.get(key, '<absent>')!r}"
      for key in sorted(set(recorded) | set(wanted))
      if key not in may_change
      and recorded.get(key, "<absent>") != wanted.get(key, "<absent>")
  ]


def check_resume(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Refuses to resume ``workdir`` with a config that changes the run."""
  differing = differences(config, workdir)
  if differing is None and os.path.isdir(os.path.join(workdir, "checkpoints")):
    raise StartupError(
        f"--workdir: {workdir} holds checkpoints but no {RECORD} to say "
        "which config made them: use another --workdir, or --restart to "
        "train from scratch there."
    )
  if differing:
    raise StartupError(
        f"--workdir: {workdir} holds a run started with another config "
        f"(config.{', config.'.join(differing)}); only its length and logging "
        "may change on resume: use another --workdir, or --restart to train "
        "from scratch there."
    )


def record_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes the run's config into ``workdir`` (whole, or not at all)."""
  path = os.path.join(workdir, RECORD)
  with open(path + ".tmp", "w") as f:
    f.write(config.to_json(indent=1))
  os.replace(path + ".tmp", path)
