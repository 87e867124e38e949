"""Command line: ``python -m train.main --config=train/configs/default.py --workdir=DIR``.

Any config field can be overridden, e.g. ``--config.cutmix.alpha=0.5`` or
``--config.cutmix.method=none``. Running again with the same ``--workdir``
resumes from its latest checkpoint.

Several processes (hosts) train one model together when each is started with
``--coordinator=HOST:PORT --num_processes=N --process_id=I`` (``HOST:PORT``:
process 0's address, the same for all), or with no flag at all on a TPU pod
slice, under SLURM or Open MPI, where JAX reads them from the environment.
See train/README.md.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from train import distributed

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, metrics and plots go."
)
config_flags.DEFINE_config_file(
    "config",
    None,
    "A train/configs/*.py file, then --config.FIELD=VALUE overrides.",
    lock_config=True,
)
flags.mark_flags_as_required(["config", "workdir"])

_COORDINATOR = flags.DEFINE_string(
    "coordinator",
    None,
    "Multi-process: process 0's HOST:PORT, the same for every process "
    "(default: $JAX_COORDINATOR_ADDRESS, or the cluster's).",
)
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Multi-process: how many processes train together."
)
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "Multi-process: this process, 0 .. num_processes - 1."
)
_INITIALIZATION_TIMEOUT = flags.DEFINE_integer(
    "initialization_timeout",
    distributed.Timeouts.initialization,
    "Multi-process: seconds for every process to join before each stops.",
)
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    "heartbeat_timeout",
    distributed.Timeouts.heartbeat,
    "Multi-process: seconds of silence after which a process is declared dead "
    "and the others stop.",
)
_SHUTDOWN_TIMEOUT = flags.DEFINE_integer(
    "shutdown_timeout",
    distributed.Timeouts.shutdown,
    "Multi-process: seconds a finished process waits for the others to finish.",
)


def _join_if_asked(config) -> bool:
  """Joins a multi-process job if the flags or the environment say so."""
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


def _fail(message: str) -> None:
  print(f"\nERROR: {message}", file=sys.stderr, flush=True)
  sys.exit(1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(
        logging.WARNING
    )  # Orbax logs every file it writes at INFO.
  import matplotlib

  matplotlib.use("Agg")  # The program's pictures are files only.
  try:
    several = _join_if_asked(config)  # Before anything touches the devices.
  except distributed.DistributedError as e:
    _fail(str(e))
  import jax

  from train import config_checks
  from train import input_pipeline
  from train import train

  try:
    train.train_and_evaluate(config, _WORKDIR.value)
  except (
      config_checks.ConfigError,
      train.NonFiniteLossError,
      input_pipeline.DataUnavailableError,
  ) as e:
    _fail(str(e))
  except jax.errors.JaxRuntimeError as e:
    if not several:
      raise
    _fail(
        f"process {jax.process_index()} of {jax.process_count()}: a "
        f"computation shared with the other processes failed ({e}). Another "
        "process has probably stopped: read its log."
    )


if __name__ == "__main__":
  app.run(main)
