"""Class activation maps (Zhou et al., 2016) of the trainer's classifiers.

Every model in `train.models` ends in a global average pool and one linear
layer, so its logit for class ``k`` is the spatial mean of
``feature_map(x) @ kernel[:, k]`` plus ``bias[k]``: that map, the class
activation map (CAM), says where in the image the evidence for ``k`` lies.
The CutMix paper (Section 5.1, Figure 4) compares such maps of a baseline and
a CutMix model on CutMix-mixed images: a CutMix model is expected to light up
each class in its own region.

* `class_activation_maps(model, x)`: ``[B, h, w, K]`` maps.
* `restore_model(config, workdir)`: a run's classifier from its latest
  checkpoint.
* `region_agreement(...)`: on mixed images, the fraction of pixels where the
  larger of the two classes' maps belongs to the class whose pixels are
  there (a number for what the pictures show).
* `plot_cams(path, models, ...)`: the picture, test digits and mixed images.

The maps are at the last stage's resolution (2x2 for the digits model, 4x4
for CIFAR's ResNet-18) and are drawn upsampled bilinearly to the image size.
"""

from collections.abc import Mapping, Sequence
import os

from flax import nnx
import jax
import jax.numpy as jnp

# No backend is chosen here, so that a notebook's inline backend shows the
# figure; the study's command line writes files with Agg (experiments.low_data.main).
import matplotlib.pyplot as plt
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

import cutmix_jax
from train import checkpointing
from train import models
from train import plots
from train import steps
from train import train_state


def class_activation_maps(model: models.Classifier, x: jax.Array) -> jax.Array:
  """The class activation maps of a global-average-pooled classifier.

  Args:
    model: a `models.Classifier`, in evaluation mode (``model.eval()``: its
      running batch-norm averages).
    x: ``[B, H, W, C]`` normalised images.

  Returns:
    ``float32[B, h, w, K]``: ``maps.mean((1, 2)) + model.head.dense.bias``
    equals ``model(x)`` up to float rounding.
  """
  features = model.feature_map(x).astype(jnp.float32)
  kernel = model.head.dense.kernel[...].astype(jnp.float32)
  return jnp.einsum("bhwc,ck->bhwk", features, kernel)


def restore_model(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    num_classes: int = 10,
    in_channels: int = 3,
) -> models.Classifier:
  """The classifier of a trainer run, from the latest checkpoint in ``workdir``.

  Args:
    config: the run's configuration (it gives the architecture).
    workdir: the run's working directory (``workdir/checkpoints``).
    num_classes: ``K``.
    in_channels: the image channels.

  Returns:
    The model with the checkpoint's parameters and batch statistics.

  Raises:
    FileNotFoundError: ``workdir`` holds no checkpoint.
  """
  mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
  # The schedule only shapes the optimizer's state, which is restored too.
  schedule = train_state.learning_rate_schedule(config, 1, 1)
  graphdef, state = train_state.create_train_state(
      config,
      jax.random.key(0),
      mesh,
      schedule=schedule,
      num_classes=num_classes,
      in_channels=in_channels,
  )
  directory = os.path.join(
      os.path.abspath(workdir), "checkpoints"
  )  # Orbax: absolute.
  with ocp.CheckpointManager(directory) as manager:
    step = manager.latest_step()
    if step is None:
      raise FileNotFoundError(f"restore_model: no checkpoint in {directory}.")
    state = checkpointing.restore(manager, step, state)
  model, _ = nnx.merge(graphdef, state)
  model.eval()
  return model


@nnx.jit
def _maps_and_probabilities(model, x):
  maps = class_activation_maps(model, x)
  return maps, jax.nn.softmax(model(x), axis=-1)


def maps_and_probabilities(
    model: models.Classifier,
    images: np.ndarray,
    mean,
    std,
    *,
    batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
  """CAMs and class probabilities of uint8 images, a batch at a time.

  Args:
    model: the classifier.
    images: ``uint8[N, H, W, C]``.
    mean: the training set's per-channel mean (the model's normalisation).
    std: its standard deviation.
    batch_size: images a call (the last batch is padded, so one compile).

  Returns:
    ``(maps float32[N, h, w, K] at the feature resolution, softmax float32[N, K])``.
  """
  images = np.asarray(images)
  size = min(batch_size, len(images))
  maps, probabilities = [], []
  for start in range(0, len(images), size):
    chunk = images[start : start + size]
    padded = np.concatenate(
        [chunk, np.zeros((size - len(chunk),) + chunk.shape[1:], chunk.dtype)]
    )
    m, p = _maps_and_probabilities(model, steps.normalize(padded, mean, std))
    maps.append(np.asarray(m)[: len(chunk)])
    probabilities.append(np.asarray(p)[: len(chunk)])
  return np.concatenate(maps), np.concatenate(probabilities)


def upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
  """Bilinear resize of ``[B, h, w]`` maps to ``[B, height, width]``."""
  maps = jnp.asarray(maps, jnp.float32)
  return np.asarray(
      jax.image.resize(maps, (maps.shape[0], height, width), "bilinear")
  )


def mix_for_display(
    rng: jax.Array, images: np.ndarray, labels: np.ndarray, *, num_classes: int
) -> tuple[np.ndarray, cutmix_jax.MixParams]:
  """CutMix as in training (alpha 1), a box for every example (``mode="elem"``)."""
  mixed, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
      rng,
      jnp.asarray(images),
      jnp.asarray(labels),
      alpha=1.0,
      num_classes=num_classes,
      mode="elem",
      prob=1.0,
  )
  return np.asarray(mixed), jax.tree.map(np.asarray, params)


