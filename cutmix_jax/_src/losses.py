"""The paper's loss form: mix the losses of the two labels, not the labels."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import mixing
from cutmix_jax._src import params as params_lib
from cutmix_jax._src import validation


def mixed_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    params: params_lib.MixParams,
    *,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
  """Softmax cross-entropy of a mixed batch, from integer labels.

  The weights are ``params.lam``, as `cutmix` returns them for its label
  rule. The paper's code computes ``lam * CE(logits, y) + (1 - lam) * CE(logits,
  y[partner])``: with integer labels it never builds the ``[B, K]`` soft
  labels, which matters for large label spaces (ImageNet-21k's K = 21,841).
  Cross-entropy is linear in its target, so this equals
  ``optax.softmax_cross_entropy(logits, mix_labels(labels, params, ...))``,
  label smoothing included (the smoothed loss is ``(1 - eps) CE(y) + eps *
  mean_k CE(k)``).

  Args:
    logits: ``float[B, K]``.
    labels: ``int[B]`` class indices, the batch's own (not mixed) labels.
    params: the `MixParams` the images were mixed with (``return_params``).
    label_smoothing: ``eps`` in ``[0, 1)``.

  Returns:
    ``float32[B]`` per-example losses (wider floats keep their dtype); the
    caller reduces them.

  Raises:
    ValueError, TypeError: for shapes or dtypes that do not fit.

  Examples:
    >>> import jax, jax.numpy as jnp, optax
    >>> import cutmix_jax
    >>> images, labels = jnp.zeros((4, 8, 8, 3)), jnp.arange(4)
    >>> mixed, soft, params = cutmix_jax.cutmix(
    ...     jax.random.key(0), images, labels, num_classes=4, return_params=True)
    >>> logits = jax.random.normal(jax.random.key(1), (4, 4))
    >>> loss = cutmix_jax.mixed_cross_entropy(logits, labels, params)
    >>> bool(jnp.allclose(loss, optax.softmax_cross_entropy(logits, soft)))
    True
  """
  shape = validation.check_batch(
      logits, arg="logits", min_rank=2, allow_bool=False
  )
  logits = jnp.asarray(logits)
  if len(shape) != 2 or not jnp.issubdtype(logits.dtype, jnp.floating):
    raise TypeError(
        f"logits: expected float[batch, num_classes], got {validation.describe(logits)}."
    )
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(
        f"labels: expected integer class indices, got {labels.dtype}; for soft "
        "labels use optax.softmax_cross_entropy(logits, cutmix_jax.mix_labels(...))."
    )
  validation.check_labels(labels, shape[0], shape[1])
  validation.check_same_batch(
      shape, params.partner.shape[0], arg="logits", against="params"
  )
  eps = validation.check_label_smoothing(label_smoothing)
  log_probs = jax.nn.log_softmax(
      logits.astype(jnp.promote_types(logits.dtype, jnp.float32))
  )
  partner = mixing.shard_like_batch(params.partner, labels)

  def loss_for(target):
    loss = -jnp.take_along_axis(log_probs, target[:, None], axis=-1)[:, 0]
    if validation.is_traced(eps) or eps != 0:
      eps_ = jnp.asarray(eps, log_probs.dtype)
      loss = (1 - eps_) * loss - eps_ * log_probs.mean(axis=-1)
    return loss

  own = loss_for(labels)
  other = loss_for(mixing.take_partners(labels, partner))
  weight = mixing.shard_like_batch(params.lam.astype(own.dtype), own)
  return mixing.interpolate(own, other, weight)
