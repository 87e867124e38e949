"""Requirement 5: `per_shard` mixes without moving pixels between devices.

The checks run in a subprocess with 8 host devices (``sharding_worker.py``,
started by ``conftest.py`` as soon as these tests are collected, so that it
runs alongside the other tests); here we assert on its report. The worker
also runs every public function inside ``jax.set_mesh`` on Explicit-axes
meshes of 4 and 8 devices (``explicit_mesh_checks.py``).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import check_cutmix_provenance
import cutmix_jax

B, SHARDS, K = 64, 8, 10
LOCAL = B // SHARDS
MIXERS = (
    "cutmix_batch",
    "cutmix_elem",
    "cutmix_pair",
    "mixup_elem",
    "prob_zero",
    "prob_one",
    "video_st_elem",
)


def test_worker_saw_eight_devices(sharding_report):
  assert sharding_report["devices"] == SHARDS


@pytest.mark.parametrize("name", MIXERS)
def test_per_shard_program_has_no_collectives(sharding_report, name):
  assert sharding_report[name]["collectives"] == []


@pytest.mark.parametrize("name", MIXERS)
def test_per_shard_outputs_are_sharded_along_data(sharding_report, name):
  assert all(sharding_report[name]["data_sharded"])


@pytest.mark.parametrize("name", MIXERS)
def test_partners_stay_in_their_shard(sharding_report, name):
  report = sharding_report[name]
  partner = np.asarray(report["partner"])
  index = np.arange(B)
  np.testing.assert_array_equal(partner // LOCAL, index // LOCAL)
  # Within each shard the partners are a permutation of that shard.
  for s in range(SHARDS):
    block = partner[s * LOCAL : (s + 1) * LOCAL]
    assert sorted(block.tolist()) == list(range(s * LOCAL, (s + 1) * LOCAL))
  # Shards draw different partners (the key is folded with the shard index).
  local = partner.reshape(SHARDS, LOCAL) - index.reshape(SHARDS, LOCAL)[:, :1]
  assert len({tuple(row) for row in local}) > 1
  # Every pixel is the example's own value (i + 1) or its partner's.
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
      expected[tuple(slice(box[j], box[k + j]) for j in range(k))] = (
          partner[i] != i
      )
      np.testing.assert_array_equal(pasted, expected)
    if not applied[i]:
      assert np.all(images[i] == own)
  # Labels mix with the returned global partner.
  lam = np.asarray(report["lam"])[:, None]
  onehot = np.eye(K)[np.arange(B) % K]
  np.testing.assert_allclose(
      report["labels"], lam * onehot + (1 - lam) * onehot[partner], atol=1e-6
  )


def test_batch_mode_uses_one_box_on_every_shard(sharding_report):
  report = sharding_report["cutmix_batch"]
  applied = np.asarray(report["applied"])
  box = np.asarray(report["box"])[applied]
  assert applied.sum() > B // 2
  assert len({tuple(b) for b in box}) == 1
  # ... with examples on every shard.
  assert set(np.nonzero(applied)[0] // LOCAL) == set(range(SHARDS))


def test_elem_mode_boxes_differ_across_shards(sharding_report):
  box = np.asarray(sharding_report["cutmix_elem"]["box"])
  per_shard = [
      frozenset(map(tuple, box[s * LOCAL : (s + 1) * LOCAL]))
      for s in range(SHARDS)
  ]
  assert len(set(per_shard)) == SHARDS


def test_pair_mode_pairs_within_shards(sharding_report):
  partner = np.asarray(sharding_report["cutmix_pair"]["partner"])
  np.testing.assert_array_equal(partner[partner], np.arange(B))
  assert np.all(partner != np.arange(B))  # 8 per shard: everyone is paired


def test_traced_prob_reaches_every_shard_without_retracing(sharding_report):
  assert sharding_report["prob_traces"] == 1
  off = sharding_report["prob_zero"]
  assert not any(off["applied"])
  images = np.asarray(off["images"])
  np.testing.assert_array_equal(
      images, np.broadcast_to(np.arange(1, B + 1)[:, None, None], images.shape)
  )
  assert sum(sharding_report["prob_one"]["applied"]) > B // 2


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


_AUTO_MESH_SCRIPT = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
import functools, jax, jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
import cutmix_jax
mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
mix = jax.jit(cutmix_jax.per_shard(
    functools.partial(cutmix_jax.cutmix, num_classes=10), mesh))
x = jax.device_put(jnp.zeros((64, 8, 8, 3)), NamedSharding(mesh, P("data")))
y = jax.device_put(jnp.arange(64) % 10, NamedSharding(mesh, P("data")))
hlo = mix.lower(jax.random.key(0), x, y).compile().as_text()
bad = [op for op in ("all-gather", "all-to-all", "collective-permute") if op in hlo]
assert not bad, bad
print("AUTO MESH OK", mix(jax.random.key(0), x, y)[0].sharding.spec)
"""


