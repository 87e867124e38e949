"""The default: scikit-learn's digits offline, a narrow ResNet, CutMix.

About a minute on a 2-core CPU, no network. No horizontal flip (a
mirrored digit is another glyph). It lists every field; the other presets
start from it. ``config.cutmix`` holds the keywords of the `cutmix_jax`
function ``method`` names, each function getting those it takes;
``method``, ``box`` (parsed) and ``feature_stage`` are the trainer's.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
  """The digits preset; every field of the trainer's configuration."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.dataset = "digits"  # "digits" (offline), "cifar10" or "cifar100".
  config.data_dir = config_dict.placeholder(str)  # TFDS's; None: its default.
  config.tfds_manual_dir = config_dict.placeholder(str)  # hand-downloaded.

  config.model = ml_collections.ConfigDict()
  config.model.name = "preact_resnet"  # or "wide_resnet", "pyramidnet".
  config.model.depth = 10
  config.model.width = 16  # base channels / widening factor / PyramidNet alpha.
  config.model.dropout = 0.0  # wide_resnet only.
  config.model.stem_stride = 2  # 2 halves the resolution (preact_resnet only).
  config.half_precision = False  # bfloat16 activations (TPU, recent GPUs).

  config.batch_size = 64  # global, over all devices and processes.
  config.eval_batch_size = 360
  config.num_epochs = 15
  config.num_train_steps = -1  # > 0 overrides num_epochs.

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.learning_rate = 0.1
  config.optimizer.momentum = 0.9
  config.optimizer.nesterov = True
  config.optimizer.weight_decay = 5e-4  # L2 added to the gradients (PyTorch).
  config.optimizer.schedule = "cosine"  # "cosine", "step" or "constant".
  config.optimizer.warmup_epochs = 1.0
  config.optimizer.decay_epochs = (100, 150)  # "step": times decay_factor.
  config.optimizer.decay_factor = 0.1

  config.cutmix = ml_collections.ConfigDict()
  # "cutmix", "mixup", "mixup_or_cutmix" (timm's switch), "resizemix" or
  # "none".
  config.cutmix.method = "cutmix"
  config.cutmix.alpha = 1.0  # cutmix's and mixup's Beta(alpha, alpha).
  config.cutmix.prob = 0.5
  config.cutmix.mode = "batch"  # "batch" (the paper), "elem" or "pair".
  config.cutmix.label_smoothing = 0.0
  config.cutmix.label_mode = "area"  # "area", "larger_area" or "complete".
  # A `cutmix_jax.boxes` rule as written in Python, e.g. "minmax(0.2, 0.8)"
  # or "gaussian_center(0.25)"; None: the paper's box.
  config.cutmix.box = config_dict.placeholder(str)
  config.cutmix.mixup_alpha = 0.8  # mixup_or_cutmix only.
  config.cutmix.cutmix_alpha = 1.0  # mixup_or_cutmix only.
  config.cutmix.switch_prob = 0.5  # mixup_or_cutmix only.
  config.cutmix.scale = (0.1, 0.8)  # resizemix only: the box side's range.
  # Feature-level CutMix: mix the activations after this stage (0: the stem)
  # with boxes drawn at the image resolution; None mixes the pixels.
  config.cutmix.feature_stage = config_dict.placeholder(int)

  config.augment = ml_collections.ConfigDict()
  config.augment.pad = 4  # zero padding before the random crop; 0: none.
  config.augment.flip = False
  config.augment.on = "device"  # "device" (in the jitted step) or "host".

  config.log_every_steps = 10
  config.eval_every_epochs = 1
  config.checkpoint_every_steps = 200
  config.keep_checkpoints = 3
  config.num_plot_samples = 16  # images in cutmix_samples.png; 0: none.
  config.progress_bar = True
  # "auto" joins a multi-process job when the environment names one (TPU
  # pod slice, SLURM, Open MPI); "on" always; "off" never.
  config.distributed = "auto"
  return config
