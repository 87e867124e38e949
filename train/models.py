"""CIFAR classifiers in Flax NNX: pre-activation ResNet, WideResNet, PyramidNet.

Each is a ``stem`` (stage 0), ``stages`` (1..n) and a ``head``; the forward
pass calls an optional ``feature_hook`` after one stage, which is how the
trainer mixes activations (feature-level CutMix). ``model.train()`` and
``model.eval()`` switch batch statistics and dropout; dropout draws from the
``rngs`` the step passes, so no random state lives in the model.
"""

from collections.abc import Callable, Sequence

from flax import nnx
import jax
import jax.numpy as jnp

# He initialisation over the output fan, as the PyTorch reference models use.
_conv_init = nnx.initializers.variance_scaling(2.0, "fan_out", "normal")

FeatureHook = Callable[[jax.Array], jax.Array]


def _conv(rngs, cin, cout, kernel, stride=1, dtype=None):
  return nnx.Conv(
      cin,
      cout,
      (kernel, kernel),
      strides=stride,
      padding="SAME",
      use_bias=False,
      kernel_init=_conv_init,
      dtype=dtype,
      rngs=rngs,
  )


def _bn(rngs, features, dtype=None):
  # Flax's momentum 0.9 is PyTorch's 0.1.
  return nnx.BatchNorm(
      features, momentum=0.9, epsilon=1e-5, dtype=dtype, rngs=rngs
  )


class PreActBlock(nnx.Module):
  """The pre-activation basic block (He et al., 2016): BN-ReLU-conv twice."""

  def __init__(self, cin, cout, stride, *, dropout=0.0, dtype=None, rngs):
    self.bn1 = _bn(rngs, cin, dtype)
    self.conv1 = _conv(rngs, cin, cout, 3, stride, dtype)
    self.bn2 = _bn(rngs, cout, dtype)
    self.conv2 = _conv(rngs, cout, cout, 3, 1, dtype)
    self.dropout = nnx.Dropout(dropout)
    self.shortcut = (
        _conv(rngs, cin, cout, 1, stride, dtype)
        if stride != 1 or cin != cout
        else None
    )

  def __call__(self, x, *, rngs=None):
    out = nnx.relu(self.bn1(x))
    # The projection sees the pre-activated input, as in the paper's code.
    shortcut = self.shortcut(out) if self.shortcut is not None else x
    out = self.conv1(out)
    out = self.dropout(nnx.relu(self.bn2(out)), rngs=rngs)
    return self.conv2(out) + shortcut


class PyramidBottleneck(nnx.Module):
  """PyramidNet's bottleneck (Han et al., 2017): no ReLU first, a BN last.

  The shortcut has no parameters: it average-pools and pads with zeros.
  """

  def __init__(self, cin, width, stride, *, dtype=None, rngs):
    cout = width * 4
    self.bn1 = _bn(rngs, cin, dtype)
    self.conv1 = _conv(rngs, cin, width, 1, 1, dtype)
    self.bn2 = _bn(rngs, width, dtype)
    self.conv2 = _conv(rngs, width, width, 3, stride, dtype)
    self.bn3 = _bn(rngs, width, dtype)
    self.conv3 = _conv(rngs, width, cout, 1, 1, dtype)
    self.bn4 = _bn(rngs, cout, dtype)
    self.stride = stride
    self.cin, self.cout = cin, cout

  def __call__(self, x, *, rngs=None):
    del rngs  # No dropout in PyramidNet.
    out = self.conv1(self.bn1(x))
    out = self.conv2(nnx.relu(self.bn2(out)))
    out = self.conv3(nnx.relu(self.bn3(out)))
    out = self.bn4(out)
    shortcut = x
    if self.stride != 1:
      shortcut = nnx.avg_pool(shortcut, (2, 2), strides=(2, 2), padding="SAME")
    pad = self.cout - self.cin
    shortcut = jnp.pad(shortcut, ((0, 0), (0, 0), (0, 0), (0, pad)))
    return out + shortcut


class Stem(nnx.Module):
  """A 3x3 convolution (stride 2 for the digits: upsampled 8x8, nothing finer)."""

  def __init__(self, cin, cout, *, stride=1, with_bn=False, dtype=None, rngs):
    self.conv = _conv(rngs, cin, cout, 3, stride, dtype)
    self.bn = _bn(rngs, cout, dtype) if with_bn else None

  def __call__(self, x):
    x = self.conv(x)
    return self.bn(x) if self.bn is not None else x


class Head(nnx.Module):
  """BN-ReLU, global average pool, linear classifier (logits in float32)."""

  def __init__(self, features, num_classes, *, dtype=None, rngs):
    self.bn = _bn(rngs, features, dtype)
    self.dense = nnx.Linear(features, num_classes, dtype=dtype, rngs=rngs)

  def features(self, x):
    """The activations the pool averages: ``[B, h, w, features]`` after BN-ReLU."""
    return nnx.relu(self.bn(x))

  def __call__(self, x):
    x = self.features(x)
    return self.dense(jnp.mean(x, axis=(1, 2))).astype(jnp.float32)


