"""The standard CIFAR augmentation and the normalisation, on device or host.

Pad by 4, crop back at a random offset and flip half the images (the
paper's CIFAR recipe, as torchvision's ``RandomCrop(32, padding=4)`` and
``RandomHorizontalFlip``). ``config.augment.on = "device"`` runs it inside
the jitted step (`augment_on_device`) from the step's key, so no image
leaves its device; ``"host"`` runs `crop_and_flip_host` in NumPy on the
loading thread.
"""

import jax
import jax.numpy as jnp
import numpy as np


def crop_and_flip_host(
    images: np.ndarray,
    seed: tuple[int, ...],
    *,
    pad: int = 4,
    flip: bool = True,
) -> np.ndarray:
  """The standard augmentation in NumPy, deterministic in ``seed``."""
  rng = np.random.default_rng(list(seed))
  n, h, w, _ = images.shape
  padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  dy = rng.integers(0, 2 * pad + 1, n)
  dx = rng.integers(0, 2 * pad + 1, n)
  rows = dy[:, None] + np.arange(h)[None]
  cols = dx[:, None] + np.arange(w)[None]
  out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
  if flip:
    mirror = rng.random(n) < 0.5
    out[mirror] = out[mirror, :, ::-1]
  return out


def augment_on_device(
    rng: jax.Array, images: jax.Array, *, pad: int = 4, flip: bool = True
) -> jax.Array:
  """Zero-pad by ``pad``, crop back at a random offset, flip half: per example.

  The crop and the flip are two `take_along_axis` gathers (rows, then
  columns) with per-example offsets: static shapes, no dynamic slicing, and
  each example only reads itself, so it stays on its device.

  Args:
    rng: a PRNG key.
    images: ``[B, H, W, C]`` any dtype (uint8 here; padding is black, as
      torchvision pads the PIL image).
    pad: the padding on each side.
    flip: whether to flip horizontally with probability 1/2.

  Returns:
    Images of the same shape and dtype.
  """
  b, h, w, _ = images.shape
  key_y, key_x, key_f = jax.random.split(rng, 3)
  dy = jax.random.randint(key_y, (b,), 0, 2 * pad + 1)
  dx = jax.random.randint(key_x, (b,), 0, 2 * pad + 1)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  rows = (dy[:, None] + jnp.arange(h)[None])[:, :, None, None]
  cols = dx[:, None] + jnp.arange(w)[None]
  if flip:
    mirror = jax.random.bernoulli(key_f, 0.5, (b,))
    cols = jnp.where(mirror[:, None], cols[:, ::-1], cols)
  out = jnp.take_along_axis(padded, rows, axis=1)
  return jnp.take_along_axis(out, cols[:, None, :, None], axis=2)


def normalize(images: jax.Array, mean, std, dtype=jnp.float32) -> jax.Array:
  """``(x - mean) / std`` per channel, from uint8 to ``dtype``."""
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  return ((images.astype(jnp.float32) - mean) / std).astype(dtype)