def pasted_masks(
    params: cutmix_jax.MixParams, height: int, width: int
) -> np.ndarray:
  """``bool[B, H, W]``: the pixels each example took from its partner."""
  rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
  y0, x0, y1, x1 = (np.asarray(params.box)[:, i, None, None] for i in range(4))
  inside = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
  return inside & np.asarray(params.applied)[:, None, None]


def mixed_agreement(
    model: models.Classifier,
    mixed: np.ndarray,
    labels: np.ndarray,
    params: cutmix_jax.MixParams,
    *,
    mean,
    std,
) -> float:
  """The mean `region_agreement` over mixed images of two different classes.

  Args:
    model: the classifier.
    mixed: ``uint8[B, H, W, C]`` mixed images (`mix_for_display`).
    labels: ``int[B]`` the labels before mixing.
    params: the mix's parameters.
    mean: the training set's per-channel mean.
    std: its standard deviation.

  Returns:
    A fraction in [0, 1].
  """
  labels = np.asarray(labels)
  pair = np.asarray(params.applied) & (
      labels[np.asarray(params.partner)] != labels
  )
  maps, _ = maps_and_probabilities(model, mixed, mean, std)
  agreement = region_agreement(
      maps, labels, params, image_size=mixed.shape[1:3]
  )
  return float(agreement[pair].mean())


def region_agreement(
    maps: np.ndarray,
    labels: np.ndarray,
    params: cutmix_jax.MixParams,
    *,
    image_size: tuple[int, int],
) -> np.ndarray:
  """Per mixed image: is the larger of the two classes' maps where its pixels are?

  Args:
    maps: ``[B, h, w, K]`` class activation maps (at any resolution; the two
      classes' maps are upsampled bilinearly to the image).
    labels: ``int[B]`` the labels before mixing.
    params: the mix's parameters.
    image_size: ``(H, W)`` of the images.

  Returns:
    ``float[B]``: the fraction of pixels where the map of the class whose
    pixels are there (the partner's inside the box, the image's own outside)
    is larger than the other class's map. Maps that show one class
    everywhere score that class's area.
  """
  height, width = image_size
  own = np.asarray(labels)
  theirs = own[np.asarray(params.partner)]
  index = np.arange(len(own))
  own_map = upsample(maps[index, :, :, own], height, width)
  their_map = upsample(maps[index, :, :, theirs], height, width)
  pasted = pasted_masks(params, height, width)
  right = np.where(pasted, their_map > own_map, own_map > their_map)
  return right.reshape(len(own), -1).mean(-1)


