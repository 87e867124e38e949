"""The run's pictures: learning curves, and mixed images drawn from `MixParams`.

Each writes a PNG and returns the figure (a notebook shows it inline); no
matplotlib backend is chosen here.
"""

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

_CIFAR10 = tuple(
    "airplane automobile bird cat deer dog frog horse ship truck".split()
)


def class_names(dataset: str, num_classes: int) -> tuple[str, ...]:
  """Readable class names: CIFAR-10's words, digits' numerals, else indices."""
  if dataset == "cifar10":
    return _CIFAR10
  return tuple(str(i) for i in range(num_classes))


_MODES = {
    "batch": "one draw for the whole batch",
    "elem": "a draw for each example",
    "pair": "a draw for each pair of examples",
}


def mixing_title(cutmix) -> str:
  """What a run mixes, for the picture of its mixed batch (``config.cutmix``)."""
  if cutmix.method == "none":
    return "no mixing (cutmix.method='none'): the images as the step sees them"
  return (
      f"cutmix_jax.{cutmix.method}, mode={cutmix.mode!r} "
      f"({_MODES.get(cutmix.mode, cutmix.mode)}); prob {cutmix.prob:g} in "
      "training, 1 here"
  )


def outline_box(ax, box, *, color: str = "red", **style) -> None:
  """Outlines rows ``[y0, y1)``, columns ``[x0, x1)`` of an imshow'd image exactly.

  ``style``: more `plt.Rectangle` keywords (``linewidth`` 1.5 by default).
  """
  y0, x0, y1, x1 = (int(v) for v in box)
  if y1 > y0 and x1 > x0:
    style = {"linewidth": 1.5, **style}
    corner = (x0 - 0.5, y0 - 0.5)
    ax.add_patch(
        plt.Rectangle(
            corner, x1 - x0, y1 - y0, fill=False, edgecolor=color, **style
        )
    )


def plot_curves(path: str | None, records: Sequence[dict], *, title: str = ""):
  """Loss and accuracy against epochs from metrics.jsonl records (path None: no file)."""
  fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
  for split, style in (("train", "-"), ("test", "o-")):
    rows = [r for r in records if r.get("split") == split]
    if not rows:
      continue
    epochs = [r["epoch"] for r in rows]
    for ax, ys in (
        (ax_loss, [r["loss"] for r in rows]),
        (ax_acc, [100 * r["accuracy"] for r in rows]),
    ):
      ax.plot(epochs, ys, style, label=split, markersize=3)
  ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
  ax_acc.set(xlabel="epoch", ylabel="top-1 accuracy (%)", title="accuracy")
  for ax in (ax_loss, ax_acc):
    ax.grid(alpha=0.3)
    ax.legend()
  note = dict(transform=ax_loss.transAxes, fontsize=7, color="gray")
  ax_loss.text(0.01, 0.01, "train: on mixed labels", **note)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=110)
  return fig


def plot_cutmix_samples(
    path: str | None,
    images: np.ndarray,
    labels: np.ndarray,
    params,
    *,
    num_samples: int = 16,
    class_names: Sequence[str] | None = None,
    columns: int = 8,
    title: str = "",
):
  """A grid of mixed images titled with both classes and weights, boxes outlined.

  Everything shown is read from the `cutmix_jax.MixParams` (partner, ``lam``,
  ``box``).

  Args:
    path: where to write the PNG (``None``: do not write).
    images: ``uint8[B, H, W, C]`` the mixed images (``C`` of 1 or 3).
    labels: ``int[B]`` the original labels of the batch.
    params: the batch's `MixParams` (``None`` for an unmixed batch).
    num_samples: how many images to draw.
    class_names: names of the classes (default: indices).
    columns: images a row.
    title: a first line above the grid (`mixing_title`).
  """
  images = np.asarray(images)
  labels = np.asarray(labels)
  n = min(num_samples, len(images))
  names = class_names or [str(i) for i in range(int(labels.max()) + 1)]
  rows = -(-n // columns)
  fig, axes = plt.subplots(
      rows, columns, figsize=(1.7 * columns, 2.4 * rows), squeeze=False
  )
  for i, ax in enumerate(axes.flat):
    ax.axis("off")
    if i >= n:
      continue
    image = images[i]
    ax.imshow(
        image[..., 0] if image.shape[-1] == 1 else image,
        cmap="gray",
        interpolation="nearest",
    )
    own = names[int(labels[i])]
    if params is None or not bool(np.asarray(params.applied)[i]):
      ax.set_title(f"{own} 1.00", fontsize=8)
      continue
    lam = float(np.asarray(params.lam)[i])
    other = names[int(labels[int(np.asarray(params.partner)[i])])]
    ax.set_title(f"{own} {lam:.2f}\n{other} {1 - lam:.2f}", fontsize=8)
    if bool(np.asarray(params.is_cutmix)[i]):
      boxes = np.asarray(params.box)  # [B, 4]; [4] if one box for all.
      outline_box(ax, boxes[i] if boxes.ndim == 2 else boxes)
  resized = params is not None and getattr(params, "resized", None) is not None
  fig.suptitle(
      (f"{title}\n" if title else "")
      + "mixed training images: own class and weight, partner's class and "
      + (
          "weight (red: the box that holds the whole partner, resized)"
          if resized
          else "weight (red: each image's pasted box)"
      ),
      fontsize=9,
  )
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=110)
  return fig
