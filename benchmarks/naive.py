"""A CutMix of the kind found in JAX research code, written for this benchmark.

It is what a researcher writes in an afternoon: one lambda and one box for the
whole batch, a float mask built from a coordinate grid, and the blend
``images * (1 - mask) + partner * mask``. The label weight is taken from the
clipped box, as the paper's code does, so its labels are right; its faults
are structural: the images are promoted to float32 (a uint8 or bfloat16 batch
comes back as float32, four or two times the bytes) and the mask is
arithmetic, not a select.
"""

import jax
import jax.numpy as jnp


def research_cutmix(rng, images, labels, alpha=1.0, *, num_classes):
  """CutMix with one box per batch and float mask arithmetic.

  Args:
    rng: a PRNG key.
    images: ``[B, H, W, C]`` of any dtype (computed in float32).
    labels: ``int[B]`` class indices.
    alpha: the Beta parameter.
    num_classes: ``K``.

  Returns:
    ``(float32[B, H, W, C], float32[B, K])``.
  """
  batch, height, width, _ = images.shape
  k_lam, k_y, k_x, k_perm = jax.random.split(rng, 4)
  lam = jax.random.beta(k_lam, alpha, alpha)
  cut = jnp.sqrt(1.0 - lam)
  half_h = (height * cut).astype(jnp.int32) // 2
  half_w = (width * cut).astype(jnp.int32) // 2
  cy = jax.random.randint(k_y, (), 0, height)
  cx = jax.random.randint(k_x, (), 0, width)
  top, bottom = jnp.clip(cy - half_h, 0, height), jnp.clip(
      cy + half_h, 0, height
  )
  left, right = jnp.clip(cx - half_w, 0, width), jnp.clip(cx + half_w, 0, width)

  # The grid-and-compare mask, as floats so that it can multiply the pixels.
  rows, cols = jnp.meshgrid(
      jnp.arange(height), jnp.arange(width), indexing="ij"
  )
  inside = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
  mask = inside.astype(jnp.float32)[None, :, :, None]

  perm = jax.random.permutation(k_perm, batch)
  x = images.astype(jnp.float32)
  mixed = x * (1.0 - mask) + x[perm] * mask

  weight = 1.0 - (bottom - top) * (right - left) / (height * width)
  onehot = jax.nn.one_hot(labels, num_classes)
  mixed_labels = weight * onehot + (1.0 - weight) * onehot[perm]
  return mixed, mixed_labels
