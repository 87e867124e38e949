"""Tests of train/ in one process: the CIFAR path on mocked TFDS files, digits,
the steps, resume, the configuration checks.

Tiny models and a few steps keep the suite short on a 2-core CPU; the tests
that need another process (8 fake devices, SIGKILL) run one. The runs of
several processes are in test_multiprocess.py.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import cutmix_jax
from train import augmentation
from train import config_checks
from train import input_pipeline
from train import metric_writers
from train import mixing
from train import steps
from train import train
from train import train_state
from train.configs import default
from train.configs import digits
from train.configs import paper_cifar100
import train_helpers

ROOT = train_helpers.ROOT
MEAN, STD = np.full(3, 120.0, np.float32), np.full(3, 60.0, np.float32)


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
  return train_helpers.child_env(tmp_path / "jax_cache", **extra)


def _subprocess(
    code: str, env: dict, timeout=600
) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-c", textwrap.dedent(code)],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


def _restore(path: str):
  return ocp.StandardCheckpointer().restore(os.path.join(path, "default"))


def _mesh():
  return jax.make_mesh((jax.device_count(),), ("data",))


def _state(config, mesh, **kwargs):
  schedule = train_state.learning_rate_schedule(
      config, 1, config.num_train_steps
  )
  return train_state.create_train_state(
      config, jax.random.key(0), mesh, schedule=schedule, **kwargs
  )


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
  import tensorflow_datasets as tfds

  monkeypatch.setattr(
      input_pipeline, "_download_host_reachable", lambda *a, **k: True
  )
  with tfds.testing.mock_data(num_examples=48):
    yield


def test_default_config_few_steps_on_mocked_cifar(mock_cifar, tmp_path):
  config = tiny(default.get_config(), eval_batch_size=32)
  metrics = train.train_and_evaluate(config, str(tmp_path))
  records = metric_writers.read_metrics(str(tmp_path / "metrics.jsonl"))
  train_lines = [r for r in records if r["split"] == "train"]
  test_lines = [r for r in records if r["split"] == "test"]
  assert [r["step"] for r in train_lines] == [1, 2, 3]
  schedule = train_state.learning_rate_schedule(config, 3, 3)
  for r in train_lines:
    assert np.isfinite(r["loss"]) and r["images_per_second"] > 0
    # One step of 16 examples: the accuracy is a count of 16ths.
    assert r["accuracy"] * 16 == round(r["accuracy"] * 16)
    assert r["learning_rate"] == pytest.approx(float(schedule(r["step"] - 1)))
  # The returned metrics are the last test line; the 48 test examples are
  # evaluated in batches of 32 (the second padded with 16 that do not count).
  assert test_lines[-1] == metrics and metrics["step"] == 3
  assert metrics["accuracy"] * 48 == pytest.approx(
      round(metrics["accuracy"] * 48)
  )
  for name in ("curves.png", "cutmix_samples.png"):
    assert (tmp_path / name).stat().st_size > 1000
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "3"]
  # TensorBoard shows the same numbers, in the workdir itself.
  scalars = train_helpers.tensorboard_scalars(tmp_path)
  for r in records:
    for name in ("loss", "accuracy"):
      assert scalars[f"{r['split']}/{name}"][r["step"]] == pytest.approx(
          r[name]
      )


def test_evaluate_counts_every_test_example_once_and_no_padding(tmp_path):
  config = tiny(digits.get_config())
  mesh = _mesh()
  graphdef, state = _state(config, mesh)
  rng = np.random.default_rng(0)
  # 10 test examples in batches of 4: the last batch holds 2 and 2 of padding.
  images = rng.integers(0, 256, (10, 32, 32, 3)).astype(np.uint8)
  labels = rng.integers(0, 10, 10).astype(np.int32)
  data = input_pipeline.Data(
      "fake", images, labels, images, labels, 10, MEAN, STD, 10, 10
  )
  eval_step = steps.make_eval_step(config, graphdef, mean=MEAN, std=STD)
  got = train.evaluate(
      eval_step,
      state,
      data,
      local_batch=4,
      sharding=jax.sharding.NamedSharding(
          mesh, jax.sharding.PartitionSpec("data")
      ),
  )
  model, _ = nnx.merge(graphdef, state)
  model.eval()
  logits = model(augmentation.normalize(images, MEAN, STD))
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  accuracy = float(np.mean(np.argmax(np.asarray(logits), -1) == labels))
  assert got["accuracy"] == pytest.approx(accuracy, abs=1e-7)
  assert got["loss"] == pytest.approx(float(loss), rel=1e-5)


def test_eight_fake_devices_shard_the_batch_and_keep_images_local(tmp_path):
  # The whole program on 8 devices; its train step is compiled once, ahead of
  # time, so the test can read the compiled HLO and shardings of that very step.
  result = _subprocess(
      MOCK_CIFAR + f"""
