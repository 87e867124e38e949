"""The run's metrics: ``workdir/metrics.jsonl`` and TensorBoard scalars.

Each record is a JSON line and scalars ``<split>/<name>`` in event files in
the workdir. tensorboardX writes them in pure Python: `flax.metrics.tensorboard`
and `clu` would import TensorFlow into every run.
"""

import json
import os
from typing import Any

import tensorboardX


class MetricWriter:
  """Appends records to ``workdir/metrics.jsonl`` and to TensorBoard.

  Only an ``enabled`` writer writes. On resume, the records past the restored
  step are dropped (TensorBoard: ``purge_step``), so both read as one run.
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
