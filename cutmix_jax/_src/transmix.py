"""TransMix (Chen et al., CVPR 2022): label weights from a ViT's attention."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import arguments
from cutmix_jax._src import sampling


def transmix_weights(
    attention: ArrayLike,
    params: sampling.MixParams,
    *,
    image_size: Sequence[int] = (224, 224),
    patch_size: int | Sequence[int] = 16,
) -> jax.Array:
  """The own-label weights of TransMix: the share of attention on own tokens.

  CutMix weighs the labels by area; TransMix weighs them by how much the
  class token attends to each image's tokens: with ``a`` the class token's
  attention over the ``N`` patch tokens and ``m`` the tokens pasted from the
  partner (a token counts as pasted when its top-left pixel is in the box,
  the paper's nearest downsampling of the mask), the own label gets
  ``sum(a * (1 - m)) / sum(a)`` and the partner's label the rest. Use it
  with a patch-aligned CutMix (``box=boxes.on_patch_grid(patch_size)``), so
  every token comes whole from one image, and the attention of the batch
  the model saw (the paper takes the last block's). Rows not pasted (not
  applied, MixUp rows) keep ``params.lam``. Feed the weights to
  `mix_labels` or `mixed_cross_entropy` as ``params._replace(lam=weights)``.

  Args:
    attention: ``float[B, N]``, the class token's attention over the patch
      tokens (the class token's own column removed), already averaged over
      heads; or ``float[B, heads, N]``, which this function averages.
    params: the `MixParams` the images were mixed with (`with_params`).
    image_size: ``(H, W)`` of the images (static); DeiT's 224 by default.
    patch_size: the ViT's patch side, or ``(ph, pw)`` (static), 16 by
      default as in DeiT and ViT-B/16; ``N`` must be
      ``(H / ph) (W / pw)``, tokens in row-major order.

  Returns:
    ``float32[B]``, the own label's weight of each example.

  Raises:
    TypeError, ValueError: for attention that is not float, or whose token
      count does not match the patch grid, and for params that do not fit.

  Examples:
    >>> import functools, jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> images, labels = jnp.zeros((4, 32, 32, 3)), jnp.arange(4)
    >>> mix = cutmix_jax.with_params(cutmix_jax.cutmix)
    >>> mixed, _, params = mix(jax.random.key(0), images, labels, num_classes=4,
    ...                        box=cutmix_jax.boxes.on_patch_grid(8))
    >>> attention = jax.nn.softmax(jax.random.normal(jax.random.key(1), (4, 16)))
    >>> weights = cutmix_jax.transmix_weights(
    ...     attention, params, image_size=(32, 32), patch_size=8)
    >>> soft = cutmix_jax.mix_labels(labels, params._replace(lam=weights),
    ...                              num_classes=4)
    >>> soft.shape
    (4, 4)
  """
  attn = arguments.check("attention", attention)
  size = arguments.check("image_size", image_size, rule="size")
  patch = arguments.check("patch_size", patch_size)
  patch = (patch, patch) if isinstance(patch, int) else patch
  grid = tuple(n // p for n, p in zip(size, patch))
  ok = len(size) == len(patch) == 2
  ok = ok and all(n % p == 0 for n, p in zip(size, patch))
  arguments.require(ok, "patch_size", f"sides dividing {size}", patch)
  tokens = grid[0] * grid[1]
  expected = f"{tokens} tokens ({grid[0]} x {grid[1]} patches of {patch})"
  arguments.require(attn.shape[-1] == tokens, "attention", expected, attn.shape)
  params = arguments.check("params", params, batch=attn.shape[0], num_axes=2)
  if attn.ndim == 3:
    attn = attn.mean(axis=1)
  attn = attn.astype(jnp.float32)
  # The top-left pixel of every token, against each example's box.
  rows = jnp.arange(grid[0]) * patch[0]
  cols = jnp.arange(grid[1]) * patch[1]
  box = params.box
  inside_rows = (rows[None, :] >= box[:, :1]) & (rows[None, :] < box[:, 2:3])
  inside_cols = (cols[None, :] >= box[:, 1:2]) & (cols[None, :] < box[:, 3:4])
  pasted = (inside_rows[:, :, None] & inside_cols[:, None, :]).reshape(
      attn.shape[0], tokens
  )
  total = attn.sum(axis=-1)
  own = jnp.where(pasted, 0.0, attn).sum(axis=-1) / total
  rows_mixed = params.applied & params.is_cutmix
  return jnp.where(rows_mixed, own, params.lam).astype(jnp.float32)
