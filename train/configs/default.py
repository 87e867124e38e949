"""CIFAR-10, pre-activation ResNet-18, CutMix as in the paper (alpha 1, prob 0.5).

About an hour on one modern GPU. Every field can be overridden from the
command line, e.g. ``--config.cutmix.alpha=0.5``; the baseline without mixing
is ``--config.cutmix.method=none``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  """The default configuration; the other presets start from it."""
  config = ml_collections.ConfigDict()
  config.seed = 0

  config.dataset = "cifar10"  # "cifar10", "cifar100" or "digits" (offline).
  config.data_dir = config_dict.placeholder(
      str
  )  # TFDS data_dir; None = TFDS default.
  config.tfds_manual_dir = config_dict.placeholder(
      str
  )  # hand-downloaded archives.
  # Keep a stratified fraction of the training split (small-data studies; the
  # test split is always whole). CIFAR: of each host's share, hosts disjoint.
  config.train_fraction = 1.0
  config.train_subset_seed = 0  # which subset; config.seed does not change it.

  config.model = ml_collections.ConfigDict()
  config.model.name = (
      "preact_resnet"  # "preact_resnet", "wide_resnet", "pyramidnet".
  )
  config.model.depth = 18
  config.model.width = (
      64  # base channels / widening factor k / PyramidNet alpha.
  )
  config.model.dropout = 0.0  # wide_resnet only.
  config.model.stem_stride = 1  # 2 halves the resolution (preact_resnet only).
  config.half_precision = False  # bfloat16 activations (TPU, recent GPUs).

  config.batch_size = 128  # global, over all devices and hosts.
  config.eval_batch_size = 512
  config.num_epochs = 200
  config.num_train_steps = -1  # > 0 overrides num_epochs (tests, benchmarks).

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 0.1
  config.optimizer.momentum = 0.9
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = (
      5e-4  # L2 added to the gradients, as PyTorch's SGD.
  )
  config.optimizer.schedule = "cosine"  # "cosine", "step" or "constant".
  config.optimizer.warmup_epochs = 0.0
  config.optimizer.decay_epochs = (
      100,
      150,
  )  # "step": multiply by decay_factor here.
  config.optimizer.decay_factor = 0.1

  # Mixing, all inside the jitted step. method: "cutmix", "mixup", "switch"
  # (timm's: CutMix with switch_prob, else MixUp) or "none" (the baseline).
  config.cutmix = ml_collections.ConfigDict()
  config.cutmix.method = "cutmix"
  config.cutmix.alpha = 1.0  # CutMix's Beta(alpha, alpha).
  config.cutmix.prob = 0.5
  config.cutmix.mode = "batch"  # "batch" (the paper), "elem" or "pair".
  config.cutmix.mixup_alpha = 0.8  # MixUp's Beta, for "mixup" and "switch".
  config.cutmix.switch_prob = 0.5
  config.cutmix.label_smoothing = 0.0
  config.cutmix.label_mode = "area"  # "area", "larger_area" or "complete".
  config.cutmix.minmax = config_dict.placeholder(tuple)  # timm's cutmix_minmax.
  config.cutmix.center_std = config_dict.placeholder(
      float
  )  # centre-Gaussian ablation.
  config.cutmix.box_size = config_dict.placeholder(
      int
  )  # fixed-size box ablation.
  # Feature-level CutMix: mix the activations after this stage (0 = stem)
  # with the same boxes rescaled; None mixes the input pixels.
  config.cutmix.feature_stage = config_dict.placeholder(int)

  config.augment = ml_collections.ConfigDict()
  config.augment.pad = 4  # zero padding before the random crop; 0 turns it off.
  config.augment.flip = True
  config.augment.on = "device"  # "device" (in the jitted step) or "host".

  config.log_every_steps = 100
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 2000
  config.keep_checkpoints = 3
  config.num_plot_samples = 16  # images in cutmix_samples.png; 0: no picture.
  config.progress_bar = True
  # Multi-host: "auto" calls jax.distributed.initialize() when the environment
  # names several processes (TPU pod slice, SLURM); "on" always; "off" never.
  config.distributed = "auto"
  return config