def test_per_shard_on_an_auto_axes_mesh():
  """per_shard also works on a mesh with Auto axes (no reshard is asked for)."""
  import subprocess
  import sys

  result = subprocess.run(
      [sys.executable, "-c", _AUTO_MESH_SCRIPT],
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert "AUTO MESH OK" in result.stdout


@pytest.mark.parametrize("devices", ["4", "8"])
def test_every_function_works_inside_set_mesh_on_explicit_axes(
    sharding_report, devices
):
  """Jitted (and eagerly on 8 devices), on a batch sharded over ("data",).

  The batch outputs keep the batch's sharding and equal the unsharded
  result for the same key (selects exactly, blends to float rounding).
  """
  report = sharding_report["explicit_mesh"][devices]
  assert report["devices"] == int(devices)
  assert report["eager"] == (devices == "8")
  assert len(report["calls"]) == 11
  for name, entry in report["calls"].items():
    assert "error" not in entry, (name, entry.get("error"))
    for how in ("eager", "jit") if report["eager"] else ("jit",):
      sharded = entry[how + "_sharded"]
      batch_outputs = 1 if len(sharded) == 1 else 2
      assert all(sharded[:batch_outputs]), (name, how, sharded)
      if not name.startswith("per_shard"):
        assert entry[how + "_equal"], (name, how)


def test_per_shard_contract(sharding_report):
  contract = sharding_report["per_shard_contract"]
  assert contract["positional_alpha_partners_local"] is True
  assert contract["odd_batch"].startswith("ValueError: images:")
  assert "8 shards" in contract["odd_batch"]
  assert contract["wrong_axis"].startswith("ValueError: axis_name:")
  assert "'data'" in contract["wrong_axis"]
  assert contract["static_at_call_time"].startswith("TypeError: mode:")
  assert "functools.partial" in contract["static_at_call_time"]


def test_per_shard_on_a_one_device_mesh():
  """A one-device mesh is a valid mesh: the whole batch is one shard."""
  mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
  mix = cutmix_jax.per_shard(
      functools.partial(
          cutmix_jax.cutmix, num_classes=10, mode="elem", return_params=True
      ),
      mesh,
  )
  images = jnp.broadcast_to(
      jnp.arange(1.0, 9.0)[:, None, None, None], (8, 6, 5, 3)
  )
  labels = jnp.arange(8)
  mixed, soft, params = jax.jit(mix)(
      jax.random.key(0), images, labels, prob=0.7
  )
  check_cutmix_provenance(
      mixed,
      soft,
      params,
      labels,
      num_classes=10,
      prob_is_one=False,
      images=images,
  )


@pytest.mark.parametrize("how", ["keyword", "positional"])
def test_per_shard_names_partial_for_a_static_option_given_at_call_time(how):
  """A Python int option (num_classes) at call time: the fix is partial."""
  mesh = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])
  mix = cutmix_jax.per_shard(cutmix_jax.cutmix, mesh)
  images, labels = jnp.zeros((4, 6, 5, 3)), jnp.arange(4)
  key = jax.random.key(0)
  with pytest.raises(TypeError) as info:
    if how == "keyword":
      mix(key, images, labels, 1.0, num_classes=10)
    else:
      # cutmix's fifth positional parameter is keyword-only: a Python call
      # error, not the static-option hint.
      mix(key, images, labels, 1.0, 10)
  message = str(info.value)
  if how == "keyword":
    assert message.startswith("num_classes: per_shard passes")
    assert "functools.partial(mix_fn, num_classes=...)" in message
  else:
    assert "positional" in message


def test_video_cuboids_are_pasted_within_each_shard(sharding_report):
  report = sharding_report["video_st_elem"]
  box = np.asarray(report["box"])
  assert box.shape == (B, 6)
  assert np.any(np.asarray(report["applied"]))
  # images[i] is frames[..., 0]: (T, H, W) per example, values name sources.
  frames = np.asarray(report["images"])
  partner = np.asarray(report["partner"])
  for i in range(B):
    t0, y0, x0, t1, y1, x1 = box[i]
    inside = np.zeros(frames.shape[1:], bool)
    inside[t0:t1, y0:y1, x0:x1] = True
    np.testing.assert_array_equal(
        frames[i], np.where(inside, partner[i] + 1, i + 1)
    )
