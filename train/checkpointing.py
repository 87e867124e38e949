"""Checkpoints of the training state with orbax, under ``workdir/checkpoints``.

Orbax decides when to save (every ``checkpoint_every_steps`` and at the last
step), keeps the last ``keep_checkpoints``, and renames a checkpoint into
place when complete: a killed run leaves a whole checkpoint or none. A stop
asked for (Ctrl-C, SIGTERM) ends the run after a checkpoint of the step it
reached, so no step is lost.
"""

import contextlib
import os
import signal
import sys
import threading

from flax import nnx
import jax
import orbax.checkpoint as ocp


def checkpoint_manager(
    workdir: str, *, every_steps: int, keep: int, final_step: int
) -> ocp.CheckpointManager:
  """Saves every ``every_steps`` and at ``final_step``, keeps ``keep``.

  Every process must create it; ``should_save(step)`` tells the loop when.
  """
  policies = ocp.checkpoint_managers
  options = ocp.CheckpointManagerOptions(
      max_to_keep=keep,
      create=True,
      save_decision_policy=policies.AnySavePolicy(
          [
              policies.FixedIntervalPolicy(every_steps),
              policies.SpecificStepsPolicy((final_step,)),
          ]
      ),
  )
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), "checkpoints"), options=options
  )


def save(manager: ocp.CheckpointManager, step: int, state: nnx.State) -> None:
  """Starts writing ``state`` as checkpoint ``step`` (asynchronously)."""
  manager.save(
      step, args=ocp.args.StandardSave(nnx.to_pure_dict(state)), force=True
  )


def restore(
    manager: ocp.CheckpointManager, step: int, state: nnx.State
) -> nnx.State:
  """Restores checkpoint ``step`` into a state of the same structure and sharding."""
  pure = nnx.to_pure_dict(state)
  abstract = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      pure,
  )
  restored = manager.restore(step, args=ocp.args.StandardRestore(abstract))
  nnx.replace_by_pure_dict(state, restored)
  return state


class StopRequest:
  """Notes a Ctrl-C or SIGTERM: the loop stops after the step it is in.

  One process only: there each signal reaches the one loop. With several,
  SIGTERM goes to JAX's preemption service instead (`stop_signal`), which
  gives every process the same step; a Ctrl-C then stops its process at
  once, and the job resumes from the last checkpoint.
  """

  def __init__(self):
    self.signum: int | None = None

  def note(self, signum, frame) -> None:
    del frame
    if self.signum is not None and signum == signal.SIGINT:
      raise KeyboardInterrupt  # A second Ctrl-C: at once.
    self.signum = signum
    print(
        f"\n{signal.Signals(signum).name}: stopping after this step, with a "
        "checkpoint (Ctrl-C again stops at once).",
        file=sys.stderr,
        flush=True,
    )


@contextlib.contextmanager
def stop_on_request():
  """A `StopRequest` noting SIGINT and SIGTERM while the block runs (one
  process, main thread: Python delivers signals there only)."""
  request = StopRequest()
  if jax.process_count() > 1 or threading.current_thread() is not (
      threading.main_thread()
  ):
    yield request
    return
  signums = (signal.SIGINT, signal.SIGTERM)
  previous = {s: signal.signal(s, request.note) for s in signums}
  try:
    yield request
  finally:
    for signum, handler in previous.items():  # None: one set outside Python
      signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def stop_signal(
    request: StopRequest, manager: ocp.CheckpointManager, step: int
) -> int | None:
  """The signal to stop on after ``step``, or None (every process calls it
  at every step: the preemption service's rule)."""
  if manager.reached_preemption(step):
    return signal.SIGTERM
  return request.signum
