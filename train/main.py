"""Command line: ``python -m train.main --config=train/configs/default.py --workdir=DIR``.

Any config field can be overridden, e.g. ``--config.cutmix.alpha=0.5`` or
``--config.cutmix.method=none``. Running again with the same ``--workdir``
resumes from its latest checkpoint.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and plots go.")
config_flags.DEFINE_config_file(
    "config", None, "A train/configs/*.py file, then --config.FIELD=VALUE overrides.",
    lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])

# Environment variables that say this process is one of several hosts.
_MULTIHOST_HINTS = ("JAX_COORDINATOR_ADDRESS", "MEGASCALE_COORDINATOR_ADDRESS")


def looks_multihost(environ=os.environ) -> bool:
  """Whether the environment describes a multi-process job (TPU pod, SLURM)."""
  if any(environ.get(name) for name in _MULTIHOST_HINTS):
    return True
  if int(environ.get("SLURM_NTASKS", "1")) > 1:
    return True
  # A TPU pod slice lists every worker's hostname; a single TPU VM lists one.
  return len([h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every file it writes at INFO.
  import jax  # pylint: disable=g-import-not-at-top

  if config.distributed == "on" or (config.distributed == "auto" and looks_multihost()):
    # Must come before anything touches the devices.
    jax.distributed.initialize()
  from train import input_pipeline  # pylint: disable=g-import-not-at-top
  from train import train  # pylint: disable=g-import-not-at-top

  try:
    train.train_and_evaluate(config, _WORKDIR.value)
  except (train.ConfigError, train.NonFiniteLossError,
          input_pipeline.DataUnavailableError) as e:
    print(f"\nERROR: {e}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
  app.run(main)