import json, jax
from train import steps, train
from train.configs import default
assert jax.device_count() == 8
seen = {{}}
make_train_step = steps.make_train_step
def recording_make_train_step(*args, **kwargs):
  jitted = make_train_step(*args, **kwargs)
  def step(*step_args):
    if "compiled" not in seen:
      seen["compiled"] = jitted.lower(*step_args).compile()
    return seen["compiled"](*step_args)
  return step
steps.make_train_step = recording_make_train_step
config = default.get_config()
config.model.depth, config.model.width = 10, 4
config.batch_size, config.eval_batch_size, config.num_train_steps = 16, 16, 2
config.progress_bar, config.num_plot_samples = False, 0
with tfds.testing.mock_data(num_examples=48):
  metrics = train.train_and_evaluate(config, {str(tmp_path)!r})
compiled = seen["compiled"]
hlo = compiled.as_text()
state_shardings, _, images_sharding = compiled.input_shardings[0][:3]
print(json.dumps(dict(
    step=metrics["step"],
    replicated=all(s.is_fully_replicated for s in jax.tree.leaves(state_shardings)),
    images_sharded=images_sharding.spec == jax.sharding.PartitionSpec("data"),
    devices=len(images_sharding.device_set),
    collectives=[c for c in ("all-gather", "all-to-all", "collective-permute") if c in hlo],
    all_reduce="all-reduce" in hlo)))
