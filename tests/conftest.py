"""Shared helpers: constant-filled batches and the numpy provenance oracle.

The oracle never looks at how the library computes anything: it reads the
mixed pixels back, finds which pixels came from the partner, and derives the
box and the label weights from those pixels alone.
"""

import json
import os
import subprocess
import sys
import tempfile
from typing import NamedTuple

# The suite compiles thousands of small XLA programs and runs each once or
# twice: compiling with LLVM's cheap pipeline saves about a fifth of its time.
# The numbers are the same (no fast-math either way); subprocesses inherit the
# flags (train_helpers.child_env passes them on). Set before JAX starts its
# backend, which it does at the first computation.
_COMPILE_SPEED_FLAGS = (
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
_flags = os.environ.get("XLA_FLAGS", "").split()
os.environ["XLA_FLAGS"] = " ".join(
    _flags
    + [
        f
        for f in _COMPILE_SPEED_FLAGS
        if not any(g.startswith(f.split("=")[0]) for g in _flags)
    ]
)

import jax.numpy as jnp
import numpy as np
import pytest

import cutmix_jax

# Layouts: name -> (per-example shape builder, spatial_axes, channel-free?).
LAYOUTS = {
    # NHWC, a non-square image so that swapped axes would show.
    "nhwc": (lambda h, w: (h, w, 3), (1, 2)),
    "nchw": (lambda h, w: (2, h, w), (2, 3)),
    "video": (lambda h, w: (3, h, w, 2), (2, 3)),
    "segmentation": (lambda h, w: (h, w), (1, 2)),
}

DTYPES = {
    "float32": jnp.float32,
    "bfloat16": jnp.bfloat16,
    "uint8": jnp.uint8,
    "int32": jnp.int32,
}


def constant_images(batch, example_shape, dtype):
  """Image ``i`` is filled with the constant ``i + 1``."""
  values = np.arange(1, batch + 1, dtype=np.float32)
  values = values.reshape((batch,) + (1,) * len(example_shape))
  return jnp.asarray(
      np.broadcast_to(values, (batch,) + tuple(example_shape)), dtype
  )


def rect_mask(box, *size):
  """numpy ``bool[*size]``: the elements inside a box of ``k = len(size)`` axes.

  ``box`` holds the ``k`` starts, then the ``k`` ends; for an image
  ``rect_mask((y0, x0, y1, x1), H, W)`` is rows ``[y0, y1)`` and columns
  ``[x0, x1)``.
  """
  box = [int(v) for v in box]
  k = len(size)
  assert len(box) == 2 * k, (box, size)
  inside = np.ones(size, bool)
  for i, n in enumerate(size):
    index = np.arange(n).reshape([n if j == i else 1 for j in range(k)])
    inside &= (index >= box[i]) & (index < box[k + i])
  return inside


def soft_reference(labels, num_classes, eps=0.0):
  """Smoothed one-hot labels in float64 (``eps / K`` everywhere, ``1 - eps`` more on the class)."""
  labels = np.asarray(labels)
  if labels.ndim == 2:
    onehot = labels.astype(np.float64)
  else:
    onehot = np.eye(num_classes)[labels]
  return onehot * (1 - eps) + eps / num_classes


def spatial_to_front(x, axes):
  """Moves the cut axes to the front: ``[B, n_1, ..., n_k, rest...]``."""
  x = np.asarray(x.astype(jnp.float32) if hasattr(x, "astype") else x)
  axes = [a % x.ndim for a in axes]
  sizes = [x.shape[a] for a in axes]
  moved = np.moveaxis(x, axes, list(range(1, len(axes) + 1)))
  return moved.reshape([x.shape[0]] + sizes + [-1])


def check_cutmix_provenance(
    out,
    mixed_labels,
    params,
    labels,
    *,
    num_classes,
    spatial_axes=(1, 2),
    axes=None,
    label_mode="area",
    label_smoothing=0.0,
    mode=None,
    prob_is_one=True,
    images=None,
):
  """Checks a CutMix output of constant-filled images against the pixels.

  Returns the pasted fraction of every example (computed from the pixels).
  """
  axes = spatial_axes if axes is None else axes
  params = [np.asarray(p) for p in params]
  box, lam, partner, applied, is_cutmix = params
  batch = partner.shape[0]
  k = len(axes)
  index = np.arange(batch)
  assert box.dtype == np.int32 and box.shape == (batch, 2 * k)
  assert lam.dtype == np.float32 and lam.shape == (batch,)
  assert partner.dtype == np.int32 and applied.dtype == np.bool_
  assert is_cutmix.dtype == np.bool_ and is_cutmix.all()
  # Partners form a permutation of the batch; a self-partner is never applied.
  assert sorted(partner.tolist()) == list(range(batch))
  assert not np.any(applied & (partner == index))
  # Applied exactly where something of the partner arrives: never with an
  # empty box, and with prob 1 everywhere else.
  area = np.asarray(cutmix_jax.box_area(box))
  assert not np.any(applied & (area == 0))
  if prob_is_one:
    np.testing.assert_array_equal(applied, (partner != index) & (area > 0))

  pix = spatial_to_front(out, axes)
  size = pix.shape[1 : 1 + k]
  if images is not None:
    assert out.dtype == images.dtype and out.shape == images.shape
  own_value = (index + 1).astype(np.float32)
  fractions = np.zeros(batch)
  for i in range(batch):
    own, theirs = own_value[i], own_value[partner[i]]
    values = pix[i]
    # Every pixel is the example's own value or its partner's.
    assert np.all(
        (values == own) | (values == theirs)
    ), f"example {i}: values {np.unique(values)} not in {{{own}, {theirs}}}"
    pasted = values != own
    # The pasted region is the same across the axes that are not cut...
    spatial = pasted[..., 0]
    assert np.all(pasted == spatial[..., None])
    # ... and it is exactly the hyper-rectangle params.box (empty if not
    # applied).
    starts, ends = box[i][:k], box[i][k:]
    assert np.all(0 <= starts) and np.all(starts <= ends), box[i]
    assert np.all(ends <= np.asarray(size)), box[i]
    if partner[i] != i:
      np.testing.assert_array_equal(
          spatial,
          rect_mask(box[i], *size),
          err_msg=f"example {i}, box {box[i]}",
      )
    else:
      assert not spatial.any()
    if not applied[i]:
      np.testing.assert_array_equal(box[i], 0)
      assert not spatial.any()
    fractions[i] = spatial.sum() / np.prod(size)

  # Label weight of the example's own class, from the pixels and the rule.
  own_area = 1.0 - fractions
  if label_mode == "area":
    weight = own_area
    # lam is computed from the same integers that built the mask: it is
    # 1 - pasted_fraction(params.box) (to the last bit where XLA divides the
    # same way; jitted, some versions divide through a reciprocal: 1 ulp)...
    np.testing.assert_allclose(
        lam,
        np.where(
            applied, 1 - np.asarray(cutmix_jax.pasted_fraction(box, size)), 1
        ),
        rtol=0,
        atol=2.0**-24,
    )
    # ... and that is the pixel count over H*W up to float32 rounding (XLA
    # divides by a scalar through its reciprocal, so allow 4 ulps of 1.0,
    # far below the 1/(H*W) that one pixel would change).
    np.testing.assert_allclose(lam, 1 - fractions, rtol=0, atol=2.0**-22)
  elif label_mode == "larger_area":
    weight = np.where(applied, (own_area >= 0.5).astype(np.float64), 1.0)
  elif label_mode == "complete":
    weight = np.where(applied, 0.5, 1.0)
  else:
    raise AssertionError(label_mode)
  np.testing.assert_allclose(lam, weight, rtol=0, atol=1e-7)
  soft = soft_reference(labels, num_classes, label_smoothing)
  expected = weight[:, None] * soft + (1 - weight[:, None]) * soft[partner]
  mixed_labels = np.asarray(mixed_labels)
  assert mixed_labels.dtype == np.float32
  np.testing.assert_allclose(mixed_labels, expected, rtol=0, atol=1e-6)
  np.testing.assert_allclose(mixed_labels.sum(-1), 1.0, atol=1e-6)

  if mode == "batch":
    # One box for the whole batch; the coin is shared too.
    if applied.any():
      assert (box[applied] == box[applied][0]).all(), box
    # The coin is per batch: either nobody or every non-fixed point is mixed.
    assert not applied.any() or np.array_equal(applied, partner != index)
  elif mode == "pair":
    np.testing.assert_array_equal(partner[partner], index)
    np.testing.assert_array_equal(box, box[partner])
    np.testing.assert_array_equal(applied, applied[partner])
    assert np.sum(partner == index) == batch % 2
  return fractions


def blend_reference(images, lam, partner):
  """MixUp in float64: ``lam * own + (1 - lam) * partner``, rounded for ints."""
  x = np.asarray(jnp.asarray(images).astype(jnp.float32), np.float64)
  lam = np.asarray(lam, np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
  return lam * x + (1 - lam) * x[np.asarray(partner)]


def check_blend(out, images, params, rows=None):
  """Compares a MixUp output with the float64 reference, dtype by dtype.

  ``rows`` (bool[B]) restricts the comparison to some examples.
  """
  ref = blend_reference(images, params.lam, params.partner)
  assert out.dtype == images.dtype and out.shape == images.shape
  got = np.asarray(out.astype(jnp.float32), np.float64)
  if rows is not None:
    ref, got = ref[np.asarray(rows)], got[np.asarray(rows)]
  if jnp.issubdtype(images.dtype, jnp.integer):
    info = np.iinfo(np.dtype(images.dtype))
    expected = np.clip(np.round(ref), info.min, info.max)
    # float32 vs float64 may only disagree where the value is a tie to round.
    tie = np.abs(ref - np.floor(ref) - 0.5) < 1e-3
    np.testing.assert_array_equal(got[~tie], expected[~tie])
    assert np.all(np.abs(got - expected)[tie] <= 1)
  elif images.dtype == jnp.bfloat16:
    expected = np.asarray(
        jnp.asarray(ref, jnp.float32).astype(jnp.bfloat16).astype(jnp.float32),
        np.float64,
    )
    np.testing.assert_allclose(got, expected, rtol=2.0**-7, atol=1e-6)
  else:
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------
# Background programs. Some tests read the output of a whole program (the
# sharding checks on 8 host devices, the benchmarks' smoke run, the notebook).
# Each such program is started as soon as collection selects a test that asks
# for its fixture, so it runs on the second core while the other tests run on
# the first; the fixture then waits for it (bounded) and reads what it wrote.


class BackgroundJob(NamedTuple):
  """How to start one background program.

  Attributes:
    argv: the command; ``{out}`` in an item is replaced by a fresh directory
      of the job's own, where the program may write files.
    env: variables to set on top of this process's environment.
  """

  argv: tuple[str, ...]
  env: dict[str, str]


# Fixture name -> job. Test modules register theirs at import (collection).
BACKGROUND_JOBS: dict[str, BackgroundJob] = {}
_STARTED = pytest.StashKey[dict]()
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pytest_collection_modifyitems(session, config, items):
  del session
  wanted = {
      name
      for item in items
      for name in getattr(item, "fixturenames", ())
      if name in BACKGROUND_JOBS
  }
  started = config.stash.setdefault(_STARTED, {})
  for name in sorted(wanted):
    job = BACKGROUND_JOBS[name]
    out_dir = tempfile.mkdtemp(prefix=f"cutmix-jax-{name}-")
    # Files, not pipes: nothing blocks if the output is never read.
    out = tempfile.TemporaryFile("w+")
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(
        [arg.replace("{out}", out_dir) for arg in job.argv],
        env={**os.environ, **job.env},
        stdout=out,
        stderr=err,
        text=True,
        cwd=_ROOT,
    )
    started[name] = (proc, out, err, out_dir)


def pytest_sessionfinish(session, exitstatus):
  """Stops the jobs still running if the session ends first (-x, ...)."""
  del exitstatus
  for proc, *_ in session.config.stash.get(_STARTED, {}).values():
    if proc.poll() is None:
      proc.kill()
      proc.wait()


def background_result(config, name: str, timeout: float):
  """Waits for the job of fixture ``name``: ``(returncode, stdout, stderr, out_dir)``.

  A job that runs past ``timeout`` seconds (counted from now) is killed and
  the test fails.
  """
  started = config.stash.get(_STARTED, {})
  assert name in started, f"the background job {name!r} was not started"
  proc, out, err, out_dir = started[name]
  try:
    proc.wait(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    proc.wait()
    pytest.fail(f"background job {name!r} ran past {timeout} s; killed")
  out.seek(0)
  err.seek(0)
  return proc.returncode, out.read(), err.read(), out_dir


BACKGROUND_JOBS["sharding_report"] = BackgroundJob(
    argv=(sys.executable, os.path.join(_ROOT, "tests", "sharding_worker.py")),
    env={
        "XLA_FLAGS": (
            os.environ["XLA_FLAGS"]
            + " --xla_force_host_platform_device_count=8"
        ),
        "JAX_PLATFORMS": "cpu",
    },
)


@pytest.fixture(scope="session")
def sharding_report(request):
  code, out, err, _ = background_result(
      request.config, "sharding_report", timeout=600
  )
  assert code == 0, f"sharding worker failed:\n{err[-5000:]}"
  return json.loads(out.strip().splitlines()[-1])
