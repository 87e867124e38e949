"""Shared helpers: the ways a property is run, constant batches, the oracle.

* `EAGER`, `JIT`, `VMAP`: dm_pix's pattern. A property is written once in a
  base class whose ``variant`` runs the function under test; each module's
  ``TestEager``/``TestJit``/``TestVmap`` subclass picks one. Under `VMAP` the
  vmapped result must also equal the loop over the same inputs. A
  subclass's ``grid`` (``{argument: values}``, see `pytest_generate_tests`)
  says which cases its properties run: usually every case under `JIT` and a
  few that exercise something else eagerly and under vmap, since each case
  costs a compile per variant.
* The numpy provenance oracle never looks at how the library computes
  anything: it reads the mixed pixels back, finds which pixels came from the
  partner, and derives the box and the label weights from those pixels alone.

The suite runs under pytest-xdist (``make test``: ``-n auto --dist
loadfile``): each file's tests run on one worker, so an expensive fixture
its tests share (a subprocess, a large draw) is session-scoped and built once.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from typing import NamedTuple

# The suite compiles thousands of small XLA programs and runs each once or
# twice: compiling with LLVM's cheap pipeline saves about a fifth of its time,
# and XLA:CPU's older loop emitters instead of its MLIR fusion emitters
# compile a program of the library in about 60% of the time (jaxlib 0.7.1 to
# 0.10, the floor to the newest tested). The numbers are the same (no
# fast-math either way); subprocesses inherit the flags
# (train_helpers.child_env passes them on). Set before JAX starts its
# backend, which it does at the first computation.
_COMPILE_SPEED_FLAGS = (
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
    "--xla_cpu_use_fusion_emitters=false",
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

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cutmix_jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Half of the library's tests' time is XLA compiling programs that a rerun
# compiles again: JAX's persistent cache keeps them on disk, keyed by the
# program, the flags and the jaxlib version (.venv and .venv-min share it
# safely). A fresh clone (CI) starts it empty; past 1 GiB it starts again
# empty. Only this process uses it: the programs the suite starts compile as
# they always do (the benchmarks time compiles; `make train` runs as users
# run it). `make clean` removes it.
_COMPILATION_CACHE = os.path.join(ROOT, ".cache", "jax")


def clear_if_over(folder: str, max_bytes: int) -> bool:
  """Removes ``folder`` if its files hold more than ``max_bytes``."""
  try:
    with os.scandir(folder) as entries:
      held = sum(e.stat().st_size for e in entries if e.is_file())
  except OSError:  # none yet, or the other xdist worker is clearing it
    return False
  if held > max_bytes:
    shutil.rmtree(folder, ignore_errors=True)
  return held > max_bytes


clear_if_over(_COMPILATION_CACHE, 1 << 30)
jax.config.update("jax_compilation_cache_dir", _COMPILATION_CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

# ---------------------------------------------------------------- variants


def _is_key(x) -> bool:
  return isinstance(x, jax.Array) and jnp.issubdtype(
      x.dtype, jax.dtypes.prng_key
  )


def assert_trees_close(a, b, *, rtol=1e-6, atol=1e-6, err_msg=""):
  """Same structure, shapes and dtypes; integer and bool leaves equal, floats close."""
  assert jax.tree.structure(a) == jax.tree.structure(b), err_msg
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape)
    if np.issubdtype(x.dtype, np.inexact) or x.dtype == jnp.bfloat16:
      np.testing.assert_allclose(
          x.astype(np.float64),
          y.astype(np.float64),
          rtol=rtol,
          atol=atol,
          err_msg=err_msg,
      )
    else:
      np.testing.assert_array_equal(x, y, err_msg=err_msg)


class Variant:
  """Runs ``fn(*args)`` one way; returns the outputs of each instance it ran.

  Every instance used the same ``args`` except PRNG keys, which the vmap
  variant folds with the instance index, so a property check written for one
  output holds for each.
  """

  name = "eager"

  def run(self, fn, *args) -> list:
    return [fn(*args)]

  def run_seeds(self, fn, seeds, *args) -> list:
    """`run` with ``jax.random.key(seed)`` first, for each seed in turn."""
    return [
        out for s in seeds for out in self.run(fn, jax.random.key(s), *args)
    ]


class _Jit(Variant):
  name = "jit"

  def run(self, fn, *args) -> list:
    return [jax.jit(fn)(*args)]


class _Vmap(Variant):
  """``jax.vmap`` over 2 instances; checks the result equals the loop.

  Both compiled: ``jax.jit(jax.vmap(fn))`` against ``jax.jit(fn)`` on each
  instance. The batching rules are the same as eagerly; batched eagerly, each
  of the hundreds of small operations of a random function would compile on
  its own for its batched shapes, and ``jax.jit(fn)`` is the program the jit
  variant already compiled when ``fn`` is the same function object.
  """

  name = "vmap"
  instances = 2

  def run(self, fn, *args) -> list:
    compiled = jax.jit(fn)
    per_instance = [
        [jax.random.fold_in(a, n) if _is_key(a) else a for a in args]
        for n in range(self.instances)
    ]
    stacked = [
        jax.tree.map(lambda *v: jnp.stack([jnp.asarray(x) for x in v]), *col)
        for col in zip(*per_instance)
    ]
    batched = jax.jit(jax.vmap(fn))(*stacked)
    outs = [
        jax.tree.map(lambda v: v[n], batched) for n in range(self.instances)
    ]
    for n, instance in enumerate(per_instance):
      # The same operations, batched: integers and selects exactly equal,
      # floats to float32 rounding.
      assert_trees_close(
          outs[n], compiled(*instance), err_msg=f"vmap != loop, instance {n}"
      )
    return outs


EAGER = Variant()
JIT = _Jit()
VMAP = _Vmap()
VARIANTS = (EAGER, JIT, VMAP)


def pytest_generate_tests(metafunc):
  """Parametrizes a test class's properties by its ``grid``.

  ``grid = {"setup": ["a", "b"], "dtype, mode": [("uint8", "pair")]}`` runs
  every property of the class that takes ``setup`` with ``a`` and ``b``, and
  every one that takes ``dtype`` and ``mode`` with that pair.
  """
  grid = getattr(metafunc.cls, "grid", None) or {}
  for names, values in grid.items():
    if all(n.strip() in metafunc.fixturenames for n in names.split(",")):
      metafunc.parametrize(names, values)


# ---------------------------------------------------------------- batches

# Layouts: name -> (example shape for (h, w), the cut axes).
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


def mix_params(box, lam, partner, applied=None, is_cutmix=None):
  """A hand-built `MixParams` of int32, float32 and bool arrays."""
  box = jnp.asarray(box, jnp.int32)
  batch = box.shape[0]
  return cutmix_jax.MixParams(
      box=box,
      lam=jnp.asarray(lam, jnp.float32),
      partner=jnp.asarray(partner, jnp.int32),
      applied=jnp.ones(batch, bool)
      if applied is None
      else jnp.asarray(applied, bool),
      is_cutmix=jnp.ones(batch, bool)
      if is_cutmix is None
      else jnp.asarray(is_cutmix, bool),
  )


def bits(x):
  """The raw bits of an array (bitwise comparisons see -0.0 and NaN payloads)."""
  x = jnp.asarray(x)
  if not jnp.issubdtype(x.dtype, jnp.floating):  # values are bits (int4 too)
    return np.asarray(x)
  width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}
  return np.asarray(jax.lax.bitcast_convert_type(x, width[x.dtype.itemsize]))


# ---------------------------------------------------------------- the oracle


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


def box_area(box) -> np.ndarray:
  """numpy: the number of cells of each box (empty boxes count 0)."""
  box = np.asarray(box, np.int64)
  k = box.shape[-1] // 2
  return np.prod(np.maximum(box[..., k:] - box[..., :k], 0), axis=-1)


def soft_reference(labels, num_classes, eps=0.0):
  """Smoothed one-hot labels in float64 (``eps / K`` everywhere, ``1 - eps`` more on the class)."""
  labels = np.asarray(labels)
  if labels.ndim == 2:
    onehot = labels.astype(np.float64)
  else:
    onehot = np.eye(num_classes)[labels]
  return onehot * (1 - eps) + eps / num_classes


def cut_axes_to_front(x, axes):
  """Moves the cut axes to the front: ``[B, n_1, ..., n_k, rest...]``."""
  x = np.asarray(jnp.asarray(x).astype(jnp.float32))
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
    axes=(1, 2),
    label_mode="area",
    label_smoothing=0.0,
    mode=None,
    prob_is_one=True,
    images=None,
):
  """Checks a CutMix output of constant-filled images against the pixels.

  Returns the pasted fraction of every example (computed from the pixels).
  """
  box, lam, partner, applied, is_cutmix = (
      np.asarray(getattr(params, f))
      for f in ("box", "lam", "partner", "applied", "is_cutmix")
  )
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
  area = box_area(box)
  assert not np.any(applied & (area == 0))
  if prob_is_one:
    np.testing.assert_array_equal(applied, (partner != index) & (area > 0))

  pix = cut_axes_to_front(out, axes)
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
    if applied[i]:
      np.testing.assert_array_equal(
          spatial,
          rect_mask(box[i], *size),
          err_msg=f"example {i}, box {box[i]}",
      )
    else:
      assert not spatial.any(), f"example {i} is not applied yet pasted"
    fractions[i] = spatial.sum() / np.prod(size)

  # Label weight of the example's own class, from the pixels and the rule.
  own_area = 1.0 - fractions
  if label_mode == "area":
    weight = own_area
    # lam is 1 - pasted_fraction(params.box), and that is the pixel count
    # over the cells up to float32 rounding (XLA may divide through a
    # reciprocal: 4 ulps of 1.0, far below the 1/cells one pixel changes).
    np.testing.assert_allclose(
        lam,
        np.where(
            applied, 1 - np.asarray(cutmix_jax.pasted_fraction(box, size)), 1
        ),
        rtol=0,
        atol=2.0**-22,
    )
    np.testing.assert_allclose(lam, 1 - fractions, rtol=0, atol=2.0**-22)
  elif label_mode == "larger_area":
    weight = np.where(applied, (own_area >= 0.5).astype(np.float64), 1.0)
  elif label_mode == "complete":
    weight = np.where(applied, 0.5, 1.0)
  else:
    raise AssertionError(label_mode)
  np.testing.assert_allclose(lam, weight, rtol=0, atol=2.0**-22)
  soft = soft_reference(labels, num_classes, label_smoothing)
  expected = weight[:, None] * soft + (1 - weight[:, None]) * soft[partner]
  mixed_labels = np.asarray(mixed_labels)
  assert mixed_labels.dtype == np.float32
  np.testing.assert_allclose(mixed_labels, expected, rtol=0, atol=1e-6)
  np.testing.assert_allclose(mixed_labels.sum(-1), 1.0, atol=1e-6)

  if mode == "batch":
    # One box and one coin for the whole batch.
    if applied.any():
      assert (box[applied] == box[applied][0]).all(), box
    assert not applied.any() or np.array_equal(applied, partner != index)
  elif mode == "pair":
    np.testing.assert_array_equal(partner[partner], index)
    np.testing.assert_array_equal(box, box[partner])
    np.testing.assert_array_equal(applied, applied[partner])
    assert np.sum(partner == index) == batch % 2
  return fractions


def blend_reference(images, lam, partner):
  """MixUp in float64: ``lam * own + (1 - lam) * partner``."""
  x = np.asarray(jnp.asarray(images).astype(jnp.float32), np.float64)
  lam = np.asarray(lam, np.float64).reshape((-1,) + (1,) * (x.ndim - 1))
  return lam * x + (1 - lam) * x[np.asarray(partner)]


def check_blend(out, images, params, rows=None):
  """Compares a MixUp output with the float64 reference, dtype by dtype.

  ``rows`` (bool[B]) restricts the comparison to some examples.
  """
  ref = blend_reference(images, params.lam, params.partner)
  assert out.dtype == images.dtype and out.shape == images.shape
  got = np.asarray(jnp.asarray(out).astype(jnp.float32), np.float64)
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


# ---------------------------------------------------------------- programs


def run_program(argv, *, timeout, env=None, cwd=ROOT):
  """Runs a program to its end (killed past ``timeout`` s, and the test fails).

  Returns the `subprocess.CompletedProcess` (text output captured).
  """
  try:
    return subprocess.run(
        [str(a) for a in argv],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )
  except subprocess.TimeoutExpired as e:
    pytest.fail(f"{argv[:3]} ran past {timeout} s; killed\n{e.stderr}")


class BackgroundJob(NamedTuple):
  """Compatibility for the notebook test (it registers one): see below."""

  argv: tuple[str, ...]
  env: dict[str, str]


BACKGROUND_JOBS: dict[str, BackgroundJob] = {}


def background_result(config, name: str, timeout: float):
  """Runs the registered job ``name`` now, bounded by ``timeout`` seconds.

  Kept so that tests written for the old scheduler still run: nothing starts
  at collection any more (pytest-xdist runs tests side by side); a test that
  needs a program runs it with `run_program`. ``{out}`` in the job's argv is
  a fresh directory. Returns ``(returncode, stdout, stderr, out_dir)``.
  """
  del config
  job = BACKGROUND_JOBS[name]
  out_dir = tempfile.mkdtemp(prefix=f"cutmix-jax-{name}-")
  proc = run_program(
      [arg.replace("{out}", out_dir) for arg in job.argv],
      timeout=timeout,
      env=job.env,
  )
  return proc.returncode, proc.stdout, proc.stderr, out_dir


def python_program(code: str, *, timeout: float, env=None):
  """Runs ``python -c code`` in this interpreter; returns its stdout (it must succeed)."""
  proc = run_program([sys.executable, "-c", code], timeout=timeout, env=env)
  assert proc.returncode == 0, proc.stderr[-5000:]
  return proc.stdout
