"""Offline: scikit-learn's 1,797 handwritten digits, a narrow ResNet, CutMix on.

Needs no network. The 8x8 digits are upsampled to 32x32 so the CIFAR
pipeline and models apply unchanged; the split is fixed (1,437 train / 360
test, stratified, seed 0; see `input_pipeline._load_digits`). No horizontal
flip: a mirrored digit is another glyph. Finishes in under three minutes on
a 2-core CPU.
"""

import ml_collections

from train.configs import default


def get_config() -> ml_collections.ConfigDict:
  """The digits preset."""
  config = default.get_config()
  config.dataset = "digits"
  config.model.name = "preact_resnet"
  config.model.depth = 10
  config.model.width = 16
  config.model.stem_stride = 2
  config.batch_size = 64
  config.eval_batch_size = 360
  config.num_epochs = 15
  config.optimizer.learning_rate = 0.1
  config.optimizer.weight_decay = 5e-4
  config.optimizer.schedule = "cosine"
  config.optimizer.warmup_epochs = 1.0
  config.augment.flip = False
  config.cutmix.method = "cutmix"
  config.cutmix.alpha = 1.0
  config.cutmix.prob = 0.5
  config.log_every_steps = 10
  config.checkpoint_every_steps = 200
  return config
