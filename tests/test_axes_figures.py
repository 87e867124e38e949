"""The pictures of CutMix over other axes draw what was pasted."""

import matplotlib.pyplot as plt
import numpy as np

from experiments import axes_figures


def test_synthetic_clips_differ_and_move():
  clips = axes_figures.synthetic_clips(frames=5, size=24)
  assert clips.shape == (2, 5, 24, 24, 3) and clips.dtype == np.float32
  assert 0 <= clips.min() and clips.max() <= 1
  assert not np.array_equal(clips[0], clips[1])
  # Each clip changes from frame to frame (something moves).
  assert np.all(np.abs(np.diff(clips, axis=1)).reshape(2, 4, -1).max(-1) > 0)


def test_figures_are_written(tmp_path):
  axes_figures.main(["--out", str(tmp_path)])
  for name in ("videomix.png", "spectrogram_cutmix.png", "vit_patch_grid.png"):
    image = plt.imread(tmp_path / name)
    # A real picture: large, and not one flat colour.
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05
