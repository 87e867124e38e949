"""Every implementation the benchmark runs, behind one small interface.

A `Contender` can do two things for a `Batch`: give a zero-argument runner
that performs one blocking call (for timing), and mix a given NumPy batch
(for the correctness check). Contenders whose library is missing carry the
reason instead, and the tables print it.
"""

from collections.abc import Callable
import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import naive
from benchmarks import peers
from benchmarks.baseline import Baseline
from benchmarks.workload import Batch
import cutmix_jax
from cutmix_jax._src import box_rules
from cutmix_jax._src import sampling

# (rng, images, labels) -> (images, labels), for a given number of classes.
JaxMixer = Callable[[int], Callable]
# (images NHWC, int labels, batch, seed)
#   -> (images NHWC as float64, output dtype name, soft labels as float64)
MixOnce = Callable[
    [np.ndarray, np.ndarray, Batch, int], tuple[np.ndarray, str, np.ndarray]
]


@dataclasses.dataclass(frozen=True)
class Contender:
  """One row of the tables.

  Attributes:
    name: the row name.
    group: which ``--only`` selection it belongs to: ``floor``,
      ``cutmix_jax``, ``baseline`` (a previous revision, ``--baseline``),
      ``parts``, ``naive``, ``keras`` or ``timm``.
    runner: ``Batch -> (() -> None)``, one blocking call per invocation.
    mix: for the correctness table; ``None`` for the floor rows.
    missing: why it cannot run here (``"not installed"``), else ``None``.
    pastes: whether it is a CutMix (its pixels must come from the image or
      its partner, so the provenance check applies).
    supports: ``Batch -> None`` or the reason it cannot take that batch.
  """

  name: str
  group: str
  runner: Callable[[Batch], Callable[[], None]] | None = None
  mix: MixOnce | None = None
  missing: str | None = None
  pastes: bool = True
  supports: Callable[[Batch], str | None] = lambda batch: None


def _device_batch(batch: Batch):
  images = jnp.asarray(batch.numpy_images()).astype(batch.dtype)
  return images, jnp.asarray(batch.numpy_labels())


@functools.cache
def _jitted(make: JaxMixer, num_classes: int):
  """One jitted function per contender and class count.

  Sections that meet the same shapes (the speed table, the correctness check,
  the scaling sweep) then share compiled executables instead of recompiling.
  """
  return jax.jit(make(num_classes))


def _jax_runner(make: JaxMixer, batch: Batch) -> Callable[[], None]:
  """A jitted call on device-resident data, a fresh key each call."""
  fn = _jitted(make, batch.num_classes)
  images, labels = _device_batch(batch)
  # Keys are made up front, so a call costs one dispatch like the floor's.
  keys = itertools.cycle(list(jax.random.split(jax.random.key(0), 16)))
  return lambda: jax.block_until_ready(fn(next(keys), images, labels))


def _jax_mix(
    make: JaxMixer,
    images: np.ndarray,
    labels: np.ndarray,
    batch: Batch,
    seed: int,
):
  fn = _jitted(make, batch.num_classes)
  x = jnp.asarray(images).astype(batch.dtype)
  out, soft = fn(jax.random.key(seed), x, jnp.asarray(labels))
  return (
      np.asarray(out.astype(jnp.float32), np.float64),
      str(out.dtype),
      np.asarray(soft, np.float64),
  )


def _jax_contender(
    name: str, group: str, make: JaxMixer, *, pastes=True, missing=None
) -> Contender:
  return Contender(
      name=name,
      group=group,
      runner=functools.partial(_jax_runner, make),
      mix=functools.partial(_jax_mix, make),
      missing=missing,
      pastes=pastes,
  )


def _floor(num_classes):
  """Reads the batch twice (itself and its reverse) and writes it once."""
  del num_classes
  return lambda rng, images, labels: jnp.maximum(images, jnp.flip(images, 0))


