"""Pictures of ResizeMix and of TransMix's attention-weighted labels.

Each function mixes a small synthetic batch (coloured shapes on plain
backgrounds, so it needs no download) with the library, draws the result with
the box outlined (read from the `MixParams` that `cutmix_jax.with_params`
returns) and the label weights in the titles, writes a PNG if given a path,
and returns the figure. ``.venv/bin/python -m experiments.method_figures``
writes both into ``docs/images`` (``--out DIR`` elsewhere).
"""

import argparse
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import cutmix_jax
from train import plots

_OUTLINE = "#ff2d55"
_MAX_SEEDS = 64  # keys tried, in turn, for a draw that shows the idea

# (object colour, background colour, shape) of each synthetic image.
_SCENES = (
    ((0.95, 0.25, 0.2), (0.2, 0.35, 0.75), "disc"),
    ((1.0, 0.85, 0.1), (0.15, 0.5, 0.25), "triangle"),
    ((0.95, 0.95, 0.95), (0.45, 0.2, 0.5), "square"),
    ((0.2, 0.9, 0.9), (0.25, 0.22, 0.2), "cross"),
)
NAMES = tuple(shape for _, _, shape in _SCENES)


def synthetic_objects(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
  """Four images of one object each, and where the object is.

  Returns ``float32[4, size, size, 3]`` images in [0, 1] (a disc, a
  triangle, a square and a cross, each centred on a plain background with a
  faint texture) and ``bool[4, size, size]`` object masks.
  """
  y, x = (np.mgrid[0:size, 0:size] + 0.5) / size - 0.5
  shapes = {
      "disc": x**2 + y**2 < 0.3**2,
      "triangle": (y < 0.28) & (y > -0.3 + 2 * np.abs(x)),
      "square": (np.abs(x) < 0.24) & (np.abs(y) < 0.24),
      "cross": ((np.abs(x) < 0.08) | (np.abs(y) < 0.08))
      & (np.abs(x) < 0.32)
      & (np.abs(y) < 0.32),
  }
  texture = 0.06 * np.sin(9 * np.pi * (x + y))[..., None]
  images, masks = [], []
  for colour, background, shape in _SCENES:
    mask = shapes[shape]
    image = np.where(mask[..., None], colour, np.add(background, texture))
    images.append(np.clip(image, 0, 1))
    masks.append(mask)
  return np.asarray(images, np.float32), np.asarray(masks)


def _same_pairs(seed: int, images, labels, **options):
  """CutMix and ResizeMix with one key: the same partners (one key, one draw)."""
  out = {}
  for name, fn in (
      ("CutMix", cutmix_jax.cutmix),
      ("ResizeMix", cutmix_jax.resizemix),
  ):
    out[name] = cutmix_jax.with_params(fn)(
        jax.random.key(seed),
        images,
        labels,
        num_classes=images.shape[0],
        mode="pair",
        **options,
    )
  partners = [np.asarray(p.partner) for _, _, p in out.values()]
  assert np.array_equal(*partners), "one key gives both methods one pairing"
  return out


def _shows_the_idea(drawn, masks) -> bool:
  """Both methods paste a box of 20-45% into every example, and CutMix's box
  misses most of some partner's object (what ResizeMix is for)."""
  for _, _, params in drawn.values():
    if not np.asarray(params.applied).all():
      return False
    pasted = 1 - np.asarray(params.lam)
    if pasted.min() < 0.2 or pasted.max() > 0.45:
      return False
  params = drawn["CutMix"][2]
  box, partner = np.asarray(params.box), np.asarray(params.partner)
  seen = [
      masks[partner[i], y0:y1, x0:x1].sum() / masks[partner[i]].sum()
      for i, (y0, x0, y1, x1) in enumerate(box)
  ]
  return min(seen) < 0.35


def resizemix_figure(path: str | None = None):
  """CutMix and ResizeMix of the same pairs, boxes outlined, weights in titles.

  Columns: the example, its partner, CutMix (the partner's pixels at the
  box's place: often background), ResizeMix (the whole partner, shrunk
  into the box). The titles give the label weights of the two classes:
  both are the exact pasted fraction.
  """
  images, masks = synthetic_objects()
  labels = jnp.arange(images.shape[0])
  for seed in range(_MAX_SEEDS):
    drawn = _same_pairs(seed, jnp.asarray(images), labels)
    if _shows_the_idea(drawn, masks):
      break
  partner = np.asarray(drawn["CutMix"][2].partner)
  fig, grid = plt.subplots(4, 4, figsize=(9.6, 10.4))
  for i in range(4):
    j = partner[i]
    panels = [
        (f"example: {NAMES[i]}", images[i], None),
        (f"partner: {NAMES[j]}", images[j], None),
    ]
    for name, (out, soft, params) in drawn.items():
      soft = np.asarray(soft)
      title = (
          f"{name}\n{NAMES[i]} {soft[i, i]:.2f}, {NAMES[j]} {soft[i, j]:.2f}"
      )
      panels.append((title, np.asarray(out[i]), np.asarray(params.box[i])))
    for ax, (title, picture, box) in zip(grid[i], panels):
      ax.imshow(np.clip(picture, 0, 1), interpolation="nearest")
      if box is not None:
        plots.outline_box(ax, box, color=_OUTLINE, linewidth=2)
      ax.set_title(title, fontsize=9)
      ax.set_xticks([])
      ax.set_yticks([])
  fig.suptitle(
      "Same pairs, same keys: CutMix pastes the partner's pixels at the box "
      "(maybe only background);\nResizeMix pastes the whole partner resized "
      "into the box. Labels: the exact pasted fraction.",
      fontsize=10,
  )
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=100)
  return fig


