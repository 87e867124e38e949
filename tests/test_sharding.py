"""`per_shard` mixes without moving pixels between devices, and checks like the rest.

The checks on 8 host devices run in a subprocess (``sharding_worker.py``, with
``--xla_force_host_platform_device_count=8``, bounded by a timeout) that
prints one JSON report; the tests assert on it. The worker also runs every
public function inside ``jax.set_mesh`` on Explicit-axes meshes of 4 and 8
devices (``explicit_mesh_checks.py``) and per_shard on a mesh with Auto axes.
A one-device mesh is tested here, in-process.
"""

import functools
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import check_cutmix_provenance
from conftest import constant_images
from conftest import ROOT
from conftest import run_program
import cutmix_jax

# The report is a whole program on 8 devices, so its tests are `slow` (make
# test and make test-min run them, make test-lib does not). It is made once:
# --dist loadfile keeps these tests on one pytest-xdist worker, the session
# scope keeps it while other modules' tests run in between.
pytestmark = pytest.mark.xdist_group("sharding")

B, SHARDS, K = 64, 8, 10
LOCAL = B // SHARDS
MIXERS = (
    "cutmix_batch",  # alpha given positionally
    "cutmix_elem",
    "cutmix_pair",
    "mixup_elem",
    "prob_zero",
    "prob_one",
    "video_st_elem",
)
WORKER_TIMEOUT_S = 420


@pytest.fixture(scope="session")
def sharding_report():
  flags = os.environ.get("XLA_FLAGS", "")
  proc = run_program(
      [sys.executable, os.path.join(ROOT, "tests", "sharding_worker.py")],
      timeout=WORKER_TIMEOUT_S,
      env={
          "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=8",
          "JAX_PLATFORMS": "cpu",
      },
  )
  assert proc.returncode == 0, f"sharding worker failed:\n{proc.stderr[-5000:]}"
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_worker_saw_eight_devices(sharding_report):
  assert sharding_report["devices"] == SHARDS


@pytest.mark.slow
@pytest.mark.parametrize("name", MIXERS)
def test_per_shard_program_has_no_collectives(sharding_report, name):
  assert sharding_report[name]["collectives"] == []


