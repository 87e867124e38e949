"""What every contender is given: one batch description and its data."""

import dataclasses

import numpy as np

DTYPES = ("float32", "bfloat16", "uint8")


@dataclasses.dataclass(frozen=True)
class Batch:
  """A batch of NHWC images and integer labels, described by its shape.

  Attributes:
    batch: ``B``.
    side: ``H == W``.
    channels: ``C``.
    dtype: ``"float32"``, ``"bfloat16"`` or ``"uint8"``.
    num_classes: ``K`` for the integer labels.
  """

  batch: int
  side: int
  channels: int = 3
  dtype: str = "float32"
  num_classes: int = 10

  @property
  def shape(self) -> tuple[int, int, int, int]:
    return (self.batch, self.side, self.side, self.channels)

  @property
  def nbytes(self) -> int:
    itemsize = (
        1 if self.dtype == "uint8" else 2 if self.dtype == "bfloat16" else 4
    )
    return self.batch * self.side * self.side * self.channels * itemsize

  @property
  def label(self) -> str:
    """``64x224x224x3``: the shape as the tables print it."""
    return "x".join(str(n) for n in self.shape)

  def numpy_images(self, seed: int = 0) -> np.ndarray:
    """Random pixel values in ``[0, 255]``, as float32 or uint8 NumPy.

    bfloat16 has no NumPy dtype outside ml_dtypes, so it is returned as
    float32 and each framework converts it (every value is exact in bf16).
    """
    values = np.random.default_rng(seed).integers(0, 256, self.shape)
    return values.astype(np.uint8 if self.dtype == "uint8" else np.float32)

  def numpy_labels(self, seed: int = 0) -> np.ndarray:
    """Integer class indices, ``int32[B]``."""
    rng = np.random.default_rng(seed + 1)
    return rng.integers(0, self.num_classes, self.batch).astype(np.int32)

  def with_(self, **changes) -> "Batch":
    return dataclasses.replace(self, **changes)
