"""Joining a multi-process job: `jax.distributed.initialize`, explicit or detected.

Explicit flags, or a TPU pod slice, SLURM or Open MPI (JAX reads those
itself). Every wait is bounded by JAX's timeouts; JAX aborts a process that
hits one, so this module first says which process it is and what to check.
"""

from collections.abc import Mapping
import dataclasses
import os
import sys
import threading

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
import orbax.checkpoint as ocp


class DistributedError(RuntimeError):
  """The multi-process job cannot start as asked; the message says what to fix."""


@dataclasses.dataclass(frozen=True)
class Timeouts:
  """JAX's distributed timeouts, in seconds (its defaults)."""

  initialization: int = 300
  heartbeat: int = 100
  shutdown: int = 300


# The timeouts of the job this process joined (`initialize` sets them).
_timeouts = Timeouts()


def detected_cluster(environ: Mapping[str, str] = os.environ) -> bool:
  """Whether a TPU pod slice, SLURM or Open MPI job of several processes runs us."""
  hosts = [h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]
  return (
      len(hosts) > 1
      or int(environ.get("SLURM_NTASKS", "1")) > 1
      or int(environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1
  )


def _say(message: str) -> None:
  print(message, file=sys.stderr, flush=True)


def initialize(
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeouts: Timeouts = Timeouts(),
) -> None:
  """Joins the job, before anything touches the devices.

  Args:
    coordinator: process 0's ``host:port`` (default:
      ``JAX_COORDINATOR_ADDRESS``, or the cluster's).
    num_processes: the number of processes (default: the cluster's).
    process_id: this process, in ``[0, num_processes)``.
    timeouts: for joining, a silent peer, and shutdown.

  Raises:
    DistributedError: the arguments do not say enough, or do not fit.
  """
  if (num_processes is None) != (process_id is None):
    raise DistributedError(
        "--num_processes and --process_id go together: got num_processes="
        f"{num_processes}, process_id={process_id}."
    )
  if num_processes is not None and not 0 <= process_id < num_processes:
    raise DistributedError(
        f"--process_id: expected an id in [0, {num_processes}) "
        f"(--num_processes={num_processes}), got {process_id}."
    )
  address = coordinator or os.environ.get("JAX_COORDINATOR_ADDRESS")
  if num_processes is not None and not address:
    raise DistributedError(
        "--coordinator: expected process 0's host:port (the same for every "
        "process), got nothing (and JAX_COORDINATOR_ADDRESS is not set)."
    )
  who = f"process {process_id} of {num_processes}"
  who = who if num_processes is not None else "this process"
  where = f"the coordinator at {address}" if address else "the coordinator"
  # JAX aborts the process when joining times out; say what to check first.
  t = timeouts.initialization
  warning = threading.Timer(
      max(0.5 * t, min(t - 2.0, 0.75 * t)),
      _say,
      [
          f"{who}: still not joined through {where}; JAX stops this process at "
          f"--initialization_timeout={timeouts.initialization} s. Check that all "
          "processes have been started with the same --coordinator and "
          "--num_processes and distinct --process_id, that process 0 is running "
          "(it hosts the coordinator), and that this host can reach its address "
          "and port (firewall)."
      ],
  )
  warning.daemon = True
  warning.start()
  try:
    jax.distributed.initialize(
        coordinator_address=coordinator,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=timeouts.initialization,
        heartbeat_timeout_seconds=timeouts.heartbeat,
        shutdown_timeout_seconds=timeouts.shutdown,
    )
  except ValueError as e:
    raise DistributedError(
        f"{e} JAX reads the process count and id from the environment only on "
        "a TPU pod, under SLURM or Open MPI; elsewhere pass --coordinator, "
        "--num_processes and --process_id to every process."
    ) from e
  finally:
    warning.cancel()
  global _timeouts
  _timeouts = timeouts
  _say(
      f"process {jax.process_index()} of {jax.process_count()}: joined the job "
      f"through {where}. If another process stops, JAX stops this one within "
      f"--heartbeat_timeout={timeouts.heartbeat} s and names the silent "
      "process; then read that process's log."
  )


def wait_for_every_process(name: str) -> None:
  """Waits until every process has reached the point ``name`` (unique).

  A barrier first (up to the initialization timeout: gloo's first collective
  on CPUs waits only 30 s), then one tiny collective over the devices.
  """
  if jax.process_count() == 1:
    return
  ocp.multihost.sync_global_processes(
      name,
      timeout=_timeouts.initialization,
      processes=set(range(jax.process_count())),
  )
  multihost_utils.sync_global_devices(name)
  mesh = jax.make_mesh((jax.device_count(),), ("all",))
  ones = jax.make_array_from_process_local_data(
      NamedSharding(mesh, P("all")),
      np.ones(jax.local_device_count(), np.float32),
  )
  jax.block_until_ready(jax.jit(jnp.sum)(ones))