@pytest.mark.slow
def test_per_shard_on_an_auto_axes_mesh(sharding_report):
  """A mesh with Auto axes (no reshard is asked for): no collectives either."""
  report = sharding_report["auto_mesh"]
  assert report["collectives"] == []
  assert all(report["data_sharded"])
  partner = np.asarray(report["partner"])
  np.testing.assert_array_equal(partner // LOCAL, np.arange(B) // LOCAL)


@pytest.mark.slow
def test_per_shard_on_a_batch_over_two_mesh_axes(sharding_report):
  """axis_name=("data", "fsdp"): a shard per device, each mixed on its own."""
  report = sharding_report["two_axes"]
  assert report["collectives"] == []
  assert all(report["data_sharded"])
  partner, index = np.asarray(report["partner"]), np.arange(B)
  np.testing.assert_array_equal(partner // LOCAL, index // LOCAL)
  assert np.all(partner != index)
  images = np.asarray(report["images"])
  for i in range(B):
    assert np.all((images[i] == i + 1) | (images[i] == partner[i] + 1))


@pytest.mark.slow
def test_per_shard_mixes_a_batch_dict_with_a_function_of_your_own(
    sharding_report,
):
  """A mask applied inside the function per_shard runs takes the image's
  draw on each device: every mask value follows its pixel, nothing moves."""
  report = sharding_report["batch_dict"]
  assert report["collectives"] == []
  assert all(report["data_sharded"])
  image, mask = np.asarray(report["image"]), np.asarray(report["mask"])
  own = np.arange(1, B + 1)[:, None, None]
  assert np.any(mask != own)  # something was pasted
  np.testing.assert_array_equal(mask, image)  # the same box, the same partner


@pytest.mark.slow
@pytest.mark.parametrize("name", MIXERS)
def test_per_shard_outputs_are_sharded_along_data(sharding_report, name):
  assert all(sharding_report[name]["data_sharded"])


@pytest.mark.slow
@pytest.mark.parametrize("name", MIXERS)
def test_partners_stay_in_their_shard_and_pixels_name_their_source(
    sharding_report, name
):
  report = sharding_report[name]
  partner = np.asarray(report["partner"])
  index = np.arange(B)
  np.testing.assert_array_equal(partner // LOCAL, index // LOCAL)
  # 8 examples a shard: partners are a permutation of the shard, and no
  # example is its own partner (issue 17, 2).
  for s in range(SHARDS):
    block = partner[s * LOCAL : (s + 1) * LOCAL]
    assert sorted(block.tolist()) == list(range(s * LOCAL, (s + 1) * LOCAL))
  assert np.all(partner != index)
  # Shards draw different partners (the key is folded with the shard index).
  local = partner.reshape(SHARDS, LOCAL) - index.reshape(SHARDS, LOCAL)[:, :1]
  assert len({tuple(row) for row in local}) > 1
  images = np.asarray(report["images"])
  applied = np.asarray(report["applied"])
  for i in range(B):
    own, theirs = i + 1, partner[i] + 1
    if name.startswith("mixup"):
      lam = report["lam"][i]
      np.testing.assert_allclose(
          images[i], lam * own + (1 - lam) * theirs, rtol=1e-6
      )
    else:
      assert np.all((images[i] == own) | (images[i] == theirs))
      box = report["box"][i]
      k = len(box) // 2
      pasted = images[i] != own
      expected = np.zeros_like(pasted)
      expected[tuple(slice(box[j], box[k + j]) for j in range(k))] = applied[i]
      np.testing.assert_array_equal(pasted, expected)
    if not applied[i]:
      assert np.all(images[i] == own)
  # Labels mix with the returned global partner.
  lam = np.asarray(report["lam"])[:, None]
  onehot = np.eye(K)[np.arange(B) % K]
  np.testing.assert_allclose(
      report["labels"], lam * onehot + (1 - lam) * onehot[partner], atol=1e-6
  )


@pytest.mark.slow
def test_batch_mode_uses_one_box_on_every_shard(sharding_report):
  report = sharding_report["cutmix_batch"]
  applied = np.asarray(report["applied"])
  box = np.asarray(report["box"])[applied]
  assert applied.sum() > B // 2
  assert len({tuple(b) for b in box}) == 1
  assert set(np.nonzero(applied)[0] // LOCAL) == set(range(SHARDS))


@pytest.mark.slow
def test_elem_mode_boxes_differ_across_shards(sharding_report):
  box = np.asarray(sharding_report["cutmix_elem"]["box"])
  per_shard = [
      frozenset(map(tuple, box[s * LOCAL : (s + 1) * LOCAL]))
      for s in range(SHARDS)
  ]
  assert len(set(per_shard)) == SHARDS


@pytest.mark.slow
def test_pair_mode_pairs_within_shards(sharding_report):
  partner = np.asarray(sharding_report["cutmix_pair"]["partner"])
  np.testing.assert_array_equal(partner[partner], np.arange(B))


@pytest.mark.slow
def test_traced_prob_reaches_every_shard_without_retracing(sharding_report):
  assert sharding_report["prob_traces"] == 1
  off = sharding_report["prob_zero"]
  assert not any(off["applied"])
  images = np.asarray(off["images"])
  np.testing.assert_array_equal(
      images, np.broadcast_to(np.arange(1, B + 1)[:, None, None], images.shape)
  )
  assert sum(sharding_report["prob_one"]["applied"]) > B // 2


@pytest.mark.slow
def test_plain_jit_on_sharded_batch_moves_pixels(sharding_report):
  """The contrast: without per_shard, partners cross devices (the check can fail)."""
  report = sharding_report["plain_cutmix"]
  assert set(report["collectives"]) & {
      "all-gather",
      "all-to-all",
      "collective-permute",
  }
  partner = np.asarray(report["partner"])
  assert np.any(partner // LOCAL != np.arange(B) // LOCAL)


@pytest.mark.slow
def test_video_cuboids_are_pasted_within_each_shard(sharding_report):
  report = sharding_report["video_st_elem"]
  box = np.asarray(report["box"])
  assert box.shape == (B, 6)
  assert np.any(np.asarray(report["applied"]))
  frames = np.asarray(report["images"])
  partner = np.asarray(report["partner"])
  for i in range(B):
    t0, y0, x0, t1, y1, x1 = box[i]
    inside = np.zeros(frames.shape[1:], bool)
    inside[t0:t1, y0:y1, x0:x1] = report["applied"][i]
    np.testing.assert_array_equal(
        frames[i], np.where(inside, partner[i] + 1, i + 1)
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "run", ["elem_16", "batch_16", "pair_16", "pair_24", "elem_40"]
)
def test_no_example_of_a_small_shard_is_its_own_partner(sharding_report, run):
  """Issue 17, 2: shards of 2, 3 or 5 examples mix every example (3 keys).

  Elem and batch mode: a random cycle through the shard. Pair mode: pairs,
  and with an odd shard the one left over takes from another example.
  """
  mode, n = run.split("_")
  n = int(n)
  local = n // SHARDS
  index = np.arange(n)
  for draw in sharding_report["small_shards"][run]:
    partner = np.asarray(draw["partner"])
    assert np.all(partner // local == index // local), partner
    assert np.all(partner != index), partner
    if mode == "pair":
      paired = partner[partner] == index
      # Every shard pairs all but at most one of its examples.
      per_shard = (~paired).reshape(SHARDS, local).sum(1)
      assert np.all(per_shard == local % 2), partner
    else:
      for s in range(SHARDS):
        block = partner[s * local : (s + 1) * local]
        assert sorted(block) == list(range(s * local, (s + 1) * local))
    # Something of the partner arrives wherever the box is not empty.
    images = np.asarray(draw["images"])
    for i in range(n):
      assert np.all((images[i] == i + 1) | (images[i] == partner[i] + 1))
    assert np.asarray(draw["applied"]).any()


@pytest.mark.slow
def test_per_shard_refuses_what_the_plain_function_refuses(sharding_report):
  """Issue 17, 1 and 9: value checks, with the caller's global sizes."""
  c = sharding_report["per_shard_contract"]
  # (A positional alpha reaches the function: the cutmix_batch report.)
  for name in ("one_per_shard", "one_per_shard_jit"):
    assert c[name].startswith("ValueError: images:"), c[name]
  assert c["odd_batch"].startswith("ValueError: images:"), c["odd_batch"]
  assert "8" in c["odd_batch"] and "60" in c["odd_batch"]
  labels = c["labels_global_size"]
  assert labels.startswith("ValueError: labels:"), labels
  assert "16" in labels and "8" in labels, labels
  assert c["wrong_axis"].startswith("ValueError: axis_name:")
  assert "'data'" in c["wrong_axis"]
  for name, arg in (
      ("static_at_call_time", "mode"),
      ("num_classes_at_call_time", "num_classes"),
  ):
    assert c[name].startswith(f"TypeError: {arg}:"), c[name]
    assert "functools.partial" in c[name]
  for name, arg in (
      ("alpha_negative", "alpha"),
      ("alpha_nan", "alpha"),
      ("prob_above_one", "prob"),
      ("smoothing_negative", "label_smoothing"),
      ("label_out_of_range", "labels"),
  ):
    assert c[name].startswith(f"ValueError: {arg}:"), (name, c[name])
  # Valid numpy labels beside sharded images, eagerly on 4 of the 8 devices.
  eager = sharding_report["explicit_mesh"]["4"]["calls"]["per_shard_cutmix"]
  assert "error" not in eager and all(eager["eager_sharded"]), eager


@pytest.mark.slow
@pytest.mark.parametrize("devices", ["4", "8"])
def test_every_function_works_inside_set_mesh_on_explicit_axes(
    sharding_report, devices
):
  """Jitted (and eagerly on 4 devices), on a batch sharded over ("data",).

  (The 4-device mesh leaves half of the devices out.)

  The batch outputs keep the batch's sharding and equal the unsharded
  result for the same key (selects exactly, blends to float rounding).
  """
  report = sharding_report["explicit_mesh"][devices]
  assert report["devices"] == int(devices)
  assert report["eager"] == (devices == "4")
  assert len(report["calls"]) == 13
  for name, entry in report["calls"].items():
    assert "error" not in entry, (name, entry.get("error"))
    for how in ("eager", "jit") if report["eager"] else ("jit",):
      sharded = entry[how + "_sharded"]
      batch_outputs = 1 if len(sharded) == 1 else 2
      assert all(sharded[:batch_outputs]), (name, how, sharded)
      if not name.startswith("per_shard"):
        assert entry[how + "_equal"], (name, how)
  # per_shard's params on a mask or labels that are not sharded (once, on
  # the mesh that leaves devices out).
  if report["eager"]:
    assert set(report["on_host"].values()) == {"equal"}, report["on_host"]


# ---------------------------------------------------- one device, in-process

ONE_DEVICE = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])


def test_per_shard_on_a_one_device_mesh():
  """A one-device mesh is a valid mesh: the whole batch is one shard."""
  mix = cutmix_jax.per_shard(
      cutmix_jax.with_params(
          functools.partial(cutmix_jax.cutmix, num_classes=K, mode="elem")
      ),
      ONE_DEVICE,
  )
  images = constant_images(8, (6, 5, 3), jnp.float32)
  labels = jnp.arange(8)
  for seed, call in ((0, mix), (1, jax.jit(mix))):
    mixed, soft, params = call(jax.random.key(seed), images, labels, prob=0.7)
    check_cutmix_provenance(
        mixed,
        soft,
        params,
        labels,
        num_classes=K,
        prob_is_one=False,
        images=images,
    )
    assert np.all(np.asarray(params.partner) != np.arange(8))
  # Lists, as the plain functions take them.
  listed = mix(jax.random.key(0), np.asarray(images).tolist(), list(range(8)))
  as_arrays = mix(jax.random.key(0), images, labels)
  jax.tree.map(np.testing.assert_array_equal, listed, as_arrays)


def test_per_shard_refuses_a_shard_of_one_example():
  """Issue 17, 2: never silently nothing."""
  mix = cutmix_jax.per_shard(
      functools.partial(cutmix_jax.cutmix, num_classes=K), ONE_DEVICE
  )
  one = constant_images(1, (6, 5, 3), jnp.float32)
  for call in (mix, jax.jit(mix)):
    with pytest.raises(ValueError, match="^images:"):
      call(jax.random.key(0), one, jnp.arange(1))


@pytest.mark.parametrize("how", ["keyword", "positional"])
def test_per_shard_names_partial_for_a_static_option_given_at_call_time(how):
  mix = cutmix_jax.per_shard(cutmix_jax.cutmix, ONE_DEVICE)
  images, labels = jnp.zeros((4, 6, 5, 3)), jnp.arange(4)
  key = jax.random.key(0)
  with pytest.raises(TypeError) as info:
    if how == "keyword":
      mix(key, images, labels, 1.0, num_classes=K)
    else:
      # cutmix's fifth positional parameter is keyword-only: a Python call
      # error, not the static-option hint.
      mix(key, images, labels, 1.0, K)
  message = str(info.value)
  if how == "keyword":
    assert message.startswith("num_classes:")
    assert "functools.partial(mix_fn, num_classes=...)" in message
  else:
    assert "positional" in message


def test_per_shard_call_time_values_are_what_the_function_takes():
  """A pair for ResizeMix's scale is a run-time value; a box rule is static."""
  images, labels = jnp.zeros((4, 8, 8, 3)), jnp.arange(4)
  key = jax.random.key(0)
  resize = functools.partial(cutmix_jax.resizemix, num_classes=K)
  mix = cutmix_jax.per_shard(resize, ONE_DEVICE)
  for call in (
      lambda: mix(key, images, labels, (0.2, 0.5)),
      lambda: mix(key, images, labels, scale=[0.2, 0.5]),
  ):
    np.testing.assert_allclose(np.asarray(call()[1]).sum(-1), 1.0, atol=1e-6)
  cut = cutmix_jax.per_shard(
      functools.partial(cutmix_jax.cutmix, num_classes=K), ONE_DEVICE
  )
  with pytest.raises(
      TypeError, match=r"^box:.*functools.partial\(mix_fn, box="
  ):
    cut(key, images, labels, box=cutmix_jax.boxes.minmax(0.2, 0.8))
  # A positional value is named by the function's own parameter.
  with pytest.raises(TypeError, match=r"^alpha: expected a real scalar"):
    cut(key, images, labels, "1.0")
  with pytest.raises(TypeError, match=r"^axis_name:"):
    cut(key, images, labels, axis_name="data")


@pytest.mark.parametrize("fn", [cutmix_jax.mixup, cutmix_jax.resizemix])
def test_per_shard_called_eagerly_is_the_jitted_call_bitwise(fn):
  """One compile per shape, eager or not: the same program, the same bits."""
  mix = cutmix_jax.per_shard(
      cutmix_jax.with_params(
          functools.partial(fn, num_classes=K, mode="elem", prob=0.8)
      ),
      ONE_DEVICE,
  )
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.normal(size=(8, 6, 5, 3)), jnp.float32)
  labels = jnp.arange(8) % K
  key = jax.random.key(2)
  eager = mix(key, images, labels, label_smoothing=0.1)
  jitted = jax.jit(mix)(key, images, labels, label_smoothing=0.1)
  for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
