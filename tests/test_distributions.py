"""Requirement 3: the sampled boxes follow the paper's `rand_bbox`, in law.

The reference is a numpy transcription of clovaai/CutMix-PyTorch's train.py:

    lam = np.random.beta(beta, beta)
    W = size[2]; H = size[3]
    cut_rat = np.sqrt(1. - lam)
    cut_w = np.int(W * cut_rat); cut_h = np.int(H * cut_rat)
    cx = np.random.randint(W); cy = np.random.randint(H)
    bbx1 = np.clip(cx - cut_w // 2, 0, W); bby1 = np.clip(cy - cut_h // 2, 0, H)
    bbx2 = np.clip(cx + cut_w // 2, 0, W); bby2 = np.clip(cy + cut_h // 2, 0, H)
    lam = 1 - ((bbx2 - bbx1) * (bby2 - bby1) / (W * H))

vectorised, with H the rows and W the columns (the reference reads both from
an NCHW size, which only matters for non-square images). All keys and numpy
seeds are fixed, so these tests are deterministic; the p-value threshold
(1e-3) is loose, yet a wrong formula (ceil for floor, the unclipped area for
the label, a centre off by one) fails them by many orders of magnitude.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import cutmix_jax
from cutmix_jax import boxes as box_rules

# One worker draws the samples once: --dist loadfile keeps these tests on one
# pytest-xdist worker, the session scope keeps the draws while
# other modules' tests run in between.
pytestmark = [
    pytest.mark.xdist_group("distributions"),
    pytest.mark.statistical,
]

N = 40000  # boxes per library call (one call, mode="elem")
N_REF = 40000  # reference draws
P_MIN = 1e-3
H, W = 32, 24  # non-square, so swapped axes would show


def paper_rand_bbox(
    rng,
    alpha,
    n,
    height,
    width,
    box_size=None,
    sides_floor=np.floor,
    clipped_area=True,
):
  """The paper's `rand_bbox` + lambda recomputation, vectorised over n draws.

  Returns (boxes int[n, 4] as (y0, x0, y1, x1), lam float64[n]).
  The keyword arguments exist to demonstrate that the tests catch mistakes.
  """
  if box_size is None:
    lam = rng.beta(alpha, alpha, n)
    cut_rat = np.sqrt(1.0 - lam)
    cut_h = sides_floor(height * cut_rat).astype(np.int64)  # np.int(H * r)
    cut_w = sides_floor(width * cut_rat).astype(np.int64)
  else:
    cut_h = np.full(n, box_size[0])
    cut_w = np.full(n, box_size[1])
  cy = rng.integers(0, height, n)  # randint(H)
  cx = rng.integers(0, width, n)
  y0 = np.clip(cy - cut_h // 2, 0, height)
  x0 = np.clip(cx - cut_w // 2, 0, width)
  y1 = np.clip(cy + cut_h // 2, 0, height)
  x1 = np.clip(cx + cut_w // 2, 0, width)
  if clipped_area:
    area = (y1 - y0) * (x1 - x0)
  else:
    area = (cut_h // 2 * 2) * (cut_w // 2 * 2)
  lam = 1.0 - area / (height * width)
  return np.stack([y0, x0, y1, x1], -1), lam


def draw(n, size, alpha=1.0, fn=cutmix_jax.cutmix, seed=0, **kw):
  """``MixParams`` of one ``mode="elem"`` call on ``n`` uint8 arrays of ``size``."""
  images = jnp.zeros((n,) + tuple(size), jnp.uint8)
  labels = jnp.zeros((n, 2), jnp.float32)
  if fn is cutmix_jax.mixup_or_cutmix:
    return cutmix_jax.with_params(fn)(
        jax.random.key(seed), images, labels, mode="elem", **kw
    )[2]
  return cutmix_jax.with_params(fn)(
      jax.random.key(seed), images, labels, alpha, mode="elem", **kw
  )[2]


def library_draws(alpha, seeds=(0,), **kw):
  boxes, lams = [], []
  for seed in seeds:
    params = draw(N, (H, W), alpha, seed=seed, **kw)
    # Self-partners draw no box; keep every other example (prob is 1), empty
    # boxes included: those are reported as the box of zeros.
    drawn = np.asarray(params.partner) != np.arange(N)
    boxes.append(np.asarray(params.box)[drawn])
    lams.append(np.asarray(params.lam)[drawn])
  return np.concatenate(boxes), np.concatenate(lams)


def _as_reported(boxes):
  """The library reports a box that pastes nothing as the box of zeros."""
  empty = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
  return np.where(empty[:, None], 0, boxes)


def _statistics(boxes, lam):
  # The final lambda is 1 - k / (H W) for an integer pixel count k. The
  # library's float32 and the reference's float64 represent the same atom by
  # slightly different numbers, which a KS test on these (heavily atomic, for
  # small alpha) distributions would count as a difference: compare the atoms
  # themselves, in float64.
  pasted = np.round((1.0 - np.asarray(lam, np.float64)) * H * W)
  return {
      "lam": 1.0 - pasted / (H * W),
      "height": boxes[:, 2] - boxes[:, 0],
      "width": boxes[:, 3] - boxes[:, 1],
      "y0": boxes[:, 0],
      "y1": boxes[:, 2],
      "x0": boxes[:, 1],
      "x1": boxes[:, 3],
  }


def _pvalues(lib, ref):
  return {k: stats.ks_2samp(lib[k], ref[k]).pvalue for k in lib}


@pytest.fixture(scope="session")
def library_by_alpha():
  return {
      alpha: _statistics(*library_draws(alpha)) for alpha in (0.2, 1.0, 2.0)
  }


@pytest.mark.parametrize("alpha", [0.2, 1.0, 2.0])
def test_lambda_and_sides_match_paper(library_by_alpha, alpha):
  lib = library_by_alpha[alpha]
  ref_boxes, ref_lam = paper_rand_bbox(
      np.random.default_rng(int(alpha * 10)), alpha, N_REF, H, W
  )
  ref = _statistics(_as_reported(ref_boxes), ref_lam)
  pvalues = _pvalues(lib, ref)
  assert min(pvalues.values()) > P_MIN, pvalues
  # The label weight is the clipped box's area, recomputed as the paper does.
  assert lib["lam"].min() >= 0 and lib["lam"].max() <= 1


@pytest.mark.parametrize(
    "mistake",
    [
        dict(sides_floor=np.ceil),
        dict(sides_floor=np.round),
        dict(clipped_area=False),
    ],
)
def test_distribution_test_detects_wrong_formulas(library_by_alpha, mistake):
  """The same statistics reject a reference with a plausible mistake in it.

  This shows that the KS test above has the power to tell such formulas
  apart at these sample sizes (it is not vacuous).
  """
  lib = library_by_alpha[1.0]
  wrong_boxes, wrong_lam = paper_rand_bbox(
      np.random.default_rng(10), 1.0, N_REF, H, W, **mistake
  )
  wrong = _statistics(_as_reported(wrong_boxes), wrong_lam)
  assert min(_pvalues(lib, wrong).values()) < P_MIN / 1000


def test_uniform_centres_chi_square():
  """With a fixed box the centre can be read back exactly; it is uniform.

  ``boxes.fixed_size((8, 6))``: ``y0 = max(cy - 4, 0)``, ``y1 = min(cy + 4, H)``; if
  ``y0 > 0`` then ``cy = y0 + 4`` else ``cy = y1 - 4``. The same sampler
  places the paper's lambda boxes.
  """
  params = draw(N, (H, W), box=box_rules.fixed_size((8, 6)))
  box = np.asarray(params.box)[np.asarray(params.applied)]
  cy = np.where(box[:, 0] > 0, box[:, 0] + 4, box[:, 2] - 4)
  cx = np.where(box[:, 1] > 0, box[:, 1] + 3, box[:, 3] - 3)
  for centre, side in ((cy, H), (cx, W)):
    assert centre.min() >= 0 and centre.max() < side
    counts = np.bincount(centre, minlength=side)
    assert len(counts) == side
    assert stats.chisquare(counts).pvalue > P_MIN
  # The fixed-size boxes match the paper's placement too.
  ref = paper_rand_bbox(
      np.random.default_rng(3), None, N_REF, H, W, box_size=(8, 6)
  )[0]
  pvalues = _pvalues(
      _statistics(box, np.zeros(len(box))), _statistics(ref, np.zeros(len(ref)))
  )
  assert min(pvalues.values()) > P_MIN, pvalues


def test_gaussian_centres_concentrate():
  """``boxes.gaussian_center``: centres ``floor(n (0.5 + std z))``, clipped.

  With ``alpha`` huge, ``lam`` is 1/2 to 4 digits, so every box has the sides
  of lambda = 1/2 (22 x 16 here, halves 11 and 8) and its centre reads back
  exactly, as in `test_uniform_centres_chi_square`.
  """
  std = 0.1
  params = draw(N, (H, W), 1e6, seed=8, box=box_rules.gaussian_center(std))
  box = np.asarray(params.box)[np.asarray(params.applied)]
  assert set(np.unique(box[:, 2] - box[:, 0])) <= set(range(11, 23))
  cy = np.where(box[:, 0] > 0, box[:, 0] + 11, box[:, 2] - 11)
  cx = np.where(box[:, 1] > 0, box[:, 1] + 8, box[:, 3] - 8)
  rng = np.random.default_rng(4)
  for centre, side in ((cy, H), (cx, W)):
    ref = np.clip(
        np.floor(side * (0.5 + std * rng.normal(size=N_REF))), 0, side - 1
    )
    assert stats.ks_2samp(centre, ref).pvalue > P_MIN
    # Concentrated: the middle half of the image holds ~95% of the centres
    # (uniform centres would put half of them there).
    assert np.mean(np.abs(centre + 0.5 - side / 2) < side / 4) > 0.9
  uniform = draw(N, (H, W), seed=8, box=box_rules.fixed_size((8, 6)))
  ub = np.asarray(uniform.box)[np.asarray(uniform.applied)]
  uy = np.where(ub[:, 0] > 0, ub[:, 0] + 4, ub[:, 2] - 4)
  assert np.mean(np.abs(uy + 0.5 - H / 2) < H / 4) < 0.6
  # Fixed sides, Gaussian centres (0.2's center_std with box_size).
  rule = box_rules.gaussian_center(std, box_rules.fixed_size((8, 6)))
  both = draw(N, (H, W), seed=8, box=rule)
  fb = np.asarray(both.box)[np.asarray(both.applied)]
  fy = np.where(fb[:, 0] > 0, fb[:, 0] + 4, fb[:, 2] - 4)
  assert set(np.unique(fb[:, 2] - fb[:, 0])) <= set(range(4, 9))
  ref = np.clip(np.floor(H * (0.5 + std * rng.normal(size=N_REF))), 0, H - 1)
  assert stats.ks_2samp(fy, ref).pvalue > P_MIN


def test_minmax_sides_in_range_and_uniform():
  lo, hi = 0.2, 0.8
  params = draw(N, (H, W), seed=9, box=box_rules.minmax(lo, hi))
  box = np.asarray(params.box)[np.asarray(params.applied)]
  for axis, side in ((0, H), (1, W)):
    start, stop = box[:, axis], box[:, axis + 2]
    sides = stop - start
    low, high = int(side * lo), int(side * hi)
    assert sides.min() >= low and sides.max() < high
    # Never clipped: the whole box lies inside the image.
    assert start.min() >= 0 and stop.max() <= side
    counts = np.bincount(sides - low, minlength=high - low)
    assert len(counts) == high - low
    assert stats.chisquare(counts).pvalue > P_MIN
    # Every position is reachable, the flush-right one included.
    assert np.any(start == 0) and np.any(stop == side)
    # Given the side, the start is uniform on [0, side - cut]:
    # (start + U) / (side - cut + 1) is uniform on [0, 1).
    u = (start + np.random.default_rng(axis).random(len(start))) / (
        side - sides + 1
    )
    assert stats.kstest(u, "uniform").pvalue > P_MIN


def test_prob_and_switch_prob_frequencies():
  params = draw(
      N, (H, W), fn=cutmix_jax.mixup_or_cutmix, seed=12, switch_prob=0.3,
      prob=0.6,
  )  # fmt: skip
  applied = np.asarray(params.applied)
  partner = np.asarray(params.partner)
  eligible = partner != np.arange(N)
  is_cut = np.asarray(params.is_cutmix)
  # The prob coin: MixUp rows (whose lambda is below 1 almost surely) are
  # applied exactly where the coin came up; CutMix rows also need a box
  # that is not empty.
  assert (
      stats.binomtest(
          int(applied[~is_cut].sum()), int(eligible[~is_cut].sum()), 0.6
      ).pvalue
      > P_MIN
  )
  assert stats.binomtest(int(is_cut.sum()), N, 0.3).pvalue > P_MIN
  # CutMix rows carry area weights, MixUp rows Beta(0.8) weights.
  lam = np.asarray(params.lam)
  mix_rows = applied & ~is_cut
  assert stats.kstest(lam[mix_rows], stats.beta(0.8, 0.8).cdf).pvalue > P_MIN
  box = np.asarray(params.box)
  np.testing.assert_array_equal(box[~(applied & is_cut)], 0)
  np.testing.assert_array_equal(
      lam[applied & is_cut],
      (1 - cutmix_jax.pasted_fraction(box, (H, W)))[applied & is_cut],
  )


def test_elem_partners_are_a_uniform_permutation():
  """A random permutation: (i mod 8, partner mod 8) is uniform on 64 cells."""
  partner = np.asarray(
      draw(N, (H, W), seed=13, box=box_rules.fixed_size((8, 6))).partner
  )
  assert sorted(partner.tolist()) == list(range(N))
  cells = np.bincount((np.arange(N) % 8) * 8 + partner % 8, minlength=64)
  assert stats.chisquare(cells).pvalue > P_MIN
  # Not the identity nor a rotation: displacements are spread out.
  assert len(np.unique((partner - np.arange(N)) % N)) > N // 2
