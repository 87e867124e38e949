"""Tests of train/: the CIFAR path on mocked TFDS files, digits, devices, resume.

Tiny models and a few steps keep the suite short on a 2-core CPU; the tests
that need another process (8 fake devices, SIGKILL) run one.
"""

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import cutmix_jax
from train import input_pipeline
from train import train
from train.configs import default
from train.configs import digits
from train.configs import paper_cifar100

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(config, **overrides):
  """A config shrunk to seconds: a 4-channel ResNet-10, a few steps."""
  config.model.name = "preact_resnet"
  config.model.depth = 10
  config.model.width = 4
  config.batch_size = 16
  config.eval_batch_size = 16
  config.num_train_steps = 3
  config.log_every_steps = 1
  config.checkpoint_every_steps = 2
  config.progress_bar = False
  config.num_plot_samples = 4
  for key, value in overrides.items():
    node = config
    *path, last = key.split(".")
    for name in path:
      node = node[name]
    node[last] = value
  return config


def _env(tmp_path, **extra):
  """The child's environment: the repository importable, a compilation cache.

  The cache lets the runs of one test share their compiled steps (the same
  programs); it changes no numbers.
  """
  return dict(os.environ, PYTHONPATH=ROOT,
              JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
              JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1", **extra)


def _subprocess(code: str, env: dict, timeout=600) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


def _restore(path: str):
  return ocp.StandardCheckpointer().restore(os.path.join(path, "default"))


# A prepared-looking TFDS: mocked files, the real loading code. TFDS's mock
# makes download_and_prepare a no-op; our reachability probe is told the
# download host answers, so nothing is downloaded for real either way.
MOCK_CIFAR = """
import tensorflow_datasets as tfds
from train import input_pipeline
input_pipeline._download_host_reachable = lambda *a, **k: True
"""


@pytest.fixture
def mock_cifar(monkeypatch):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(input_pipeline, "_download_host_reachable", lambda *a, **k: True)
  with tfds.testing.mock_data(num_examples=48):
    yield


def test_default_config_few_steps_on_mocked_cifar(mock_cifar, tmp_path):
  config = tiny(default.get_config())
  metrics = train.train_and_evaluate(config, str(tmp_path))
  assert metrics["step"] == 3 and 0.0 <= metrics["accuracy"] <= 1.0
  records = train.read_metrics(str(tmp_path / "metrics.jsonl"))
  train_lines = [r for r in records if r["split"] == "train"]
  test_lines = [r for r in records if r["split"] == "test"]
  assert [r["step"] for r in train_lines] == [1, 2, 3]
  for r in train_lines:
    assert {"step", "epoch", "split", "loss", "accuracy", "learning_rate",
            "images_per_second"} <= set(r)
    assert np.isfinite(r["loss"])
  assert test_lines and {"step", "epoch", "loss", "accuracy"} <= set(test_lines[-1])
  for name in ("curves.png", "cutmix_samples.png"):
    assert (tmp_path / name).stat().st_size > 1000
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "3"]


