"""Checkpoints of the training state with orbax, under ``workdir/checkpoints``.

Orbax decides when to save (every ``checkpoint_every_steps`` and at the last
step), keeps the last ``keep_checkpoints``, and renames a checkpoint into
place when complete: a killed run leaves a whole checkpoint or none.
"""

import os

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
