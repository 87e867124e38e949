"""CIFAR-10, pre-activation ResNet-18, CutMix as in the paper (alpha 1, prob 0.5).

About an hour on one modern GPU; needs TFDS's CIFAR-10 (downloaded on first
use). The baseline without mixing is ``--config.cutmix.method=none``.
"""

import ml_collections

from train.configs import default


def get_config() -> ml_collections.ConfigDict:
  """The CIFAR-10 preset."""
  config = default.get_config()
  config.dataset = "cifar10"
  config.model.depth = 18
  config.model.width = 64
  config.model.stem_stride = 1
  config.batch_size = 128
  config.eval_batch_size = 512
  config.num_epochs = 200
  config.optimizer.warmup_epochs = 0.0
  config.augment.flip = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
