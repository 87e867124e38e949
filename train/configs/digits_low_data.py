"""Digits with 5% of the training split: where CutMix's regularisation shows.

The digits preset (`digits.py`) unchanged except: a stratified 5% of its
1,437 training images (71 images, 7 or 8 a class, `config.train_subset_seed`
picks which; the 360 test images are all kept), 200 epochs (one step an
epoch at batch 64), an evaluation every epoch for the study's curves, and a
checkpoint every 50 steps so an interrupted run resumes. About half a minute
a run on a 2-core CPU. `python -m train.study` runs it over methods and seeds
(`make study`); the README's "Does it help?" gives the results and where the
effect disappears.
"""

import ml_collections

from train.configs import digits


def get_config() -> ml_collections.ConfigDict:
  """The digits preset on 5% of its training images, 200 epochs."""
  config = digits.get_config()
  config.train_fraction = 0.05
  config.train_subset_seed = 0
  config.num_epochs = 200
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 50
  config.keep_checkpoints = 1
  config.log_every_steps = 10
  return config
