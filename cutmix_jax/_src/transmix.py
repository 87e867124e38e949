"""TransMix (Chen et al., CVPR 2022): label weights from a ViT's attention."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from cutmix_jax._src import arguments
from cutmix_jax._src import boxes
from cutmix_jax._src import checks
from cutmix_jax._src import sampling
from cutmix_jax._src import sharding


def transmix_weights(
    attention: ArrayLike,
    params: sampling.MixParams,
    *,
    image_size: Sequence[int] = (224, 224),
    patch_size: int | Sequence[int] = 16,
) -> jax.Array:
  """The own-label weights of TransMix: the share of attention on own tokens.

  The own label gets ``sum(a * (1 - m)) / sum(a)``, ``a`` the class token's
  attention over the ``N`` patch tokens and ``m`` the tokens pasted from the
  partner (top-left pixel in the box, the paper's nearest downsampling); rows
  not CutMix-pasted, or with no attention at all, keep ``params.lam``. Mix
  with ``boxes.on_patch_grid`` and use ``params._replace(lam=weights)`` in
  `mix_labels` or `mixed_cross_entropy`.

  Args:
    attention: ``float[B, N]``, the class token's attention over the patch
      tokens (its own column removed; the paper takes the last block's), or
      ``float[B, heads, N]`` (averaged over heads).
    params: the `MixParams` the images were mixed with (`with_params`).
    image_size: ``(H, W)`` of the images (static).
    patch_size: ``ph`` or ``(ph, pw)`` (static); ``N`` must be
      ``(H / ph) (W / pw)``, tokens in row-major order.

  Returns:
    ``float32[B]``, the own label's weight of each example.

  Raises:
    TypeError, ValueError: for attention that is not float or does not match
      the patch grid, and for params that do not fit.

  Examples:
    >>> import jax, jax.numpy as jnp, cutmix_jax
    >>> _, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
    ...     jax.random.key(0), jnp.zeros((4, 32, 32, 3)), jnp.arange(4),
    ...     num_classes=4, box=cutmix_jax.boxes.on_patch_grid(8))
    >>> attention = jax.nn.softmax(jnp.ones((4, 16)))
    >>> cutmix_jax.transmix_weights(attention, params, image_size=(32, 32),
    ...                             patch_size=8).shape
    (4,)
  """
  attn = arguments.check("attention", attention)
  size = arguments.check("image_size", image_size, rule="size")
  patch = arguments.check("patch_size", patch_size, rule="sides")
  patch = (patch, patch) if isinstance(patch, int) else patch
  grid = tuple(n // p for n, p in zip(size, patch))
  expected = "(H, W), the images' two sides"
  checks.require(len(size) == 2, "image_size", expected, size)
  ok = len(patch) == 2 and all(n % p == 0 for n, p in zip(size, patch))
  checks.require(ok, "patch_size", f"sides dividing {size}", patch)
  tokens = grid[0] * grid[1]
  expected = f"{tokens} tokens ({grid[0]} x {grid[1]} patches of {patch})"
  checks.require(attn.shape[-1] == tokens, "attention", expected, attn.shape)
  params = arguments.check("params", params, batch=attn.shape[0], num_axes=2)
  params = sharding.shard_like_batch(params, attn)
  if attn.ndim == 3:
    attn = attn.mean(axis=1)
  attn = attn.astype(jnp.float32)
  # A token is pasted if its top-left pixel is: on the grid, the box's bounds
  # divided by the patch sides, rounded up.
  on_grid = -(-params.box // boxes.per_axis(patch * 2, params.box.shape))
  pasted = boxes.mask(on_grid, 3, (1, 2), grid).reshape(-1, tokens)
  total = attn.sum(axis=-1)
  safe_total = jnp.where(total > 0, total, 1)
  own = jnp.where(pasted, 0.0, attn).sum(axis=-1) / safe_total
  rows_mixed = params.applied & params.is_cutmix & (total > 0)  # else: the area
  return jnp.where(rows_mixed, own, params.lam).astype(jnp.float32)