def test_eight_fake_devices_shard_the_batch_and_keep_images_local(tmp_path):
  # The whole program on 8 devices; its train step is compiled once, ahead of
  # time, so the test can read the compiled HLO and shardings of that very step.
  result = _subprocess(MOCK_CIFAR + f"""
import json, jax
from train import train
from train.configs import default
assert jax.device_count() == 8
seen = {{}}
make_train_step = train.make_train_step
def recording_make_train_step(*args, **kwargs):
  jitted = make_train_step(*args, **kwargs)
  def step(*step_args):
    if "compiled" not in seen:
      seen["compiled"] = jitted.lower(*step_args).compile()
    return seen["compiled"](*step_args)
  return step
train.make_train_step = recording_make_train_step
config = default.get_config()
config.model.depth, config.model.width = 10, 4
config.batch_size, config.eval_batch_size, config.num_train_steps = 16, 16, 2
config.progress_bar, config.num_plot_samples = False, 0
with tfds.testing.mock_data(num_examples=48):
  metrics = train.train_and_evaluate(config, {str(tmp_path)!r})
compiled = seen["compiled"]
hlo = compiled.as_text()
state_shardings, images_sharding = compiled.input_shardings[0][:2]
print(json.dumps(dict(
    accuracy=metrics["accuracy"],
    replicated=all(s.is_fully_replicated for s in jax.tree.leaves(state_shardings)),
    images_sharded=images_sharding.spec == jax.sharding.PartitionSpec("data"),
    devices=len(images_sharding.device_set),
    collectives=[c for c in ("all-gather", "all-to-all", "collective-permute") if c in hlo],
    all_reduce="all-reduce" in hlo)))
""", _env(tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=8"))
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["replicated"] and out["devices"] == 8
  assert out["images_sharded"]
  # CutMix runs per shard: no image moves between devices; only the gradient
  # (and batch-norm statistics) are all-reduced.
  assert out["collectives"] == [] and out["all_reduce"]


def _digits_tiny(workdir_steps=8, **overrides):
  return tiny(digits.get_config(), num_train_steps=workdir_steps, **overrides)


def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
  straight, killed = tmp_path / "straight", tmp_path / "killed"
  overrides = ["--config.model.width=4", "--config.batch_size=16",
               "--config.num_train_steps=8", "--config.checkpoint_every_steps=2",
               "--config.log_every_steps=1", "--config.progress_bar=false",
               "--config.num_plot_samples=0", "--config.eval_every_epochs=1000"]
  # The interrupted run: the process kills itself with SIGKILL when asked
  # for step 6's batch, once at least one checkpoint is complete on disk.
  result = _subprocess(f"""
import os, signal, sys, time
from absl import app
from train import input_pipeline, main
original = input_pipeline.train_batch
def train_batch(data, seed, step, *args):
  if step == 5:
    directory = os.path.join({str(killed)!r}, "checkpoints")
    deadline = time.time() + 60
    while time.time() < deadline and not any(d.isdigit() for d in os.listdir(directory)):
      time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)
  return original(data, seed, step, *args)
input_pipeline.train_batch = train_batch
sys.argv = ["train.main", "--config=train/configs/digits.py", "--workdir={killed}"] + {overrides!r}
app.run(main.main)
""", _env(tmp_path))
  assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
  steps_before = sorted(int(d) for d in os.listdir(killed / "checkpoints") if d.isdigit())
  assert steps_before and max(steps_before) < 8

  def run(workdir):
    return subprocess.run(
        [sys.executable, "-m", "train.main", "--config=train/configs/digits.py",
         f"--workdir={workdir}"] + overrides,
        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=600)

  resumed = run(killed)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"Resumed from the checkpoint at step {max(steps_before)}" in resumed.stdout
  uninterrupted = run(straight)
  assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]

  a = _restore(str(straight / "checkpoints" / "8"))
  b = _restore(str(killed / "checkpoints" / "8"))
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 10
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  # The log reads as one run: every train step once.
  steps = [r["step"] for r in train.read_metrics(str(killed / "metrics.jsonl"))
           if r["split"] == "train"]
  assert steps == list(range(1, 9))


def test_offline_cifar_stops_within_seconds_with_the_ways_out(tmp_path, monkeypatch):
  def no_network(*args, **kwargs):
    raise OSError("Network is unreachable")

  import tensorflow_datasets  # pylint: disable=g-import-not-at-top,unused-import
  # Importing TensorFlow is not what is timed: the probe and the message are.
  monkeypatch.setattr(socket, "create_connection", no_network)
  config = tiny(default.get_config(), data_dir=str(tmp_path / "tfds"))
  start = time.perf_counter()
  with pytest.raises(input_pipeline.DataUnavailableError) as error:
    train.train_and_evaluate(config, str(tmp_path / "work"))
  assert time.perf_counter() - start < 30
  message = str(error.value)
  assert "cifar10" in message and str(tmp_path / "tfds") in message
  assert os.path.join(str(tmp_path / "tfds"), "downloads", "manual") in message
  assert "cifar-10-binary.tar.gz" in message
  assert "train/configs/digits.py" in message
  assert not os.path.exists(tmp_path / "work" / "metrics.jsonl")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  config = _digits_tiny(10, **{"optimizer.learning_rate": 1e30,
                               "optimizer.warmup_epochs": 0.0,
                               "checkpoint_every_steps": 1})
  with pytest.raises(train.NonFiniteLossError, match="non-finite") as error:
    train.train_and_evaluate(config, str(tmp_path))
  saved = sorted(int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit())
  assert saved and f"step {saved[-1]}" in str(error.value)
  for leaf in jax.tree.leaves(_restore(str(tmp_path / "checkpoints" / str(saved[-1])))):
    if np.issubdtype(np.asarray(leaf).dtype, np.floating):
      assert np.all(np.isfinite(leaf))


def test_digits_short_run_beats_chance_widely(tmp_path):
  config = digits.get_config()
  config.num_epochs = 3
  config.eval_every_epochs = 1000  # only the final evaluation
  config.progress_bar = False
  metrics = train.train_and_evaluate(config, str(tmp_path))
  assert metrics["accuracy"] > 0.6  # chance is 0.1
  for name in ("metrics.jsonl", "curves.png", "cutmix_samples.png"):
    assert (tmp_path / name).exists()
  assert os.listdir(tmp_path / "checkpoints")


@pytest.mark.parametrize("field,value", [
    ("dataset", "imagenet"), ("model.name", "vgg"), ("batch_size", 0),
    ("cutmix.alpha", 0.0), ("cutmix.prob", 1.5), ("cutmix.mode", "row"),
    ("cutmix.method", "cutout"), ("cutmix.feature_stage", 9),
    ("optimizer.schedule", "linear"), ("augment.on", "tpu"),
])
def test_bad_config_names_the_field(field, value):
  config = tiny(default.get_config(), **{field: value})
  with pytest.raises(train.ConfigError, match=f"config.{field}:"):
    train.validate_config(config, num_devices=1)


def test_batch_not_divisible_by_devices_names_the_field():
  config = tiny(default.get_config(), batch_size=12)
  with pytest.raises(train.ConfigError, match="config.batch_size: .*device count 8"):
    train.validate_config(config, num_devices=8)


def test_command_line_override_and_bad_value_stop_at_start_up(tmp_path):
  result = subprocess.run(
      [sys.executable, "-m", "train.main", "--config=train/configs/digits.py",
       f"--workdir={tmp_path}", "--config.cutmix.alpha=-1"],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 1
  assert "config.cutmix.alpha: expected > 0, got -1" in result.stderr
  assert not (tmp_path / "metrics.jsonl").exists()


def test_feature_level_cutmix_labels_match_the_rescaled_boxes():
  rng = jax.random.key(3)
  features = jnp.arange(8 * 8 * 8 * 2, dtype=jnp.float32).reshape(8, 8, 8, 2)
  labels = jnp.arange(8) % 10
  mixed, soft, params = train.feature_cutmix(
      rng, features, labels, input_size=(32, 32), num_classes=10, alpha=1.0,
      mode="elem", prob=1.0, label_smoothing=0.0, minmax=None, center_std=None,
      box_size=None, label_mode="area")
  drawn = cutmix_jax.sample_cutmix_params(rng, 8, 32, 32, 1.0, mode="elem")
  np.testing.assert_array_equal(
      params.box, cutmix_jax.rescale_boxes(drawn.box, (32, 32), (8, 8)))
  fraction = cutmix_jax.pasted_fraction(params.box, 8, 8)
  expected = jnp.where(params.applied, 1 - fraction, 1.0)
  np.testing.assert_allclose(params.lam, expected)
  own = soft[jnp.arange(8), labels]
  np.testing.assert_allclose(own, jnp.where(labels == labels[params.partner], 1.0, expected),
                             rtol=1e-6)
  np.testing.assert_array_equal(mixed, cutmix_jax.cut_and_paste(features, params))


@pytest.mark.parametrize("overrides", [
    {"cutmix.feature_stage": 2},
    {"cutmix.method": "switch", "cutmix.mode": "elem", "cutmix.label_smoothing": 0.1},
    {"cutmix.method": "none"},
])
def test_train_step_variants_run(overrides):
  config = tiny(default.get_config(), **overrides)
  mesh = train.make_mesh()
  graphdef, state = train.create_train_state(config, jax.random.key(0), mesh)
  step = train.make_train_step(config, graphdef, mesh)
  images = np.random.default_rng(0).integers(0, 255, (16, 32, 32, 3), np.uint8)
  labels = np.arange(16, dtype=np.int32) % 10
  state, metrics = step(state, images, labels, jax.random.key(1), jax.random.key(2))
  assert np.isfinite(metrics["loss"]) and 0 <= int(metrics["correct"]) <= 16


@pytest.mark.parametrize("name,depth,width", [("wide_resnet", 10, 1), ("pyramidnet", 11, 12)])
def test_other_models_take_a_step(name, depth, width):
  config = tiny(default.get_config(), **{"model.name": name, "model.depth": depth,
                                         "model.width": width})
  graphdef, state = train.create_train_state(config, jax.random.key(0))
  step = train.make_train_step(config, graphdef)
  images = np.zeros((16, 32, 32, 3), np.uint8)
  labels = np.arange(16, dtype=np.int32) % 10
  _, metrics = step(state, images, labels, jax.random.key(1), jax.random.key(2))
  assert np.isfinite(metrics["loss"])


def test_paper_pyramidnet_has_the_papers_size():
  # PyramidNet-200 (alpha 240) has 26.8M parameters on CIFAR-100 (the paper's Table 3).
  from flax import nnx  # pylint: disable=g-import-not-at-top
  config = paper_cifar100.get_config()
  model = nnx.eval_shape(lambda: train.create_model(config, 100, jax.random.key(0)))
  count = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert 26.0e6 < count < 27.6e6, count


def test_augment_on_device_crops_a_window_of_the_padded_image():
  images = jnp.asarray(np.random.default_rng(0).integers(1, 255, (6, 8, 8, 1), np.uint8))
  out = np.asarray(input_pipeline.augment_on_device(jax.random.key(0), images, pad=2))
  padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
  for i in range(6):
    windows = [padded[i, y:y + 8, x:x + 8] for y in range(5) for x in range(5)]
    windows += [w[:, ::-1] for w in windows]
    assert any(np.array_equal(out[i], w) for w in windows)


def test_data_order_depends_only_on_seed_and_epoch():
  a = input_pipeline.epoch_order(7, 3, 100)
  np.testing.assert_array_equal(a, input_pipeline.epoch_order(7, 3, 100))
  assert not np.array_equal(a, input_pipeline.epoch_order(7, 4, 100))
  assert sorted(a.tolist()) == list(range(100))


def test_digits_split_is_fixed_and_disjoint():
  data = input_pipeline.load("digits", process_index=0, process_count=1)
  assert data.train_images.shape == (1437, 32, 32, 3)
  assert data.test_images.shape == (360, 32, 32, 3)
  assert data.train_images.dtype == np.uint8 and data.num_classes == 10
  assert np.bincount(data.test_labels).min() >= 35  # stratified


def test_multihost_detection():
  from train import main  # pylint: disable=g-import-not-at-top
  assert not main.looks_multihost({})
  assert not main.looks_multihost({"TPU_WORKER_HOSTNAMES": "localhost"})
  assert main.looks_multihost({"TPU_WORKER_HOSTNAMES": "a,b"})
  assert main.looks_multihost({"SLURM_NTASKS": "4"})