def _show(ax, image, cam=None, vmin=None, vmax=None):
  """The grey image, with a CAM over it in colour if given; no ticks."""
  ax.set_axis_on()
  if image.shape[-1] == 1:
    ax.imshow(image[..., 0], cmap="gray", interpolation="nearest")
  else:  # Digits repeat their grey level over three channels: still grey.
    ax.imshow(image, interpolation="nearest")
  if cam is not None:
    ax.imshow(
        cam,
        cmap="jet",
        alpha=0.5,
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
  ax.set_xticks([])
  ax.set_yticks([])


def plot_cams(
    path: str | None,
    named_models: Mapping[str, models.Classifier],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    mean,
    std,
    rng: jax.Array,
    num_show: int = 6,
    class_names: Sequence[str] | None = None,
    title: str = "",
):
  """CAMs of several models on test images and on CutMix-mixed test images.

  Top: ``num_show`` test images, each model's map for the true class.
  Bottom: ``num_show`` mixed images of two different classes with 30-70% of
  the pixels pasted (picked from one draw for legibility), each model's maps
  for both classes on one colour scale per model and image; the pasted box is
  dashed. Titles give the softmax probabilities. Below: each model's
  `region_agreement` over every mixed pair of different classes.

  Args:
    path: where to write the PNG (``None``: do not write).
    named_models: ``{name: model}``, e.g. ``{"baseline": ..., "CutMix": ...}``.
    images: ``uint8[N, H, W, C]`` test images (N >= num_show).
    labels: ``int[N]``.
    mean: the training set's per-channel mean (the models' normalisation).
    std: its standard deviation.
    rng: the key of the mixing draw.
    num_show: columns in each half.
    class_names: names of the classes (default: indices).
    title: a line above the figure.

  Returns:
    ``(figure, {name: mean region agreement})``.
  """
  images, labels = np.asarray(images), np.asarray(labels)
  num_classes = int(next(iter(named_models.values())).head.dense.out_features)
  names = class_names or [str(k) for k in range(num_classes)]
  mixed, params = mix_for_display(rng, images, labels, num_classes=num_classes)
  partner_labels = labels[params.partner]
  pair = params.applied & (partner_labels != labels)
  legible = np.flatnonzero(pair & (params.lam > 0.3) & (params.lam < 0.7))[
      :num_show
  ]
  plain = np.arange(min(num_show, len(images)))
  results = {
      name: (
          maps_and_probabilities(model, images, mean, std),
          maps_and_probabilities(model, mixed, mean, std),
      )
      for name, model in named_models.items()
  }
  height, width = images.shape[1:3]
  agreement = {
      name: float(
          region_agreement(
              mixed_out[0], labels, params, image_size=(height, width)
          )[pair].mean()
      )
      for name, (_, mixed_out) in results.items()
  }

  def at_image(maps, i, cls):
    return upsample(maps[i : i + 1, :, :, cls], height, width)[0]

  n_models = len(named_models)
  columns = max(len(plain), len(legible), 1)
  fig = plt.figure(
      figsize=(1.9 * columns + 0.6, 2.0 * (2 + 3 * n_models) + 0.8)
  )
  top, bottom = fig.subfigures(
      2, 1, height_ratios=[1 + n_models, 1 + 2 * n_models]
  )
  axes = top.subplots(n_models + 1, columns, squeeze=False)
  for ax in axes.flat:
    ax.set_axis_off()
  for j, i in enumerate(plain):
    _show(axes[0, j], images[i])
    axes[0, j].set_title(f"test image: {names[labels[i]]}", fontsize=9)
    for r, (name, ((maps, probs), _)) in enumerate(results.items(), start=1):
      cam = at_image(maps, i, labels[i])
      _show(axes[r, j], images[i], cam, cam.min(), cam.max())
      axes[r, j].set_title(
          f"p({names[labels[i]]}) = {probs[i, labels[i]]:.2f}", fontsize=8
      )
      if j == 0:
        axes[r, j].set_ylabel(f"{name}:\nCAM of the class", fontsize=9)
  top.suptitle(
      (f"{title}\n\n" if title else "")
      + "Test images and each model's CAM of the true class",
      fontsize=10,
  )

  axes = bottom.subplots(2 * n_models + 1, columns, squeeze=False)
  for ax in axes.flat:
    ax.set_axis_off()
  for j, i in enumerate(legible):
    a, b = labels[i], partner_labels[i]
    _show(axes[0, j], mixed[i])
    plots.outline_box(
        axes[0, j], params.box[i], color="white", linewidth=1.2, linestyle="--"
    )
    axes[0, j].set_title(
        f"{names[a]} {params.lam[i]:.2f} + "
        f"{names[b]} {1 - params.lam[i]:.2f} (box)",
        fontsize=9,
    )
    for m, (name, (_, (maps, probs))) in enumerate(results.items()):
      cams = {cls: at_image(maps, i, cls) for cls in (a, b)}
      vmin = min(c.min() for c in cams.values())
      vmax = max(c.max() for c in cams.values())
      for k, (cls, where) in enumerate(((a, "own"), (b, "pasted"))):
        ax = axes[1 + 2 * m + k, j]
        _show(ax, mixed[i], cams[cls], vmin, vmax)
        plots.outline_box(
            ax, params.box[i], color="white", linewidth=1.2, linestyle="--"
        )
        ax.set_title(
            f"CAM of {names[cls]}: p = {probs[i, cls]:.2f}", fontsize=8
        )
        if j == 0:
          ax.set_ylabel(f"{name}:\n{where} class", fontsize=9)
  bottom.suptitle(
      "CutMix-mixed test images (30-70% pasted, dashed box): each model's "
      "CAMs of both classes (red high, blue low; one scale per model and image)",
      fontsize=10,
  )
  summary = ", ".join(
      f"{name} {100 * value:.1f}%" for name, value in agreement.items()
  )
  one_class = np.maximum(params.lam, 1 - params.lam)[pair].mean()
  fig.text(
      0.5,
      0.003,
      f"All {int(pair.sum())} mixed test images of two classes: "
      "pixels where the larger of the two CAMs is the class whose pixels are there:"
      f"\n{summary} (seeing only the larger class everywhere: "
      f"{100 * one_class:.1f}%)",
      ha="center",
      fontsize=9,
  )
  if path:
    fig.savefig(path, dpi=100)
  return fig, agreement