def _copy(num_classes):
  """Reads the batch once and writes it once."""
  del num_classes
  return lambda rng, images, labels: jnp.copy(images)


def _library(fn, **options):
  def make(num_classes):
    return functools.partial(fn, num_classes=num_classes, **options)

  return make


# `one_of`'s row: the docs' choice of three methods (0.1 left: nothing).
# Every method is computed on the batch and each example keeps its choice's,
# so it costs about the three methods together.
ONE_OF_CHOICES = (
    (0.4, functools.partial(cutmix_jax.cutmix, alpha=1.0)),
    (0.3, functools.partial(cutmix_jax.mixup, alpha=0.8)),
    (0.2, cutmix_jax.resizemix),
)

# The library's rows: (row name, function, mode, whether it pastes, extra
# options). Only cutmix, mixup and mixup_or_cutmix are called on a baseline
# revision: their signatures are the same in every revision (the samplers'
# are not). ResizeMix (its values are resampled, not selected) and one_of
# have no baseline twin: revisions before them lack them.
LIBRARY_CALLS = (
    ("cutmix batch", "cutmix", "batch", True, {}),
    ("cutmix elem", "cutmix", "elem", True, {}),
    ("cutmix pair", "cutmix", "pair", True, {}),
    ("resizemix batch", "resizemix", "batch", False, {}),
    ("resizemix elem", "resizemix", "elem", False, {}),
    ("mixup batch", "mixup", "batch", False, {}),
    ("mixup elem", "mixup", "elem", False, {}),
    ("mixup_or_cutmix elem", "mixup_or_cutmix", "elem", False, {}),
    (
        "one_of elem (cutmix, mixup, resizemix)",
        "one_of",
        "elem",
        False,
        {"choices": ONE_OF_CHOICES},
    ),
)
_BASELINE_FUNCTIONS = ("cutmix", "mixup", "mixup_or_cutmix")


def _library_rows(baseline: Baseline | None) -> list[Contender]:
  """The current library's rows, each followed by its baseline twin."""
  rows = []
  for name, function, mode, pastes, options in LIBRARY_CALLS:
    rows.append(
        _jax_contender(
            name,
            "cutmix_jax",
            _library(getattr(cutmix_jax, function), mode=mode, **options),
            pastes=pastes,
        )
    )
    if baseline is not None and function in _BASELINE_FUNCTIONS:
      rows.append(
          _jax_contender(
              f"{name} {baseline.label}",
              "baseline",
              _library(getattr(baseline.module, function), mode=mode),
              pastes=pastes,
          )
      )
  return rows


def _research(num_classes):
  return functools.partial(naive.research_cutmix, num_classes=num_classes)


def _keras(num_classes):
  keras, _ = peers.load_keras()
  return peers.keras_cutmix_fn(keras, num_classes)


def _timm_mixup(mode: str, num_classes: int):
  module, _ = peers.load_timm_mixup()
  return module.Mixup(
      mixup_alpha=0.0,
      cutmix_alpha=1.0,
      prob=1.0,
      mode=mode,
      label_smoothing=0.0,
      num_classes=num_classes,
  )


def _torch_images(images: np.ndarray, dtype: str):
  """NHWC NumPy -> a contiguous NCHW torch tensor (timm's layout)."""
  import torch

  x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
  return x.to(getattr(torch, dtype))


def _timm_runner(mode: str, batch: Batch) -> Callable[[], None]:
  import torch

  mixup = _timm_mixup(mode, batch.num_classes)
  x = _torch_images(batch.numpy_images(), batch.dtype)
  y = torch.from_numpy(batch.numpy_labels()).long()
  # timm pastes into x in place (batch mode); the pixel values do not
  # change the cost, so the same tensor is reused.
  return lambda: mixup(x, y)