class Classifier(nnx.Module):
  """A stem, a sequence of stages of blocks, a head."""

  def __init__(
      self, stem: Stem, stages: Sequence[Sequence[nnx.Module]], head: Head
  ):
    self.stem = stem
    self.stages = nnx.List([nnx.List(blocks) for blocks in stages])
    self.head = head

  def __call__(
      self,
      x,
      *,
      rngs: nnx.Rngs | None = None,
      feature_hook: FeatureHook | None = None,
      hook_stage: int | None = None,
  ) -> jax.Array:
    """``float32[B, num_classes]`` logits of ``[B, H, W, C]`` normalised images.

    Args:
      x: the images.
      rngs: the ``dropout`` stream, needed in training mode when the model
        has dropout (WideResNet's ``dropout > 0``).
      feature_hook: called on the activations after stage ``hook_stage``
        (0 is the stem's output); returns activations of the same shape.
      hook_stage: where to call ``feature_hook``.
    """
    return self.head(self._trunk(x, rngs, feature_hook, hook_stage))

  def _trunk(self, x, rngs=None, feature_hook=None, hook_stage=None):
    h = self.stem(x)
    if feature_hook is not None and hook_stage == 0:
      h = feature_hook(h)
    for stage, blocks in enumerate(self.stages, start=1):
      for block in blocks:
        h = block(h, rngs=rngs)
      if feature_hook is not None and hook_stage == stage:
        h = feature_hook(h)
    return h

  def feature_map(self, x) -> jax.Array:
    """``[B, h, w, features]``: the last features, as the head's pool sees them.

    ``feature_map(x) @ model.head.dense.kernel`` are class activation maps
    (Zhou et al., 2016) whose spatial mean plus the bias is each logit; call
    ``model.eval()`` first for the running batch-norm averages.
    """
    return self.head.features(self._trunk(x))


def _preact_stages(cin, widths, strides, n, *, dropout=0.0, dtype, rngs):
  """Stages of ``n`` pre-activation blocks each; the first of a stage strides."""
  stages = []
  for cout, stride in zip(widths, strides):
    stages.append(
        [
            PreActBlock(
                cin if b == 0 else cout,
                cout,
                stride if b == 0 else 1,
                dropout=dropout,
                dtype=dtype,
                rngs=rngs,
            )
            for b in range(n)
        ]
    )
    cin = cout
  return stages, cin


def preact_resnet(
    *,
    depth: int = 18,
    width: int = 64,
    num_classes: int = 10,
    in_channels: int = 3,
    stem_stride: int = 1,
    dtype=None,
    rngs: nnx.Rngs,
) -> Classifier:
  """Pre-activation ResNet for 32x32 images (He et al., 2016, "Identity Mappings").

  Four stages of basic blocks with ``width * (1, 2, 4, 8)`` channels, strides
  ``(1, 2, 2, 2)``. ``depth=18`` is ResNet-18 (two blocks a stage); ``depth=10``
  has one block a stage, a quick narrow model for small data.
  ``stem_stride=2`` runs every stage at half the resolution (4x fewer FLOPs).
  """
  blocks_per_stage = {10: 1, 18: 2}
  if depth not in blocks_per_stage:
    raise ValueError(
        f"model.depth: expected one of {sorted(blocks_per_stage)} for "
        f"preact_resnet, got {depth}."
    )
  stem = Stem(in_channels, width, stride=stem_stride, dtype=dtype, rngs=rngs)
  stages, cout = _preact_stages(
      width,
      [width * 2**i for i in range(4)],
      (1, 2, 2, 2),
      blocks_per_stage[depth],
      dtype=dtype,
      rngs=rngs,
  )
  return Classifier(
      stem, stages, Head(cout, num_classes, dtype=dtype, rngs=rngs)
  )


def wide_resnet(
    *,
    depth: int = 28,
    width: int = 10,
    num_classes: int = 10,
    in_channels: int = 3,
    dropout: float = 0.0,
    dtype=None,
    rngs: nnx.Rngs,
) -> Classifier:
  """WideResNet-depth-width (Zagoruyko & Komodakis, 2016); WRN-28-10 by default.

  Three stages of ``(depth - 4) / 6`` pre-activation blocks with
  ``16 * width * (1, 2, 4)`` channels.
  """
  if (depth - 4) % 6:
    raise ValueError(
        f"model.depth: expected 6n + 4 for wide_resnet, got {depth}."
    )
  stem = Stem(in_channels, 16, dtype=dtype, rngs=rngs)
  stages, cout = _preact_stages(
      16,
      [16 * width * 2**i for i in range(3)],
      (1, 2, 2),
      (depth - 4) // 6,
      dropout=dropout,
      dtype=dtype,
      rngs=rngs,
  )
  return Classifier(
      stem, stages, Head(cout, num_classes, dtype=dtype, rngs=rngs)
  )


def pyramidnet(
    *,
    depth: int = 200,
    width: int = 240,
    num_classes: int = 10,
    in_channels: int = 3,
    dtype=None,
    rngs: nnx.Rngs,
) -> Classifier:
  """Bottleneck PyramidNet (Han et al., 2017); depth 200, alpha 240 by default.

  ``width`` is the widening factor alpha: the bottleneck width grows linearly
  by ``alpha / (3n)`` a block from 16, with ``n = (depth - 2) / 9`` blocks in
  each of three stages; block outputs have 4x the bottleneck width.
  """
  if (depth - 2) % 9:
    raise ValueError(
        f"model.depth: expected 9n + 2 for pyramidnet, got {depth}."
    )
  n = (depth - 2) // 9
  step = width / (3 * n)
  stem = Stem(in_channels, 16, with_bn=True, dtype=dtype, rngs=rngs)
  stages, cin, grown = [], 16, 16.0
  for stride in (1, 2, 2):
    blocks = []
    for b in range(n):
      grown += step
      block = PyramidBottleneck(
          cin,
          int(round(grown)),
          stride if b == 0 else 1,
          dtype=dtype,
          rngs=rngs,
      )
      cin = block.cout
      blocks.append(block)
    stages.append(blocks)
  return Classifier(
      stem, stages, Head(cin, num_classes, dtype=dtype, rngs=rngs)
  )


MODELS = {
    "preact_resnet": preact_resnet,
    "wide_resnet": wide_resnet,
    "pyramidnet": pyramidnet,
}