""",
      _env(tmp_path, XLA_FLAGS="--xla_force_host_platform_device_count=8"),
  )
  assert result.returncode == 0, result.stderr[-3000:]
  out = json.loads(result.stdout.strip().splitlines()[-1])
  assert out["step"] == 2
  assert out["replicated"] and out["devices"] == 8
  assert out["images_sharded"]
  # CutMix runs per shard: no image moves between devices; only the gradient
  # (and batch-norm statistics and metrics) are all-reduced.
  assert out["collectives"] == [] and out["all_reduce"]


def test_offline_cifar_stops_within_seconds_with_the_ways_out(
    tmp_path, monkeypatch
):
  def no_network(*args, **kwargs):
    raise OSError("Network is unreachable")

  import tensorflow_datasets  # noqa: F401
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


def _digits_tiny(workdir_steps=8, **overrides):
  return tiny(digits.get_config(), num_train_steps=workdir_steps, **overrides)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  config = _digits_tiny(
      10,
      **{
          "optimizer.learning_rate": 1e30,
          "optimizer.warmup_epochs": 0.0,
          "checkpoint_every_steps": 1,
      },
  )
  with pytest.raises(train.NonFiniteLossError, match="non-finite") as error:
    train.train_and_evaluate(config, str(tmp_path))
  saved = sorted(
      int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()
  )
  assert saved and f"step {saved[-1]}" in str(error.value)
  for leaf in jax.tree.leaves(
      _restore(str(tmp_path / "checkpoints" / str(saved[-1])))
  ):
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


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("dataset", "imagenet", "one of"),
        ("model.name", "vgg", "one of"),
        ("batch_size", 0, "an int > 0"),
        ("optimizer.schedule", "linear", "'cosine'"),
        ("augment.on", "tpu", "'device' or 'host'"),
        ("cutmix.method", "cutout", "one of"),
        ("cutmix.feature_stage", 9, "a stage in [0, 4]"),
        # The library's own checks, reported under the config field's name.
        ("cutmix.alpha", 0.0, "alpha > 0"),
        ("cutmix.prob", 1.5, "a probability in [0, 1]"),
        ("cutmix.mode", "row", "one of ('batch', 'elem', 'pair')"),
        ("cutmix.label_smoothing", 1.0, "a value in [0, 1)"),
        ("cutmix.label_mode", "max", "one of"),
        ("cutmix.minmax", (0.9, 0.2), "0 < lo < hi <= 1"),
        ("cutmix.center_std", -1.0, "a value > 0"),
        ("cutmix.box_size", 40, "larger than the images (32, 32)"),
    ],
)
def test_bad_config_names_the_field(field, value, words):
  config = tiny(default.get_config(), **{field: value})
  with pytest.raises(
      config_checks.ConfigError, match=f"^config.{field}:"
  ) as error:
    config_checks.validate_config(config, num_devices=1)
  assert words in str(error.value)


@pytest.mark.parametrize(
    "method,field,value",
    [
        ("mixup", "mixup_alpha", -0.5),
        ("switch", "mixup_alpha", -0.5),
        ("switch", "switch_prob", 2.0),
        ("switch", "alpha", -1.0),
    ],
)
def test_bad_values_of_other_methods_name_their_field(method, field, value):
  config = tiny(
      default.get_config(),
      **{"cutmix.method": method, f"cutmix.{field}": value},
  )
  with pytest.raises(
      config_checks.ConfigError, match=f"^config.cutmix.{field}: .*{value}"
  ):
    config_checks.validate_config(config, num_devices=1)


def test_an_option_the_method_ignores_is_refused():
  config = tiny(
      default.get_config(), **{"cutmix.method": "switch", "cutmix.box_size": 16}
  )
  with pytest.raises(
      config_checks.ConfigError,
      match="config.cutmix.box_size: is not used by cutmix.method='switch'",
  ):
    config_checks.validate_config(config, num_devices=1)


def test_good_configs_pass_the_checks():
  for get_config in (
      default.get_config,
      digits.get_config,
      paper_cifar100.get_config,
  ):
    config_checks.validate_config(get_config(), num_devices=8)


def test_batch_not_divisible_by_devices_names_the_field():
  config = tiny(default.get_config(), batch_size=12)
  with pytest.raises(
      config_checks.ConfigError, match="config.batch_size: .*device count 8"
  ):
    config_checks.validate_config(config, num_devices=8)


def test_command_line_override_and_bad_value_stop_at_start_up(tmp_path):
  result = subprocess.run(
      [
          sys.executable,
          "-m",
          "train.main",
          "--config=train/configs/digits.py",
          f"--workdir={tmp_path}",
          "--config.cutmix.alpha=-1",
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert result.returncode == 1
  assert "ERROR: config.cutmix.alpha: expected alpha > 0" in result.stderr
  assert "got -1" in result.stderr
  assert not (tmp_path / "metrics.jsonl").exists()


def test_feature_level_cutmix_is_the_library_call_with_input_size():
  """cutmix.feature_stage mixes activations with boxes drawn for the input."""
  config = default.get_config()
  config.cutmix.feature_stage = 1
  config.cutmix.mode = "elem"
  mix = mixing.mix_function(config, num_classes=10, input_size=(32, 32))
  rng = jax.random.key(3)
  features = jnp.arange(8 * 8 * 8 * 2, dtype=jnp.float32).reshape(8, 8, 8, 2)
  labels = jnp.arange(8) % 10
  mixed, soft, params = mix(rng, features, labels)
  expected = cutmix_jax.cutmix(
      rng,
      features,
      labels,
      config.cutmix.alpha,
      num_classes=10,
      mode="elem",
      prob=config.cutmix.prob,
      input_size=(32, 32),
      return_params=True,
  )
  for a, b in zip(
      jax.tree.leaves((mixed, soft, params)), jax.tree.leaves(expected)
  ):
    np.testing.assert_array_equal(a, b)
  # The boxes are the ones drawn at 32x32, mapped to the 8x8 feature map.
  drawn = cutmix_jax.sample_cutmix_params(
      rng,
      8,
      (32, 32),
      config.cutmix.alpha,
      mode="elem",
      prob=config.cutmix.prob,
  )
  scaled = cutmix_jax.rescale_boxes(drawn.box, (32, 32), (8, 8))
  np.testing.assert_array_equal(
      params.box, jnp.where(params.applied[:, None], scaled, 0)
  )


def test_mixing_options_map_every_keyword_to_a_config_field():
  config = default.get_config()
  for method, keywords in mixing.KEYWORDS.items():
    config.cutmix.method = method
    options = mixing.mixing_options(config.cutmix)
    assert set(options) == set(keywords)
    for keyword, field in keywords.items():
      assert options[keyword] == config.cutmix[field]
  config.cutmix.method = "mixup"
  config.cutmix.mixup_alpha = 0.3
  assert (
      mixing.mixing_options(config.cutmix)["alpha"] == 0.3
  )  # MixUp's own Beta.


@pytest.mark.parametrize(
    "overrides",
    [
        {"cutmix.feature_stage": 2},
        {
            "cutmix.method": "switch",
            "cutmix.mode": "elem",
            "cutmix.label_smoothing": 0.1,
        },
        {"cutmix.method": "none"},
    ],
)
def test_train_step_variants_update_the_model_and_count_the_batch(overrides):
  config = tiny(default.get_config(), **overrides)
  mesh = _mesh()
  graphdef, state = _state(config, mesh)
  before = [np.asarray(x) for x in jax.tree.leaves(nnx.state(state, nnx.Param))]
  step = steps.make_train_step(
      config, graphdef, mesh, num_classes=10, mean=MEAN, std=STD
  )
  images = np.random.default_rng(0).integers(0, 255, (16, 32, 32, 3), np.uint8)
  labels = np.arange(16, dtype=np.int32) % 10
  metrics = steps.empty_metrics(mesh)
  for _ in range(2):
    state, metrics = step(
        state, metrics, images, labels, jax.random.key(1), jax.random.key(2)
    )
  window = nnx.merge(nnx.graphdef(steps.new_metrics()), metrics)
  assert int(window.loss.count[...]) == int(window.accuracy.count[...]) == 32
  values = steps.compute_metrics(metrics)
  assert np.isfinite(values["loss"]) and values["loss"] > 0
  assert values["accuracy"] * 32 == round(values["accuracy"] * 32)
  assert int(nnx.merge(graphdef, state)[1].step[...]) == 2
  after = jax.tree.leaves(nnx.state(state, nnx.Param))
  assert all(a.shape == b.shape for a, b in zip(before, after))
  assert (
      sum(not np.array_equal(a, np.asarray(b)) for a, b in zip(before, after))
      > 10
  )


def test_unmixed_step_loss_is_the_cross_entropy_of_the_model():
  config = tiny(
      default.get_config(),
      **{"cutmix.method": "none", "augment.pad": 0, "augment.flip": False},
  )
  mesh = _mesh()
  graphdef, state = _state(config, mesh)
  images = np.random.default_rng(1).integers(0, 255, (16, 32, 32, 3), np.uint8)
  labels = np.arange(16, dtype=np.int32) % 10
  model, _ = nnx.merge(graphdef, jax.tree.map(jnp.copy, state))
  model.train()
  logits = model(augmentation.normalize(images, MEAN, STD))
  expected = optax.softmax_cross_entropy_with_integer_labels(
      logits, labels
  ).mean()
  step = steps.make_train_step(
      config, graphdef, mesh, num_classes=10, mean=MEAN, std=STD
  )
  _, metrics = step(
      state,
      steps.empty_metrics(mesh),
      images,
      labels,
      jax.random.key(1),
      jax.random.key(2),
  )
  values = steps.compute_metrics(metrics)
  assert values["loss"] == pytest.approx(float(expected), rel=1e-5)
  assert values["accuracy"] == pytest.approx(
      float(np.mean(np.argmax(np.asarray(logits), -1) == labels))
  )


@pytest.mark.parametrize(
    "name,depth,width", [("wide_resnet", 10, 1), ("pyramidnet", 11, 12)]
)
def test_other_models_take_a_step(name, depth, width):
  config = tiny(
      default.get_config(),
      **{"model.name": name, "model.depth": depth, "model.width": width},
  )
  mesh = _mesh()
  graphdef, state = _state(config, mesh)
  before = np.asarray(jax.tree.leaves(nnx.state(state, nnx.Param))[0])
  step = steps.make_train_step(
      config, graphdef, mesh, num_classes=10, mean=MEAN, std=STD
  )
  images = np.zeros((16, 32, 32, 3), np.uint8)
  labels = np.arange(16, dtype=np.int32) % 10
  state, metrics = step(
      state,
      steps.empty_metrics(mesh),
      images,
      labels,
      jax.random.key(1),
      jax.random.key(2),
  )
  assert np.isfinite(steps.compute_metrics(metrics)["loss"])
  assert not np.array_equal(
      before, jax.tree.leaves(nnx.state(state, nnx.Param))[0]
  )


def test_dropout_is_on_in_training_and_off_in_evaluation():
  def wide_resnet(dropout):
    config = tiny(
        default.get_config(),
        **{
            "model.name": "wide_resnet",
            "model.depth": 10,
            "model.width": 1,
            "model.dropout": dropout,
        },
    )
    return train_state.create_model(config, 10, jax.random.key(0))

  x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
  model, without = wide_resnet(0.5), wide_resnet(0.0)
  model.eval()
  without.eval()
  np.testing.assert_array_equal(model(x), without(x))  # no dropout in eval
  model.train()
  a = model(x, rngs=nnx.Rngs(dropout=jax.random.key(2)))
  b = model(x, rngs=nnx.Rngs(dropout=jax.random.key(3)))
  c = model(x, rngs=nnx.Rngs(dropout=jax.random.key(2)))
  assert not np.allclose(a, b)  # a different dropout key drops other units
  np.testing.assert_array_equal(a, c)


def test_paper_pyramidnet_has_the_papers_size():
  # PyramidNet-200 (alpha 240) has 26.8M parameters on CIFAR-100 (the paper's Table 3).
  config = paper_cifar100.get_config()
  model = nnx.eval_shape(
      lambda: train_state.create_model(config, 100, jax.random.key(0))
  )
  count = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert 26.0e6 < count < 27.6e6, count


def test_augment_on_device_crops_a_window_of_the_padded_image():
  images = jnp.asarray(
      np.random.default_rng(0).integers(1, 255, (6, 8, 8, 1), np.uint8)
  )
  out = np.asarray(
      augmentation.augment_on_device(jax.random.key(0), images, pad=2)
  )
  padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
  for i in range(6):
    windows = [
        padded[i, y : y + 8, x : x + 8] for y in range(5) for x in range(5)
    ]
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
