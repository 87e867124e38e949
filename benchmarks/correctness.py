"""Is the label right about the image? Measured, not claimed, for every contender.

The provenance trick: fill image ``i`` with the constant ``i + 1`` and give it
the class ``i`` (``num_classes = B``). After mixing, every output pixel names
the image it came from, so the fraction of image ``i``'s pixels that came
from image ``j`` can be counted and compared with the weight the contender
put on class ``j`` in row ``i`` of its soft labels. For a correct CutMix the
two are equal for every ``(i, j)``; a blend (MixUp) makes values that name no
image, which the "foreign pixels" column counts.
"""

import dataclasses

import numpy as np

from benchmarks.contenders import Contender
from benchmarks.workload import Batch


@dataclasses.dataclass(frozen=True)
class Check:
  """One contender's measured correctness on one batch description.

  Attributes:
    name: the contender.
    dtype: the input dtype.
    out_dtype: the dtype it returned (``None`` if it could not run).
    label_error: max over draws, examples and classes of
      ``|label weight - pixel fraction|``; ``None`` when not measurable.
    foreign_pixels: the fraction of output pixels whose value names no input
      image (0 for a pure paste).
    status: ``"ok"`` or why it did not run.
  """

  name: str
  dtype: str
  out_dtype: str | None
  label_error: float | None
  foreign_pixels: float | None
  status: str = "ok"

  @property
  def dtype_kept(self) -> bool | None:
    return None if self.out_dtype is None else self.out_dtype == self.dtype


def provenance_images(batch: Batch) -> np.ndarray:
  """Image ``i`` filled with ``i + 1`` (exact in uint8, bfloat16, float32)."""
  values = np.arange(1, batch.batch + 1, dtype=np.float32)
  images = np.broadcast_to(values[:, None, None, None], batch.shape).copy()
  return images.astype(np.uint8 if batch.dtype == "uint8" else np.float32)


def pixel_fractions(out: np.ndarray, batch_size: int) -> np.ndarray:
  """``[i, j]``: the fraction of output image ``i``'s values equal to ``j + 1``."""
  flat = out.reshape(out.shape[0], -1)
  return np.stack(
      [(flat == j + 1).mean(axis=1) for j in range(batch_size)], axis=1
  )


def check(contender: Contender, batch: Batch, seeds: range) -> Check:
  """Mixes the provenance batch with several seeds and measures the worst case."""
  if contender.missing:
    return Check(
        contender.name, batch.dtype, None, None, None, contender.missing
    )
  reason = contender.supports(batch)
  if reason:
    return Check(contender.name, batch.dtype, None, None, None, reason)
  # num_classes = B: class j is image j, so labels name images too.
  batch = batch.with_(num_classes=batch.batch)
  images = provenance_images(batch)
  labels = np.arange(batch.batch, dtype=np.int32)
  label_error, foreign, out_dtype = 0.0, 0.0, None
  try:
    for seed in seeds:
      out, out_dtype, soft = contender.mix(images, labels, batch, seed)
      fractions = pixel_fractions(out, batch.batch)
      foreign = max(foreign, float(1.0 - fractions.sum(axis=1).min()))
      label_error = max(label_error, float(np.abs(soft - fractions).max()))
  except Exception as e:
    # A peer that raises on a dtype is a finding, not a crash of the run.
    return Check(
        contender.name,
        batch.dtype,
        None,
        None,
        None,
        f"raised {type(e).__name__}",
    )
  # A blend is not a paste: its label is a blend weight, not a pixel count.
  return Check(
      contender.name,
      batch.dtype,
      out_dtype,
      label_error if contender.pastes else None,
      foreign,
  )


def check_all(
    contenders: list[Contender], batch: Batch, dtypes, seeds: range
) -> list[Check]:
  """Every contender that mixes (not the floor rows) on every dtype."""
  return [
      check(c, batch.with_(dtype=dtype), seeds)
      for c in contenders
      if c.mix is not None
      for dtype in dtypes
  ]
