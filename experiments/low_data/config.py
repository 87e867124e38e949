"""The trainer's digits default on 5% of its training images: the study's run.

A stratified 5% of the 1,437 training digits (71 images, 7 or 8 a class;
``train_subset_seed`` picks which; the 360 test images are all kept), 200
epochs (one step an epoch at batch 64), an evaluation every epoch for the
curves, and a checkpoint every 50 steps so that an interrupted run resumes.
About half a minute a run on a 2-core CPU. ``alphas`` gives each method's
Beta parameter (``config.cutmix.alpha`` of its runs); ResizeMix draws its
box's scale from ``config.cutmix.scale``, the paper's ``(0.1, 0.8)``.
"""

import ml_collections

from train.configs import default


def get_config() -> ml_collections.ConfigDict:
  """The digits default on 5% of its training images, 200 epochs."""
  config = default.get_config()
  config.train_fraction = 0.05
  config.train_subset_seed = 0
  config.alphas = ml_collections.ConfigDict({"cutmix": 1.0, "mixup": 0.8})
  config.num_epochs = 200
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 50
  config.keep_checkpoints = 1
  config.log_every_steps = 10
  return config
