"""The run's metrics on disk: ``workdir/metrics.jsonl`` and TensorBoard scalars.

Every record goes to both: one JSON object a line in ``metrics.jsonl`` (read
back by `read_metrics`, the plots and the notebook), and scalars named
``<split>/<name>`` in TensorBoard event files in the workdir itself, so
``tensorboard --logdir WORKDIR`` shows the run as it goes.

The event files are written with tensorboardX: a pure-Python writer (numpy
and protobuf only) that installs cleanly beside the pinned stack and is
quick to import. `flax.metrics.tensorboard` would need the ``tensorboard``
package and import TensorFlow into every run (the digits run never loads
it); `clu.metric_writers` also writes through TensorFlow, and its last
release is from 2024.
"""

import json
import os
from typing import Any

import tensorboardX


class MetricWriter:
  """Appends records to ``workdir/metrics.jsonl`` and to TensorBoard.

  Only one process writes (``enabled``); the others hold a writer that does
  nothing. On resume, the records past the restored step (written by the
  interrupted run after its last checkpoint) are dropped from the JSONL file
  and hidden in TensorBoard (``purge_step``), so both read as one run.
  """

  def __init__(self, workdir: str, *, resume_step: int, enabled: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.enabled = enabled
    self._events = None
    if not enabled:
      return
    if os.path.exists(self.path):
      kept = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
      with open(self.path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    self._events = tensorboardX.SummaryWriter(
        workdir, purge_step=resume_step + 1 if resume_step else None
    )

  def write(self, *, step: int, split: str, **values: Any) -> None:
    """Writes one record: its step, its split (``train``, ``test``) and values."""
    if not self.enabled:
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(dict(step=step, split=split, **values)) + "\n")
    for name, value in values.items():
      self._events.add_scalar(f"{split}/{name}", value, global_step=step)
    self._events.flush()

  def close(self) -> None:
    if self._events is not None:
      self._events.close()


def read_metrics(path: str) -> list[dict]:
  """The records of a metrics.jsonl file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