def object_attention(mixed_masks, patch: int, sharpness: float = 6.0):
  """A hand-made class-token attention: high on the tokens that show an object.

  ``bool[B, H, W]`` object masks of the mixed images (mixed with the images'
  own `MixParams`, so they say where each object is now) to ``float32[B, N]``
  attention over the ``(H / patch) (W / patch)`` tokens, row-major, like a
  trained ViT's class token that looks at objects more than at background.
  """
  b, h, w = mixed_masks.shape
  tokens = mixed_masks.reshape(b, h // patch, patch, w // patch, patch)
  objectness = tokens.mean(axis=(2, 4)).reshape(b, -1)
  return jax.nn.softmax(sharpness * jnp.asarray(objectness, jnp.float32), -1)


def transmix_figure(path: str | None = None, patch: int = 8):
  """A patch-aligned CutMix, a hand-made attention, and both label weights.

  Rows: examples. Columns: the mixed input with its token grid and the box;
  the class token's attention over the tokens (the box outlined); the label
  weights of the two classes by area (CutMix) and by attention (TransMix).
  """
  images, masks = synthetic_objects()
  size = images.shape[1]
  labels = jnp.arange(images.shape[0])
  mix = cutmix_jax.with_params(cutmix_jax.cutmix)
  box_rule = cutmix_jax.boxes.on_patch_grid(patch)
  for seed in range(_MAX_SEEDS):
    out, area_soft, params = mix(
        jax.random.key(seed),
        jnp.asarray(images),
        labels,
        num_classes=4,
        mode="pair",
        box=box_rule,
    )
    pasted = 1 - np.asarray(params.lam)
    if np.asarray(params.applied).all() and 0.2 <= pasted.min() <= 0.5:
      break
  # The objects move with their pixels: the masks take the same params.
  mixed_masks = cutmix_jax.cut_and_paste(jnp.asarray(masks), params)
  attention = object_attention(np.asarray(mixed_masks), patch)
  weights = cutmix_jax.transmix_weights(
      attention, params, image_size=(size, size), patch_size=patch
  )
  trans_soft = cutmix_jax.mix_labels(
      labels, params._replace(lam=weights), num_classes=4
  )
  rows = (0, 1, 2)
  grid_side = size // patch
  partner = np.asarray(params.partner)
  fig, grid = plt.subplots(
      len(rows), 3, figsize=(11, 3.5 * len(rows)),
      gridspec_kw={"width_ratios": [1, 1, 1.3]},
  )  # fmt: skip
  for r, i in enumerate(rows):
    j = partner[i]
    box = np.asarray(params.box[i])
    ax = grid[r, 0]
    ax.imshow(np.clip(np.asarray(out[i]), 0, 1), interpolation="nearest")
    for line in range(0, size + 1, patch):
      ax.axhline(line - 0.5, color="white", linewidth=0.4, alpha=0.6)
      ax.axvline(line - 0.5, color="white", linewidth=0.4, alpha=0.6)
    plots.outline_box(ax, box, color=_OUTLINE, linewidth=2)
    ax.set_title(
        f"{NAMES[i]} with a box of {NAMES[j]}\n{grid_side}x{grid_side} "
        f"tokens of {patch}x{patch}",
        fontsize=9,
    )
    ax = grid[r, 1]
    tokens = np.asarray(attention[i]).reshape(grid_side, grid_side)
    ax.imshow(tokens, cmap="magma", interpolation="nearest")
    y0, x0, y1, x1 = (int(v) // patch for v in box)
    plots.outline_box(ax, (y0, x0, y1, x1), color="#35d0ff", linewidth=2)
    own = 1 - tokens.ravel()[_pasted_tokens(box, size, patch)].sum()
    ax.set_title(
        f"class-token attention\n{own:.2f} of it on {NAMES[i]}'s tokens",
        fontsize=9,
    )
    for a in grid[r, :2]:
      a.set_xticks([])
      a.set_yticks([])
    ax = grid[r, 2]
    classes = [NAMES[i], NAMES[j]]
    area = [float(area_soft[i, i]), float(area_soft[i, j])]
    trans = [float(trans_soft[i, i]), float(trans_soft[i, j])]
    x = np.arange(2)
    ax.bar(x - 0.18, area, 0.36, label="area (CutMix)", color="#9aa5b1")
    ax.bar(x + 0.18, trans, 0.36, label="attention (TransMix)", color="#e4572e")
    for k in range(2):
      ax.text(x[k] - 0.18, area[k] + 0.02, f"{area[k]:.2f}", ha="center",
              fontsize=8)  # fmt: skip
      ax.text(x[k] + 0.18, trans[k] + 0.02, f"{trans[k]:.2f}", ha="center",
              fontsize=8)  # fmt: skip
    ax.set(xticks=x, xticklabels=classes, ylim=(0, 1.1), ylabel="label weight")
    ax.set_title("label weights", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
  fig.suptitle(
      "TransMix: the label follows the class token's attention, not the area "
      "(a patch-aligned CutMix;\nhand-made attention that looks at objects)",
      fontsize=10,
  )
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=100)
  return fig


def _pasted_tokens(box, size: int, patch: int) -> np.ndarray:
  """The row-major token indices whose top-left pixel is in the box."""
  corners = np.arange(0, size, patch)
  y0, x0, y1, x1 = box
  rows = (corners >= y0) & (corners < y1)
  cols = (corners >= x0) & (corners < x1)
  return np.flatnonzero(rows[:, None] & cols[None, :])


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
      "--out",
      default="docs/images",
      help="the folder for the PNGs (created if missing)",
  )
  args = parser.parse_args(argv)
  plt.switch_backend("Agg")
  os.makedirs(args.out, exist_ok=True)
  for name, draw in (
      ("resizemix.png", resizemix_figure),
      ("transmix.png", transmix_figure),
  ):
    path = os.path.join(args.out, name)
    plt.close(draw(path))
    print("wrote", path)


if __name__ == "__main__":
  main()
