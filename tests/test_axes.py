"""CutMix over 1, 2 or 3 axes: VideoMix, sequences and spectrograms, volumes, ViT grids.

With ``k`` cut axes of sizes ``n_i``: ``lam ~ Beta(alpha, alpha)``, sides
``c_i = floor(n_i (1 - lam)^(1/k))``, centres uniform, clipped as the paper
clips, label weight ``1 - prod(extent_i) / prod(n_i)``. Here: that law, by
KS tests against a numpy transcription, for 1 and 3 axes (the paper's 2 are
in test_distributions), and the patch grid's boxes. The pixels of every
layout (VideoMix, spectrograms, volumes, masks) are read back by the
provenance oracle in test_provenance.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import cutmix_jax
from cutmix_jax import boxes

# One worker draws the samples once: --dist loadfile keeps these tests on one
# pytest-xdist worker, the session scope keeps the draws while
# other modules' tests run in between.
pytestmark = pytest.mark.xdist_group("axes")

MODES = ("batch", "elem", "pair")


def _draw(size, mode, **kw):
  """The params of one call on 64 uint8 arrays of ``size`` (the same key)."""
  return cutmix_jax.with_params(cutmix_jax.cutmix)(
      jax.random.key(5),
      jnp.zeros((64,) + size, jnp.uint8),
      jnp.zeros((64, 2)),
      0.6,
      mode=mode,
      **kw,
  )[2]


def test_patch_grid_box_is_the_paper_box_on_the_grid():
  """Same key: the patch-aligned box is the grid's paper box, scaled up."""
  for mode in MODES:
    aligned = _draw((56, 56), mode, box=boxes.on_patch_grid(4))
    grid = _draw((14, 14), mode)
    np.testing.assert_array_equal(aligned.box, np.asarray(grid.box) * 4)
    np.testing.assert_array_equal(aligned.applied, grid.applied)
    np.testing.assert_array_equal(aligned.lam, grid.lam)


# -------------------------------------------------------- the law, k = 1, 3

N = 40000


def rand_box_nd(rng, alpha, n, size, sides_power=None):
  """The rule of the module docs in numpy, float64; returns (boxes, lam)."""
  size = np.asarray(size)
  k = len(size)
  lam = rng.beta(alpha, alpha, n)
  ratio = (1.0 - lam) ** (1.0 / (k if sides_power is None else sides_power))
  cut = np.floor(size * ratio[:, None]).astype(np.int64)
  centre = rng.integers(0, size, (n, k))
  start = np.clip(centre - cut // 2, 0, size)
  end = np.clip(centre + cut // 2, 0, size)
  lam = 1.0 - np.prod(end - start, axis=1) / np.prod(size)
  boxes = np.concatenate([start, end], axis=1)
  empty = np.any(end <= start, axis=1)
  return np.where(empty[:, None], 0, boxes), lam


def _statistics(boxes, lam, size):
  k = len(size)
  pasted = np.round((1.0 - np.asarray(lam, np.float64)) * np.prod(size))
  out = {"pasted": pasted}
  for i in range(k):
    out[f"start{i}"] = boxes[:, i]
    out[f"extent{i}"] = boxes[:, k + i] - boxes[:, i]
  return out


@pytest.fixture(scope="session", params=[(24,), (6, 8, 10)], ids=["k1", "k3"])
def library_law(request):
  size = request.param
  images = jnp.zeros((N,) + size, jnp.uint8)
  _, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
      jax.random.key(0),
      images,
      jnp.zeros((N, 2)),
      0.7,
      mode="elem",
      axes=tuple(range(1, len(size) + 1)),
  )
  drawn = np.asarray(params.partner) != np.arange(N)
  return size, _statistics(
      np.asarray(params.box)[drawn], np.asarray(params.lam)[drawn], size
  )


@pytest.mark.statistical
def test_extents_match_the_rule_for_one_and_three_axes(library_law):
  size, lib = library_law
  ref = _statistics(*rand_box_nd(np.random.default_rng(1), 0.7, N, size), size)
  pvalues = {k: stats.ks_2samp(lib[k], ref[k]).pvalue for k in lib}
  assert min(pvalues.values()) > 1e-3, pvalues


@pytest.mark.statistical
def test_the_law_test_rejects_the_wrong_root(library_law):
  """Power: square-root sides (the 2-D rule) on 1 or 3 axes are rejected."""
  size, lib = library_law
  wrong = _statistics(
      *rand_box_nd(np.random.default_rng(2), 0.7, N, size, sides_power=2), size
  )
  pvalues = {k: stats.ks_2samp(lib[k], wrong[k]).pvalue for k in lib}
  assert min(pvalues.values()) < 1e-6, pvalues
