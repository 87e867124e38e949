"""Data: CIFAR-10/100 from tensorflow-datasets, or scikit-learn's digits offline.

Each process holds its share in host memory as uint8 NHWC arrays, so a batch
is an index lookup: the order of an epoch is a permutation drawn from
``(data_seed, epoch)`` only (a resumed run sees the same batches), and the
last incomplete batch is dropped. The crop, flip and normalisation run in the
jitted step; ``augment.on="host"`` crops and flips in NumPy on a prefetching
thread instead. When CIFAR is neither on disk nor downloadable, `load` raises
`DataUnavailableError` saying what to do; nothing falls back silently.
"""

from collections.abc import Iterator
import dataclasses
import os
import queue
import socket
import threading

import jax
import jax.numpy as jnp
import numpy as np

# The published per-channel statistics of the training sets, in [0, 255] units.
_CIFAR_STATS = {
    "cifar10": ((125.31, 122.95, 113.87), (62.99, 62.09, 66.70)),
    "cifar100": ((129.30, 124.07, 112.43), (68.17, 65.39, 70.42)),
}
_CIFAR_ARCHIVES = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
}
# load_digits' 1,797 images, split once, stratified, with this fixed seed.
DIGITS_TEST_SIZE = 360
DIGITS_SPLIT_SEED = 0


class DataUnavailableError(RuntimeError):
  """The data set is neither on disk nor downloadable."""


@dataclasses.dataclass(frozen=True)
class Data:
  """One process's share of a data set: uint8 NHWC images, int32 labels.

  ``mean`` and ``std`` are the training set's per-channel statistics in
  [0, 255]; the sizes count the examples of all processes.
  """

  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  num_classes: int
  mean: np.ndarray
  std: np.ndarray
  train_size: int
  test_size: int


