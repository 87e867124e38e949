"""CutMix over 1, 2 or 3 axes: VideoMix, sequences and spectrograms, volumes, ViT grids.

With ``k`` cut axes of sizes ``n_i``: ``lam ~ Beta(alpha, alpha)``, sides
``c_i = floor(n_i (1 - lam)^(1/k))``, centres uniform, clipped as the paper
clips, label weight ``1 - prod(extent_i) / prod(n_i)``. The provenance oracle
(`conftest.check_cutmix_provenance`) reads every output value back to its
source, finds the pasted region from the pixels alone, checks it is one
hyper-rectangle equal to ``params.box``, and that the label weight equals the
pasted fraction.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from conftest import check_cutmix_provenance
from conftest import constant_images
import cutmix_jax

K = 10
MODES = ("batch", "elem", "pair")
# name -> (example shape, axes)
LAYOUTS = {
    "s_videomix": ((6, 8, 7, 2), (2, 3)),  # NTHWC, a box through all frames
    "t_videomix": ((6, 8, 7, 2), (1,)),  # a run of whole frames
    "st_videomix": ((6, 8, 7, 2), (1, 2, 3)),  # a spatio-temporal cuboid
    "spectrogram_time": ((20, 9), (1,)),  # (B, T, F): a time segment
    "spectrogram_box": ((20, 9), (1, 2)),  # time and frequency band
    "sequence_features": ((16, 3), (-2,)),  # (B, T, D), negative axis
    "volume": ((5, 6, 7, 1), (1, 2, 3)),  # (B, D, H, W, C)
    "video_masks": ((4, 6, 5), (1, 2, 3)),  # (B, T, H, W) integer masks
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_provenance_over_k_axes(layout, mode):
  shape, axes = LAYOUTS[layout]
  batch = 9
  dtype = jnp.int32 if layout == "video_masks" else jnp.float32
  images = constant_images(batch, shape, dtype)
  labels = jnp.arange(batch) % K
  for seed, prob, label_mode in (
      (0, 1.0, "area"),
      (1, 0.6, "complete"),
      (2, 1.0, "larger_area"),
  ):
    out, soft, params = cutmix_jax.cutmix(
        jax.random.key(seed),
        images,
        labels,
        0.8,
        num_classes=K,
        mode=mode,
        prob=prob,
        axes=axes,
        label_mode=label_mode,
        label_smoothing=0.1,
        return_params=True,
    )
    assert params.box.shape == (batch, 2 * len(axes))
    check_cutmix_provenance(
        out,
        soft,
        params,
        labels,
        num_classes=K,
        axes=axes,
        mode=mode,
        prob_is_one=prob == 1.0,
        label_mode=label_mode,
        label_smoothing=0.1,
        images=images,
    )


def test_spatial_axes_is_an_alias_of_axes():
  images = constant_images(8, (4, 6, 5, 2), jnp.float32)
  labels = jnp.arange(8)
  key = jax.random.key(0)
  for axes in ((2, 3), (1,), (1, 2, 3)):
    a = cutmix_jax.cutmix(
        key, images, labels, num_classes=K, axes=axes, return_params=True
    )
    b = cutmix_jax.cutmix(
        key,
        images,
        labels,
        num_classes=K,
        spatial_axes=axes,
        return_params=True,
    )
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
      np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("mode", MODES)
def test_mixup_or_cutmix_over_a_cuboid(mode):
  batch, shape, axes = 8, (6, 8, 7, 2), (1, 2, 3)
  images = constant_images(batch, shape, jnp.float32)
  labels = jnp.arange(batch) % K
  out, soft, params = cutmix_jax.mixup_or_cutmix(
      jax.random.key(3),
      images,
      labels,
      num_classes=K,
      mode=mode,
      axes=axes,
      return_params=True,
  )
  cut = np.asarray(params.is_cutmix)
  assert params.box.shape == (batch, 6)
  # CutMix rows: one cuboid from one partner; MixUp rows: no box.
  np.testing.assert_array_equal(np.asarray(params.box)[~cut], 0)
  cut_rows = jax.tree.map(lambda v: v[cut], params)
  if cut.any():
    pasted = cutmix_jax.cut_and_paste(images, params, axes=axes)
    np.testing.assert_array_equal(np.asarray(out)[cut], np.asarray(pasted)[cut])
    weights = 1 - cutmix_jax.pasted_fraction(cut_rows.box, (6, 8, 7))
    np.testing.assert_allclose(
        cut_rows.lam, np.where(cut_rows.applied, weights, 1.0), atol=1e-7
    )
  np.testing.assert_allclose(np.asarray(soft).sum(-1), 1.0, atol=1e-6)


# ----------------------------------------------------------- patch grids


@pytest.mark.parametrize("patch", [8, (4, 8), (16, 2)])
@pytest.mark.parametrize("mode", MODES)
def test_patch_aligned_boxes_keep_tokens_whole(patch, mode):
  batch, size = 12, (32, 32)
  images = constant_images(batch, size + (3,), jnp.float32)
  labels = jnp.arange(batch) % K
  out, soft, params = cutmix_jax.cutmix(
      jax.random.key(4),
      images,
      labels,
      num_classes=K,
      mode=mode,
      patch_size=patch,
      return_params=True,
  )
  check_cutmix_provenance(
      out, soft, params, labels, num_classes=K, mode=mode, images=images
  )
  step = np.asarray(np.broadcast_to(patch, (2,)).tolist() * 2)
  box = np.asarray(params.box)
  assert np.all(box % step == 0), box
  # Every token (a patch) comes whole from one image.
  ph, pw = step[:2]
  tokens = np.asarray(out)[..., 0].reshape(batch, 32 // ph, ph, 32 // pw, pw)
  assert np.all(tokens == tokens[:, :, :1, :, :1])


def test_patch_grid_box_is_the_paper_box_on_the_grid():
  """Same key: the patch-aligned box is the grid's paper box, scaled up."""
  key = jax.random.key(5)
  for mode in MODES:
    aligned = cutmix_jax.sample_cutmix_params(
        key, 64, (224, 224), 0.6, mode=mode, patch_size=16
    )
    grid = cutmix_jax.sample_cutmix_params(key, 64, (14, 14), 0.6, mode=mode)
    np.testing.assert_array_equal(aligned.box, np.asarray(grid.box) * 16)
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


