"""The paper's loss form: mix the losses of the two labels, not the labels."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import arguments
from cutmix_jax._src import checks
from cutmix_jax._src import mixing
from cutmix_jax._src import sampling
from cutmix_jax._src import sharding


def mixed_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    params: sampling.MixParams,
    *,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
  """Softmax cross-entropy of a mixed batch, from integer labels.

  The paper's ``lam * CE(logits, y) + (1 - lam) * CE(logits, y[partner])``,
  without ``[B, K]`` soft labels; it equals ``optax.softmax_cross_entropy(
  logits, mix_labels(labels, params, ...))``, label smoothing included.

  Args:
    logits: ``float[B, K]``.
    labels: ``int[B]``, the batch's own (not mixed) class indices.
    params: the `MixParams` the images were mixed with (`with_params`).
    label_smoothing: ``eps`` in ``[0, 1)``.

  Returns:
    ``float32[B]`` per-example losses (wider floats keep their dtype).

  Raises:
    TypeError: for logits that are not float, or labels that are not integer.
    ValueError: for shapes that do not fit, or known labels out of range.

  Examples:
    >>> import jax, jax.numpy as jnp, optax, cutmix_jax
    >>> images, labels = jnp.zeros((4, 8, 8, 3)), jnp.arange(4)
    >>> _, soft, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
    ...     jax.random.key(0), images, labels, num_classes=4)
    >>> logits = jax.random.normal(jax.random.key(1), (4, 4))
    >>> loss = cutmix_jax.mixed_cross_entropy(logits, labels, params)
    >>> bool(jnp.allclose(loss, optax.softmax_cross_entropy(logits, soft)))
    True
  """
  scores = arguments.check("logits", logits)
  targets = arguments.check(
      "labels", labels, rule="class_indices", logits_shape=scores.shape
  )
  params = arguments.check("params", params, batch=scores.shape[0])
  eps = arguments.check("label_smoothing", label_smoothing)
  log_probs = jax.nn.log_softmax(scores.astype(checks.float_for(scores.dtype)))
  eps = mixing.smoothing(eps, log_probs.dtype)
  num_classes = scores.shape[1]
  targets = mixing.wide_labels(targets)

  def loss_for(target):
    index = jnp.clip(target, 0, num_classes - 1)[:, None]
    loss = -jnp.take_along_axis(log_probs, index, axis=-1)[:, 0]
    if eps is not None:
      loss = (1 - eps) * loss - eps * log_probs.mean(axis=-1)
    # A label out of range is no class: its loss is NaN, never another's.
    return jnp.where((target >= 0) & (target < num_classes), loss, jnp.nan)

  params, partners = sharding.with_partners(targets, params)
  own, other = loss_for(targets), loss_for(partners)
  weight = mixing.own_weight(params, own.dtype)
  return mixing.interpolate(own, other, sharding.shard_like_batch(weight, own))