def _timm_mix(
    mode: str, images: np.ndarray, labels: np.ndarray, batch: Batch, seed: int
):
  import torch

  mixup = _timm_mixup(mode, batch.num_classes)
  # timm draws from NumPy's global generator: seed that one.
  np.random.seed(seed)  # noqa: NPY002
  x = _torch_images(images, batch.dtype)
  out, soft = mixup(x, torch.from_numpy(labels).long())
  nhwc = out.float().permute(0, 2, 3, 1).numpy().astype(np.float64)
  return (
      nhwc,
      str(out.dtype).removeprefix("torch."),
      soft.float().numpy().astype(np.float64),
  )


def _timm_supports(batch: Batch) -> str | None:
  return None if batch.batch % 2 == 0 else "odd batch (timm asserts even)"


def _timm_contender(name: str, mode: str, missing: str | None) -> Contender:
  return Contender(
      name=name,
      group="timm",
      runner=functools.partial(_timm_runner, mode),
      mix=functools.partial(_timm_mix, mode),
      missing=missing,
      supports=_timm_supports,
  )


def _sampling(num_classes):
  """Only the parameter draw of `cutmix` (elem mode): no pixels move."""
  del num_classes

  def sample(rng, images, labels):
    del labels
    keys, layout = sampling.layout(rng, images.shape[0], "elem", None)
    size = images.shape[1:3]
    return sampling.draw_cutmix(keys, layout, size, 1.0, 1.0, box_rules.paper())

  return sample


def _paste_runner(merged: bool, batch: Batch) -> Callable[[], None]:
  """Only the paste of `cutmix` (elem mode), its parameters drawn beforehand.

  ``merged=True`` returns the same paste reshaped to ``[B, H, W * C]``: a
  diagnostic of the output layout. XLA:CPU fuses the reshape into the select
  and then loops over long merged rows instead of an innermost C = 3 axis,
  so the gap between the two rows is what the NHWC layout costs there.
  """
  images, labels = _device_batch(batch)
  _, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
      jax.random.key(0),
      images,
      labels,
      mode="elem",
      num_classes=batch.num_classes,
  )

  def paste(images, params):
    out = cutmix_jax.cut_and_paste(images, params)
    return out.reshape(out.shape[:2] + (-1,)) if merged else out

  fn = jax.jit(paste)
  return lambda: jax.block_until_ready(fn(images, params))


FLOOR = "floor"


def all_contenders(baseline: Baseline | None = None) -> list[Contender]:
  """Every row, floor first (the ratios divide by it).

  Args:
    baseline: a previous revision of the library; its rows (``cutmix batch
      [d9d76eb]``, ...) then follow their current twins.
  """
  _, keras_missing = peers.load_keras()
  _, timm_missing = peers.load_timm_mixup()
  return [
      Contender(FLOOR, "floor", runner=functools.partial(_jax_runner, _floor)),
      Contender("copy", "floor", runner=functools.partial(_jax_runner, _copy)),
      *_library_rows(baseline),
      Contender(
          "elem: sampling only",
          "parts",
          runner=functools.partial(_jax_runner, _sampling),
      ),
      Contender(
          "elem: paste only (params given)",
          "parts",
          runner=functools.partial(_paste_runner, False),
      ),
      Contender(
          "elem: paste only, [B, H, W*C] out",
          "parts",
          runner=functools.partial(_paste_runner, True),
      ),
      _jax_contender("research JAX (1 box, float mask)", "naive", _research),
      _jax_contender(
          "keras.layers.CutMix (jax, jit)",
          "keras",
          _keras,
          missing=keras_missing,
      ),
      _timm_contender("timm Mixup batch (torch cpu)", "batch", timm_missing),
      _timm_contender("timm Mixup elem (torch cpu)", "elem", timm_missing),
  ]


GROUPS = ("floor", "cutmix_jax", "baseline", "parts", "naive", "keras", "timm")


def select(
    groups: set[str] | None, baseline: Baseline | None = None
) -> list[Contender]:
  """The contenders of the chosen groups; the floor is always kept."""
  chosen = all_contenders(baseline)
  if groups is None:
    return chosen
  return [c for c in chosen if c.name == FLOOR or c.group in groups]