def load(
    name: str,
    *,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Data:
  """Loads this process's share of ``"cifar10"``, ``"cifar100"`` or ``"digits"``.

  Args:
    name: the data set.
    data_dir: TFDS's data directory (``None``: TFDS's default).
    manual_dir: where a hand-downloaded CIFAR archive lies (``None``:
      ``$TFDS_MANUAL_DIR``, else ``<data_dir>/downloads/manual``).
    process_index: this process (default `jax.process_index`).
    process_count: the number of processes (default `jax.process_count`).

  Raises:
    DataUnavailableError: CIFAR is not prepared and cannot be downloaded.
  """
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  if name == "digits":
    return _load_digits(index, count)
  return _load_cifar(name, data_dir, index, count, manual_dir)


def pixel_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``float32[C]`` per-channel mean and standard deviation of uint8 images."""
  pixels = images.reshape(-1, images.shape[-1]).astype(np.float64)
  return pixels.mean(0).astype(np.float32), pixels.std(0).astype(np.float32)


def _upsample(images: np.ndarray, size: int) -> np.ndarray:
  """Bilinear resize of ``[N, h, w]`` images to ``size x size``, as JAX does it."""
  out = jax.image.resize(
      jnp.asarray(images, jnp.float32),
      (images.shape[0], size, size),
      "bilinear",
  )
  return np.asarray(out)


def _load_digits(index: int, count: int) -> Data:
  """scikit-learn's 1,797 8x8 digits as 32x32x3 uint8 (bilinear, grey x 3).

  A fixed stratified split (``random_state=0``): 1,437 train, 360 test.
  """
  from sklearn import datasets as sk_datasets
  from sklearn import model_selection

  digits = sk_datasets.load_digits()
  images = _upsample(digits.images * (255.0 / 16.0), 32)
  images = np.repeat(
      np.clip(np.round(images), 0, 255).astype(np.uint8)[..., None], 3, -1
  )
  labels = digits.target.astype(np.int32)
  x_train, x_test, y_train, y_test = model_selection.train_test_split(
      images,
      labels,
      test_size=DIGITS_TEST_SIZE,
      stratify=labels,
      random_state=DIGITS_SPLIT_SEED,
  )
  mean, std = pixel_statistics(x_train)

  shares = [np.array_split(x, count)[index] for x in (x_train, y_train)]
  shares += [np.array_split(x, count)[index] for x in (x_test, y_test)]
  return Data("digits", *shares, 10, mean, std, len(x_train), len(x_test))


def _download_host_reachable(url: str, timeout: float = 3.0) -> bool:
  """Whether the URL's host answers within seconds (TFDS retries for minutes)."""
  host = url.split("/")[2]
  try:
    with socket.create_connection((host, 443), timeout=timeout):
      return True
  except OSError:
    return False


def offline_message(name: str, data_dir: str) -> str:
  """What to do when CIFAR is not on disk and cannot be downloaded."""
  url = _CIFAR_ARCHIVES[name]
  manual_dir = os.path.join(data_dir, "downloads", "manual")
  return (
      f"Cannot load {name}: TFDS has no prepared copy in {data_dir} and the "
      f"download host of {url} cannot be reached (no network?). Nothing was "
      "trained, and no other data is used in its place. Two ways out:\n"
      f"  1. Put the CIFAR files where TFDS reads them: either copy a prepared "
      f"'{name}' directory (from `tfds build {name}` on a machine with "
      f"network) into {data_dir}, or download {url} by hand and place the "
      f"archive, unopened, in TFDS's manual-download directory {manual_dir} "
      "(or a directory you name with --config.tfds_manual_dir, TFDS's "
      "DownloadConfig(manual_dir=...)); then run the same command again.\n"
      "  2. Train offline on scikit-learn's bundled digits instead:\n"
      "     make train   (or: .venv/bin/python -m train.main "
      "--config=train/configs/default.py --workdir=workdir)"
  )


def _prepare_cifar(builder, name: str, manual_dir: str | None) -> None:
  """Makes sure TFDS has the data set on disk, or raises DataUnavailableError."""
  import tensorflow_datasets as tfds

  if builder.is_prepared():
    return
  data_dir = os.path.dirname(os.path.dirname(builder.data_dir.rstrip("/")))
  manual_dir = manual_dir or os.path.join(data_dir, "downloads", "manual")
  archive = os.path.join(manual_dir, _CIFAR_ARCHIVES[name].rsplit("/", 1)[1])
  if not os.path.exists(archive) and not _download_host_reachable(
      _CIFAR_ARCHIVES[name]
  ):
    raise DataUnavailableError(offline_message(name, data_dir))
  try:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
  except Exception as e:
    raise DataUnavailableError(
        offline_message(name, data_dir) + f"\n(TFDS said: {e})"
    ) from e


def _load_cifar(
    name: str,
    data_dir: str | None,
    index: int,
    count: int,
    manual_dir: str | None = None,
) -> Data:
  """This process's share of CIFAR from TFDS (`tfds.split_for_jax_process`)."""
  import tensorflow as tf
  import tensorflow_datasets as tfds

  tf.config.set_visible_devices([], "GPU")  # TF must not take the accelerator.
  builder = tfds.builder(name, data_dir=data_dir)
  _prepare_cifar(builder, name, manual_dir or os.environ.get("TFDS_MANUAL_DIR"))

  def arrays(split):
    local = tfds.split_for_jax_process(
        split, process_index=index, process_count=count
    )
    chunks = list(tfds.as_numpy(builder.as_dataset(split=local).batch(10_000)))
    images = np.concatenate([c["image"] for c in chunks]).astype(np.uint8)
    return images, np.concatenate([c["label"] for c in chunks]).astype(np.int32)

  def global_size(split, local_size):
    known = builder.info.splits.get(split)  # Unknown for mocked data.
    return known.num_examples if known else local_size * count

  x_train, y_train = arrays("train")
  x_test, y_test = arrays("test")
  train_size = global_size("train", len(y_train))
  mean, std = (np.asarray(v, np.float32) for v in _CIFAR_STATS[name])
  num_classes = builder.info.features["label"].num_classes
  sizes = (train_size, global_size("test", len(y_test)))
  return Data(
      name, x_train, y_train, x_test, y_test, num_classes, mean, std, *sizes
  )


def epoch_order(data_seed: int, epoch: int, n: int) -> np.ndarray:
  """The order of the training examples in an epoch: a function of (seed, epoch) only."""
  return np.random.default_rng([data_seed, epoch]).permutation(n)


def steps_per_epoch(
    data: Data, local_batch_size: int, process_count: int
) -> int:
  """Full batches per epoch, the same on every process (the smallest share counts)."""
  return (data.train_size // process_count) // local_batch_size


def train_batch(
    data: Data,
    data_seed: int,
    step: int,
    local_batch_size: int,
    num_steps_per_epoch: int,
) -> tuple[np.ndarray, np.ndarray]:
  """This process's images and labels for a global step."""
  epoch, index = divmod(step, num_steps_per_epoch)
  order = epoch_order(data_seed, epoch, len(data.train_labels))
  take = order[index * local_batch_size : (index + 1) * local_batch_size]
  return data.train_images[take], data.train_labels[take]


def crop_and_flip_host(
    images: np.ndarray,
    seed: tuple[int, ...],
    *,
    pad: int = 4,
    flip: bool = True,
) -> np.ndarray:
  """`steps.augment_on_device`'s crop and flip in NumPy, deterministic in ``seed``."""
  rng = np.random.default_rng(list(seed))
  n, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  dy = rng.integers(0, 2 * pad + 1, n)
  dx = rng.integers(0, 2 * pad + 1, n)
  rows = dy[:, None] + np.arange(h)[None]
  cols = dx[:, None] + np.arange(w)[None]
  out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
  if flip:
    mirror = rng.random(n) < 0.5
    out[mirror] = out[mirror, :, ::-1]
  return out


def prefetch(batches: Iterator, size: int = 2) -> Iterator:
  """Runs an iterator on a background thread, ``size`` items ahead."""
  q: queue.Queue = queue.Queue(maxsize=size)
  done = object()

  def work():
    try:
      for item in batches:
        q.put(item)
    finally:
      q.put(done)

  threading.Thread(target=work, daemon=True).start()
  while (item := q.get()) is not done:
    yield item
