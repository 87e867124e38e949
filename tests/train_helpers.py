"""Helpers shared by the trainer's tests (test_train.py, test_startup.py,
test_multiprocess.py, test_low_data.py).

Importing this module does nothing (pytest's doctest collection imports it).
"""

import glob
import os
import socket
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# conftest's compile-speed flags; the last one alone cuts a small trainer run
# from about 17 s to 12-14 s on 2 cores.
COMPILE_SPEED_FLAG_PREFIXES = (
    "--xla_backend_optimization_level",
    "--xla_llvm_disable_expensive_passes",
    "--xla_cpu_use_fusion_emitters",
)


def child_env(cache_dir, **extra) -> dict:
  """A child's environment: the repository importable, a compilation cache.

  The cache lets runs share their compiled programs (the same programs); it
  changes no numbers.
  """
  # The repository first; a PYTHONPATH already set stays after it.
  path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
  env = dict(
      os.environ,
      PYTHONPATH=path,
      JAX_COMPILATION_CACHE_DIR=str(cache_dir),
      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
  )
  # Only the compile-speed flags of the test session pass on; device counts
  # are the child's own (``extra``).
  speed = [
      flag
      for flag in os.environ.get("XLA_FLAGS", "").split()
      if flag.startswith(COMPILE_SPEED_FLAG_PREFIXES)
  ]
  env.pop("XLA_FLAGS", None)
  env.update({k: str(v) for k, v in extra.items()})
  if speed:
    env["XLA_FLAGS"] = " ".join(speed + env.get("XLA_FLAGS", "").split())
  return env


def free_port() -> int:
  """A TCP port nobody listens on now (the OS picks it)."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def tensorboard_scalars(workdir) -> dict[str, dict[int, float]]:
  """``{tag: {step: value}}`` from the TensorBoard event files in ``workdir``.

  Reads the TFRecord framing (length, CRC, record, CRC) and the event
  protocol buffers with tensorboardX's own definitions.
  """
  from tensorboardX.proto import event_pb2

  scalars: dict[str, dict[int, float]] = {}
  for path in sorted(
      glob.glob(os.path.join(str(workdir), "events.out.tfevents.*"))
  ):
    with open(path, "rb") as f:
      data = f.read()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack("<Q", data[offset : offset + 8])
      record = data[offset + 12 : offset + 12 + length]
      offset += 12 + length + 4
      event = event_pb2.Event.FromString(record)
      for value in event.summary.value:
        scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars


def restore_here(path):
  """An orbax checkpoint read into this process's first device, whoever wrote it.

  A checkpoint written by several processes records their devices; reading
  it elsewhere needs the target layout named.
  """
  import jax
  import orbax.checkpoint as ocp

  checkpointer = ocp.StandardCheckpointer()
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
      checkpointer.metadata(path).item_metadata,
  )
  return checkpointer.restore(path, target)


def tiny(config, **overrides):
  """A config shrunk to seconds: a 4-channel ResNet-10, a few steps.

  ``overrides`` are dotted fields: ``tiny(c, **{"cutmix.mode": "elem"})``.
  """
  config.model.depth = 10
  config.model.width = 4
  config.batch_size = 16
  config.eval_batch_size = 16
  config.num_train_steps = 3
  config.log_every_steps = 1
  config.checkpoint_every_steps = 2
  config.progress_bar = False
  config.num_plot_samples = 4
  config.optimizer.warmup_epochs = 0.0  # A first step that moves the model.
  for key, value in overrides.items():
    node = config
    *path, last = key.split(".")
    for name in path:
      node = node[name]
    node[last] = value
  return config
