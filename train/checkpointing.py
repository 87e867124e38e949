"""Checkpoints of the training state with orbax, under ``workdir/checkpoints``.

Orbax decides when to save (`CheckpointManagerOptions` with a save-decision
policy: every ``checkpoint_every_steps`` steps and at the last step; the loop
asks `ocp.CheckpointManager.should_save`), keeps the last
``keep_checkpoints``, and writes each checkpoint to a temporary directory that
it renames when complete, so a killed run leaves either a whole checkpoint or
none. With several processes each writes its own shards of the arrays.
"""

import os

from flax import nnx
import jax
import orbax.checkpoint as ocp


def checkpoint_manager(
    workdir: str, *, every_steps: int, keep: int, final_step: int
) -> ocp.CheckpointManager:
  """The run's checkpoint manager (every process must create it).

  Args:
    workdir: the run's directory (shared by all processes).
    every_steps: save when the step is a multiple of this...
    keep: ... keeping the last ``keep`` checkpoints...
    final_step: ... and at this step, the last of the run.

  Returns:
    An `ocp.CheckpointManager`; ``should_save(step)`` tells the loop when.
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
