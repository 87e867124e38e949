"""TransMix's label weights: the paper's formula, three ways, and errors.

Each property is written once in a base class and run eagerly, under
`jax.jit` and under `jax.vmap` (`conftest.VARIANTS`); the weights must equal
a NumPy transcription of the paper's formula.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from conftest import EAGER
from conftest import JIT
from conftest import VMAP
import cutmix_jax
from cutmix_jax import boxes
from numpy_resize import random_images

K = 10
B = 7
SEEDS = (0, 1)


def _labels(batch=B):
  return jnp.arange(batch, dtype=jnp.int32) % K


def transmix_reference(attention, params, image_size, patch):
  """The paper's weights in NumPy: own = attention on tokens not pasted / all.

  A token is pasted when its top-left pixel is inside the box (the paper's
  nearest downsampling of the pixel mask to the token grid). Heads are
  averaged first; rows not pasted keep ``lam``.
  """
  attention = np.asarray(attention, np.float64)
  if attention.ndim == 3:
    attention = attention.mean(axis=1)
  (height, width), (ph, pw) = image_size, patch
  box, lam = np.asarray(params.box), np.asarray(params.lam, np.float64)
  pasted_rows = np.asarray(params.applied) & np.asarray(params.is_cutmix)
  weights = []
  for i, a in enumerate(attention):
    if not pasted_rows[i]:
      weights.append(lam[i])
      continue
    y0, x0, y1, x1 = box[i]
    own = 0.0
    for r in range(height // ph):
      for c in range(width // pw):
        pasted = y0 <= r * ph < y1 and x0 <= c * pw < x1
        own += 0.0 if pasted else a[r * (width // pw) + c]
    weights.append(own / a.sum())
  return np.asarray(weights)


def _hand_params():
  """Six rows on 16 x 12 images, patches 4 x 3 (a 4 x 4 grid of 16 tokens)."""
  box = [
      [4, 3, 12, 9],  # on the grid: 2 x 2 tokens
      [1, 1, 6, 5],  # off the grid: tokens (1, 1) only (top-lefts (4, 3))
      [0, 0, 16, 12],  # the whole image
      [8, 6, 12, 12],  # a corner
      [0, 0, 8, 8],  # not applied: keeps lam
      [0, 0, 0, 0],  # a MixUp row: keeps lam
  ]
  return cutmix_jax.MixParams(
      box=jnp.asarray(box, jnp.int32),
      lam=jnp.asarray([0.75, 0.9, 0.0, 0.75, 1.0, 0.3], jnp.float32),
      partner=jnp.asarray([1, 0, 3, 2, 4, 0], jnp.int32),
      applied=jnp.asarray([True, True, True, True, False, True]),
      is_cutmix=jnp.asarray([True, True, True, True, True, False]),
  )


class TransMixProperties:
  variant = EAGER

  def test_weights_match_the_paper_formula(self, heads):
    params = _hand_params()
    shape = (6, 16) if heads is None else (6, heads, 16)

    def call(rng, params):
      attention = jax.nn.softmax(2 * jax.random.normal(rng, shape), axis=-1)
      return attention, cutmix_jax.transmix_weights(
          attention, params, image_size=(16, 12), patch_size=(4, 3)
      )

    for attention, weights in self.variant.run_seeds(call, SEEDS, params):
      assert weights.dtype == jnp.float32 and weights.shape == (6,)
      expected = transmix_reference(attention, params, (16, 12), (4, 3))
      np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-6)
      # Unmixed and MixUp rows keep their lam; a full box gives 0.
      np.testing.assert_array_equal(
          np.asarray(weights)[4:], np.float32([1.0, 0.3])
      )
      assert float(weights[2]) == 0.0

  def test_uniform_attention_gives_the_area_weight(self):
    """On a patch-aligned CutMix, uniform attention weighs by the pasted area."""
    images = random_images((B, 16, 16, 3), jnp.float32)
    mixer = cutmix_jax.with_params(
        functools.partial(
            cutmix_jax.cutmix,
            num_classes=K,
            mode="elem",
            box=boxes.on_patch_grid(4),
            prob=0.7,
        )
    )

    def call(rng, x, y):
      _, soft, params = mixer(rng, x, y)
      attention = jnp.full((B, 2, 16), 1 / 16, jnp.float32)
      weights = cutmix_jax.transmix_weights(
          attention, params, image_size=(16, 16), patch_size=4
      )
      return soft, params, weights

    for soft, params, weights in self.variant.run_seeds(
        call, SEEDS, images, _labels()
    ):
      np.testing.assert_allclose(weights, params.lam, rtol=0, atol=1e-6)
      np.testing.assert_array_equal(
          np.asarray(weights)[~np.asarray(params.applied)], 1.0
      )
      relabelled = cutmix_jax.mix_labels(
          _labels(), params._replace(lam=weights), num_classes=K
      )
      np.testing.assert_allclose(relabelled, soft, atol=1e-6)

  def test_attention_on_the_pasted_tokens_only_gives_the_partner(self):
    params = _hand_params()

    def call(params):
      # Each example attends only to token (1, 1): pasted in rows 0 and 1.
      attention = jnp.zeros((6, 16)).at[:, 1 * 4 + 1].set(1.0)
      return cutmix_jax.transmix_weights(
          attention, params, image_size=(16, 12), patch_size=(4, 3)
      )

    for weights in self.variant.run(call, params):
      np.testing.assert_array_equal(
          np.asarray(weights), np.float32([0.0, 0.0, 0.0, 1.0, 1.0, 0.3])
      )


class TestTransMixEager(TransMixProperties):
  variant = EAGER
  grid = {"heads": [None]}


class TestTransMixJit(TransMixProperties):
  variant = JIT
  grid = {"heads": [None, 3]}


class TestTransMixVmap(TransMixProperties):
  variant = VMAP
  grid = {"heads": [3]}