@pytest.fixture(scope="module", params=[(24,), (6, 8, 10)], ids=["k1", "k3"])
def library_law(request):
  size = request.param
  params = cutmix_jax.sample_cutmix_params(
      jax.random.key(0), N, size, 0.7, mode="elem"
  )
  drawn = np.asarray(params.partner) != np.arange(N)
  return size, _statistics(
      np.asarray(params.box)[drawn], np.asarray(params.lam)[drawn], size
  )


def test_extents_match_the_rule_for_one_and_three_axes(library_law):
  size, lib = library_law
  ref = _statistics(*rand_box_nd(np.random.default_rng(1), 0.7, N, size), size)
  pvalues = {k: stats.ks_2samp(lib[k], ref[k]).pvalue for k in lib}
  assert min(pvalues.values()) > 1e-3, pvalues


def test_the_law_test_rejects_the_wrong_root(library_law):
  """Power: square-root sides (the 2-D rule) on 1 or 3 axes are rejected."""
  size, lib = library_law
  wrong = _statistics(
      *rand_box_nd(np.random.default_rng(2), 0.7, N, size, sides_power=2), size
  )
  pvalues = {k: stats.ks_2samp(lib[k], wrong[k]).pvalue for k in lib}
  assert min(pvalues.values()) < 1e-6, pvalues


# ------------------------------------------------------ eager, jit, vmap


@pytest.mark.parametrize("layout", ["t_videomix", "st_videomix"])
def test_eager_jit_and_vmap_agree(layout):
  shape, axes = LAYOUTS[layout]
  fn = functools.partial(
      cutmix_jax.cutmix,
      num_classes=K,
      mode="elem",
      axes=axes,
      return_params=True,
  )
  images = constant_images(5, shape, jnp.float32)
  labels = jnp.arange(5)
  keys = jax.random.split(jax.random.key(6), 3)
  eager = [fn(k, images * (n + 1), labels) for n, k in enumerate(keys)]
  jitted = jax.jit(fn)
  batched = jax.vmap(fn)(
      keys,
      jnp.stack([images * (n + 1) for n in range(3)]),
      jnp.stack([labels] * 3),
  )
  for n, k in enumerate(keys):
    got = jitted(k, images * (n + 1), labels)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(eager[n])):
      np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(eager[n])):
      np.testing.assert_allclose(a[n], b, rtol=1e-6, atol=1e-6)
