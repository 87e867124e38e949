"""The study's training subset: a stratified fraction of the training split.

The test split is always whole. The subset is taken from the data the trainer
loads (`train.input_pipeline.load`, one process), so the runs of a study
train on exactly the same images.
"""

import dataclasses

import numpy as np

from train import input_pipeline


def check_fraction(fraction: float) -> None:
  """Raises ValueError naming ``config.train_fraction`` outside (0, 1]."""
  if not 0.0 < fraction <= 1.0:
    raise ValueError(
        f"config.train_fraction: expected a value in (0, 1], got {fraction!r}."
    )


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
  """Sorted indices of ``size`` examples whose class counts follow ``labels``'.

  scikit-learn's stratified `train_test_split`: each class keeps its share
  of ``size`` (rounded, so counts differ by at most one from the exact
  proportion), the examples within a class chosen at random; a
  deterministic function of ``(labels, size, seed)``.

  Raises:
    ValueError: naming ``config.train_fraction`` when ``size`` is smaller
      than the number of classes (some class would have no example).
  """
  from sklearn import model_selection

  labels = np.asarray(labels)
  if size >= len(labels):
    return np.arange(len(labels))
  num_classes = len(np.unique(labels))
  if size < num_classes:
    raise ValueError(
        f"config.train_fraction: expected a fraction that keeps at least one "
        f"image of each of the {num_classes} classes, got one that keeps "
        f"{size} of {len(labels)} images."
    )
  kept, _ = model_selection.train_test_split(
      np.arange(len(labels)),
      train_size=size,
      stratify=labels,
      random_state=seed,
  )
  return np.sort(kept)


def subset(
    data: input_pipeline.Data, fraction: float, seed: int
) -> input_pipeline.Data:
  """``floor(fraction * N)`` of the training images, stratified.

  The digits are normalised with the statistics of the kept images; CIFAR
  keeps its published statistics.
  """
  check_fraction(fraction)
  size = int(np.floor(fraction * data.train_size + 1e-9))  # 71.85 -> 71.
  kept = stratified_subset(data.train_labels, size, seed)
  images = data.train_images[kept]
  mean, std = data.mean, data.std
  if data.name == "digits":
    mean, std = input_pipeline.pixel_statistics(images)
  return dataclasses.replace(
      data,
      train_images=images,
      train_labels=data.train_labels[kept],
      mean=mean,
      std=std,
      train_size=len(kept),
  )
