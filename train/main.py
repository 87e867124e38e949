"""Command line: ``.venv/bin/python -m train.main --config=FILE --workdir=DIR``.

``--config.FIELD=VALUE`` overrides a field. The same ``--workdir`` resumes
(``--restart`` starts over); ``--coordinator``, ``--num_processes`` and
``--process_id`` join a multi-process job. A run that cannot start prints one
``ERROR:`` line and exits with status 2 before anything heavy is imported;
one that stops (no data, a non-finite loss) exits with status 1.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from train import startup
from train.configs import default

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and plots go."
)
config_flags.DEFINE_config_file(
    "config",
    "train/configs/default.py",
    "A train/configs/*.py file, then --config.FIELD=VALUE overrides.",
    lock_config=True,
)
flags.mark_flags_as_required(["workdir"])
_RESTART = flags.DEFINE_bool(
    "restart", False, "Remove what a run wrote into --workdir, start over."
)
_COORDINATOR = flags.DEFINE_string(
    "coordinator", None, "Multi-process: process 0's HOST:PORT, for all."
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Multi-process: how many processes train together."
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "Multi-process: this process, 0 .. num_processes - 1."
)
_INITIALIZATION_TIMEOUT = flags.DEFINE_integer(
    "initialization_timeout", 300, "Multi-process: seconds to join."
)
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    "heartbeat_timeout",
    100,
    "Multi-process: seconds before a silent peer stops all.",
)
_SHUTDOWN_TIMEOUT = flags.DEFINE_integer(
    "shutdown_timeout",
    300,
    "Multi-process: seconds to wait for the others at the end.",
)


def _fail(message: str, status: int) -> None:
  print(f"ERROR: {message}", file=sys.stderr, flush=True)
  sys.exit(status)


def _join_if_asked(config) -> bool:
  """Joins a multi-process job if the flags or the environment say so."""
  from train import distributed

  explicit = any(
      v is not None
      for v in (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  )
  if config.distributed == "off":
    if explicit:
      raise distributed.DistributedError(
          "--coordinator, --num_processes and --process_id ask for several "
          "processes but --config.distributed=off."
      )
    return False
  if not (
      explicit
      or config.distributed == "on"
      or distributed.detected_cluster()
      or os.environ.get("JAX_COORDINATOR_ADDRESS")
  ):
    return False
  distributed.initialize(
      coordinator=_COORDINATOR.value,
      num_processes=_NUM_PROCESSES.value,
      process_id=_PROCESS_ID.value,
      timeouts=distributed.Timeouts(
          _INITIALIZATION_TIMEOUT.value,
          _HEARTBEAT_TIMEOUT.value,
          _SHUTDOWN_TIMEOUT.value,
      ),
  )
  return True


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config, workdir = flags.FLAGS.config, _WORKDIR.value
  # What needs no device is checked before JAX is even imported.
  try:
    startup.check_fields(config, default.get_config())
    startup.check_config(config)
    startup.check_workdir(workdir)
    if not _RESTART.value:
      startup.check_resume(config, workdir)
  except startup.StartupError as e:
    _fail(str(e), 2)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file at INFO.
  import matplotlib

  matplotlib.use("Agg")  # The program's pictures are files only.
  from train import distributed

  try:
    several = _join_if_asked(config)  # Before anything touches the devices.
  except distributed.DistributedError as e:
    _fail(str(e), 2)
  import jax

  from train import input_pipeline
  from train import train

  try:
    train.train_and_evaluate(config, workdir, restart=_RESTART.value)
  except (train.NonFiniteLossError, input_pipeline.DataUnavailableError) as e:
    _fail(str(e), 1)
  except train.StoppedOnRequest as e:  # Asked for: no error.
    print(str(e), file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)  # The shell's code for that signal.
  except startup.StartupError as e:  # The checks that need the devices.
    _fail(str(e), 2)
  except jax.errors.JaxRuntimeError as e:
    if not several:
      raise
    _fail(
        f"process {jax.process_index()} of {jax.process_count()}: a "
        f"computation shared with the other processes failed ({e}). Another "
        "process has probably stopped: read its log.",
        1,
    )
  if jax.process_index() == 0 and config.dataset == "digits":
    print(
        "On a GPU or TPU, train CIFAR-10 or the paper's CIFAR-100 recipe "
        "(TFDS downloads them on first use):\n"
        "  .venv/bin/python -m train.main --config=train/configs/cifar10.py "
        "--workdir=workdir/cifar10\n"
        "  .venv/bin/python -m train.main "
        "--config=train/configs/paper_cifar100.py --workdir=workdir/cifar100",
        flush=True,
    )


if __name__ == "__main__":
  app.run(main)
