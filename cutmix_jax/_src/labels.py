"""Labels: one-hot encoding, smoothing, the paper's label rules, and mixing."""

from collections.abc import Sequence

import jax
from jax.experimental import checkify
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import boxes
from cutmix_jax._src import mixing
from cutmix_jax._src import params as params_lib
from cutmix_jax._src import validation


def soft_labels(
    labels: ArrayLike,
    num_classes: int | None = None,
    *,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
  """Turns integer or float labels into (smoothed) soft labels.

  Smoothing gives ``eps / K`` to every class and ``1 - eps`` more to the true
  one, the same numbers as `optax.smooth_labels`.

  Args:
    labels: ``int[B]`` class indices, or ``float[B, K]`` one-hot or soft labels.
    num_classes: ``K``; needed for integer labels.
    label_smoothing: ``eps`` in ``[0, 1)``.

  Returns:
    ``float32[B, K]`` (float labels keep a wider float dtype).

  Raises:
    ValueError, TypeError: for labels that do not fit ``num_classes``, or
      known integer labels outside ``[0, num_classes)``.

  Examples:
    >>> import cutmix_jax
    >>> cutmix_jax.soft_labels([1], 4, label_smoothing=0.2).tolist()
    [[0.05000000074505806, 0.8500000238418579, 0.05000000074505806, 0.05000000074505806]]
  """
  shape = validation.check_batch(labels, arg="labels", allow_bool=False)
  label_smoothing = validation.check_label_smoothing(label_smoothing)
  num_classes = validation.check_labels(labels, shape[0], num_classes)
  labels = jnp.asarray(labels)
  if jnp.issubdtype(labels.dtype, jnp.integer):
    out = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  else:
    out = labels.astype(jnp.promote_types(labels.dtype, jnp.float32))
  if not validation.is_traced(label_smoothing) and label_smoothing == 0:
    return out
  eps = jnp.asarray(label_smoothing, out.dtype)
  return out * (1 - eps) + eps / num_classes


def label_weights(
    params: params_lib.MixParams,
    size: Sequence[int],
    *,
    label_mode: str = "area",
) -> jax.Array:
  """The weight of each example's own label under one of the paper's label rules.

  CutMix rows are read from their boxes at ``size``, the size of the cut axes
  of the array the boxes were pasted into.

  Args:
    params: the drawn parameters.
    size: ``(H, W)`` for images; in general the sizes of the cut axes.
    label_mode: ``"area"`` (the paper's CutMix: ``1 -`` the pasted fraction),
      ``"larger_area"`` (the paper's one-hot ablation: the label of the larger
      area gets weight 1; a tie keeps the example's own), or ``"complete"``
      (the paper's complete-label ablation: 0.5 / 0.5 for every example that
      had pixels pasted, whatever the area).

  Returns:
    ``float32[B]``. CutMix rows that pasted nothing (not applied, or an empty
    box) get 1.0; MixUp rows keep ``params.lam``.

  Raises:
    ValueError: for an unknown ``label_mode`` or boxes that do not fit ``size``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import cutmix_jax
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.array([[0, 0, 3, 3], [0, 0, 0, 0]]), lam=jnp.array([1.0, 1.0]),
    ...     partner=jnp.array([1, 0]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([True, True]))
    >>> cutmix_jax.label_weights(params, (4, 4)).tolist()
    [0.4375, 1.0]
    >>> cutmix_jax.label_weights(params, (4, 4), label_mode="larger_area").tolist()
    [0.0, 1.0]
  """
  label_mode = validation.check_label_mode(label_mode)
  area = 1.0 - boxes.pasted_fraction(params.box, size)
  if label_mode == "larger_area":
    area = jnp.where(area >= 0.5, 1.0, 0.0)
  elif label_mode == "complete":
    area = jnp.full_like(area, 0.5)
  pasted = params.applied & (boxes.box_area(params.box) > 0)
  cut_weight = jnp.where(pasted, area, 1.0)
  return jnp.where(params.is_cutmix, cut_weight, params.lam).astype(jnp.float32)


def mix_labels(
    labels: ArrayLike,
    params: params_lib.MixParams,
    *,
    num_classes: int | None = None,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
  """Mixes labels with drawn parameters: ``lam * own + (1 - lam) * partner's``.

  Labels are smoothed first (timm's order), then mixed with the weights in
  ``params.lam`` (`cutmix` returns the weights of the label rule it used;
  see `label_weights`). A row whose weight is 1 (not applied) is its own
  smoothed label, bitwise, whatever the partner's row holds.

  Args:
    labels: ``int[B]`` class indices (needs ``num_classes``), or ``float[B, K]``
      one-hot or soft labels, mixed as they are.
    params: `MixParams` for a batch of ``B``.
    num_classes: ``K``.
    label_smoothing: ``eps`` in ``[0, 1)``.

  Returns:
    ``float32[B, K]`` soft labels whose rows sum to 1 when the inputs do.

  Raises:
    ValueError, TypeError: for labels that do not fit the batch or ``num_classes``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import cutmix_jax
    >>> params = cutmix_jax.MixParams(
    ...     box=jnp.array([[0, 0, 2, 2], [0, 0, 0, 0]]), lam=jnp.array([0.75, 1.0]),
    ...     partner=jnp.array([1, 1]), applied=jnp.array([True, False]),
    ...     is_cutmix=jnp.array([True, True]))
    >>> cutmix_jax.mix_labels(jnp.array([0, 2]), params, num_classes=3).tolist()
    [[0.75, 0.0, 0.25], [0.0, 0.0, 1.0]]
  """
  soft = soft_labels(labels, num_classes, label_smoothing=label_smoothing)
  validation.check_same_batch(
      soft.shape, params.partner.shape[0], arg="labels", against="params"
  )
  weight = params.lam.astype(soft.dtype)
  weight, partner = mixing.shard_like_batch((weight, params.partner), soft)
  return mixing.interpolate(
      soft, mixing.take_partners(soft, partner), weight[:, None]
  )


def check_labels_in_range(labels: ArrayLike, num_classes: int) -> None:
  """A `checkify` check that integer labels lie in ``[0, num_classes)``.

  Known labels are checked by every function that takes them; inside ``jit``
  a value check needs `jax.experimental.checkify`: call this in the function
  that you wrap with ``checkify.checkify`` and the error surfaces from
  ``err.throw()``. Out-of-range labels would one-hot encode to zero rows.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> from jax.experimental import checkify
    >>> import cutmix_jax
    >>> checked = jax.jit(checkify.checkify(
    ...     lambda y: cutmix_jax.check_labels_in_range(y, 10)))
    >>> err, _ = checked(jnp.array([3, 12]))
    >>> print(err.get())  # doctest: +ELLIPSIS
    labels: expected class indices in [0, 10), got values outside it ...
  """
  classes = validation.check_num_classes(num_classes)
  if classes is None:
    raise ValueError("num_classes: expected a positive int, got None.")
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(
        f"labels: expected integer class indices, got {labels.dtype}."
    )
  checkify.check(
      jnp.all((labels >= 0) & (labels < classes)),
      f"labels: expected class indices in [0, {classes}), got values "
      "outside it (min {lo}, max {hi})",
      lo=jnp.min(labels),
      hi=jnp.max(labels),
  )
