"""Pictures of CutMix over other axes: VideoMix, a spectrogram, a ViT patch grid.

Each function mixes a small synthetic batch with `cutmix_jax.cutmix`, draws
the result with the pasted region outlined (read from the returned
`MixParams`), writes a PNG if given a path, and returns the figure, so the
Colab notebook shows the same pictures inline. ``.venv/bin/python -m
experiments.axes_figures --out DIR`` writes all of them (the README's copies live
in ``docs/images``).
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
# The first keys are tried in turn for a draw that shows the idea (a box that
# is neither tiny nor the whole clip); a bounded search, then the last draw.
_MAX_SEEDS = 64


def synthetic_clips(frames: int = 8, size: int = 40) -> np.ndarray:
  """Two short RGB clips, ``float32[2, T, H, W, 3]`` in [0, 1].

  Clip 0: a red disc moving right over a blue gradient. Clip 1: a yellow bar
  moving down over green stripes. Each frame shows where in time it is.
  """
  t = np.arange(frames)[:, None, None]
  y = np.arange(size)[None, :, None]
  x = np.arange(size)[None, None, :]
  clips = np.zeros((2, frames, size, size, 3), np.float32)
  cx = 6 + t * (size - 12) / max(frames - 1, 1)
  disc = (x - cx) ** 2 + (y - size / 2) ** 2 < (size / 6) ** 2
  clips[0, ..., 2] = 0.35 + 0.5 * (y + 0 * x + 0 * t) / size
  clips[0, ..., 0] = np.where(disc, 1.0, 0.1)
  clips[0, ..., 2] = np.where(disc, 0.1, clips[0, ..., 2])
  bar_y = 4 + t * (size - 12) / max(frames - 1, 1)
  bar = (y >= bar_y) & (y < bar_y + 5) & (x >= 0)
  stripes = ((x // 5) % 2 == 0) & (y >= 0) & (t >= 0)
  clips[1, ..., 1] = np.where(stripes, 0.55, 0.35)
  clips[1, ..., 0] = np.where(bar, 1.0, 0.15)
  clips[1, ..., 1] = np.where(bar, 0.9, clips[1, ..., 1])
  return clips


def _visible_draw(images, axes, *, lo=0.25, hi=0.6, **kwargs):
  """Mixes a batch of 2 with the first key whose box covers ``[lo, hi]``."""
  labels = jnp.arange(images.shape[0])
  # Compiled once, then drawn key after key (eagerly, each try would run
  # every operation on its own).
  mix = jax.jit(
      lambda rng: cutmix_jax.with_params(cutmix_jax.cutmix)(
          rng,
          images,
          labels,
          num_classes=images.shape[0],
          mode="pair",
          axes=axes,
          **kwargs,
      )
  )
  for seed in range(_MAX_SEEDS):
    out, soft, params = mix(jax.random.key(seed))
    if lo <= 1 - float(params.lam[0]) <= hi:
      break
  return np.asarray(out), np.asarray(soft), params


def plot_videomix(path: str | None = None, clips: np.ndarray | None = None):
  """S-, T- and ST-VideoMix of clip 0 with clip 1, frames side by side.

  Rows: the two clips, then the mixed clip for ``axes=(2, 3)`` (a box through
  every frame), ``(1,)`` (a run of whole frames) and ``(1, 2, 3)`` (a
  cuboid); the pasted region is outlined on every frame it covers.
  """
  clips = synthetic_clips() if clips is None else clips
  frames, height, width = clips.shape[1:4]
  rows = [("clip A", clips[0], None), ("clip B", clips[1], None)]
  for name, axes in (
      ("S-VideoMix, axes=(2, 3)", (2, 3)),
      ("T-VideoMix, axes=(1,)", (1,)),
      ("ST-VideoMix, axes=(1, 2, 3)", (1, 2, 3)),
  ):
    out, soft, params = _visible_draw(jnp.asarray(clips), axes)
    box = np.asarray(params.box[0])
    k = len(axes)
    bounds = {a: (box[i], box[k + i]) for i, a in enumerate(axes)}
    t0, t1 = bounds.get(1, (0, frames))
    y0, y1 = bounds.get(2, (0, height))
    x0, x1 = bounds.get(3, (0, width))
    label = f"{name}: A {soft[0, 0]:.2f}, B {soft[0, 1]:.2f}"
    rows.append((label, out[0], (t0, t1, y0, y1, x0, x1)))
  fig, grid = plt.subplots(
      len(rows), frames, figsize=(1.3 * frames, 1.5 * len(rows))
  )
  for r, (label, clip, region) in enumerate(rows):
    for t in range(frames):
      ax = grid[r, t]
      ax.imshow(np.clip(clip[t], 0, 1))
      ax.set_xticks([])
      ax.set_yticks([])
      if region is not None and region[0] <= t < region[1]:
        plots.outline_box(
            ax, (region[2], region[4], region[3], region[5]), color=_OUTLINE
        )
      if t == 0:
        ax.set_title(label, loc="left", fontsize=8)
      if r == len(rows) - 1:
        ax.set_xlabel(f"frame {t}", fontsize=7)
  fig.suptitle(
      "VideoMix: the pasted region (outlined) comes from clip B; "
      "labels are the pasted fraction",
      fontsize=9,
  )
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=100)
  return fig


def synthetic_spectrograms(steps: int = 128, bins: int = 64) -> np.ndarray:
  """Two log-spectrogram-like arrays, ``float32[2, T, F]``: a chirp, a harmonic stack."""
  t = np.arange(steps)[:, None]
  f = np.arange(bins)[None, :]
  chirp = np.exp(-((f - (5 + 50 * t / steps)) ** 2) / 6.0)
  harmonics = sum(np.exp(-((f - 8 * h) ** 2) / 3.0) / h for h in range(1, 8))
  harmonics = harmonics * (0.6 + 0.4 * np.sin(t / 6.0) ** 2)
  return np.stack([chirp, harmonics]).astype(np.float32)


def plot_spectrogram_cutmix(path: str | None = None):
  """A time segment of spectrogram B pasted into A (``axes=(1,)`` on ``(B, T, F)``)."""
  specs = synthetic_spectrograms()
  out, soft, params = _visible_draw(jnp.asarray(specs), (1,), lo=0.2, hi=0.45)
  t0, t1 = (int(v) for v in np.asarray(params.box[0]))
  fig, axs = plt.subplots(1, 3, figsize=(11, 3))
  for ax, (title, spec) in zip(
      axs,
      (
          ("A: a chirp", specs[0]),
          ("B: a harmonic stack", specs[1]),
          (f"mixed: A {soft[0, 0]:.2f}, B " f"{soft[0, 1]:.2f}", out[0]),
      ),
  ):
    ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma")
    ax.set(title=title, xlabel="time step", ylabel="frequency bin")
  axs[2].axvspan(
      t0 - 0.5, t1 - 0.5, fill=False, edgecolor=_OUTLINE, linewidth=2
  )
  fig.suptitle(
      f"CutMix on a spectrogram: time steps [{t0}, {t1}) from B", fontsize=9
  )
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=100)
  return fig


def plot_patch_grid(path: str | None = None, patch: int = 16, size: int = 224):
  """A ViT input mixed with and without `cutmix_jax.boxes.on_patch_grid`.

  Without alignment the box cuts tokens in half (their content comes from two
  images); on the patch grid every token comes whole from one image.
  """
  y, x = np.mgrid[0:size, 0:size] / size
  a = np.stack([0.9 * x, 0.3 + 0 * x, 0.9 * (1 - x)], -1)
  b = np.stack([0.2 + 0 * x, 0.5 + 0.4 * np.sin(12 * y), 0.3 + 0 * y], -1)
  images = jnp.asarray(np.stack([a, b]).astype(np.float32))
  fig, axs = plt.subplots(1, 2, figsize=(9, 4.6))
  for ax, (title, kwargs) in zip(
      axs,
      (
          ("box drawn per pixel", {}),
          (
              f"box=on_patch_grid({patch})",
              dict(box=cutmix_jax.boxes.on_patch_grid(patch)),
          ),
      ),
  ):
    out, soft, params = _visible_draw(images, (1, 2), **kwargs)
    y0, x0, y1, x1 = (int(v) for v in np.asarray(params.box[0]))
    ax.imshow(np.clip(out[0], 0, 1))
    for line in range(0, size + 1, patch):
      ax.axhline(line - 0.5, color="white", linewidth=0.4, alpha=0.7)
      ax.axvline(line - 0.5, color="white", linewidth=0.4, alpha=0.7)
    plots.outline_box(ax, (y0, x0, y1, x1), color=_OUTLINE)
    ax.set(
        title=f"{title}: box ({y0}, {x0}, {y1}, {x1}), label A "
        f"{soft[0, 0]:.3f}",
        xticks=[],
        yticks=[],
    )
    ax.title.set_fontsize(8)
  fig.suptitle(
      f"A {size}x{size} ViT input and its {patch}x{patch} token grid",
      fontsize=9,
  )
  fig.tight_layout()
  if path:
    fig.savefig(path, dpi=100)
  return fig


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
      "--out",
      default="docs/images",
      help="the folder for the PNGs (created if missing)",
  )
  args = parser.parse_args(argv)
  # Files only. (Importing this module chooses no backend, so that a
  # notebook's inline backend keeps showing its figures.)
  plt.switch_backend("Agg")
  os.makedirs(args.out, exist_ok=True)
  for name, draw in (
      ("videomix.png", plot_videomix),
      ("spectrogram_cutmix.png", plot_spectrogram_cutmix),
      ("vit_patch_grid.png", plot_patch_grid),
  ):
    path = os.path.join(args.out, name)
    plt.close(draw(path))
    print("wrote", path)


if __name__ == "__main__":
  main()
