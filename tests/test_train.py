"""The trainer in this process, a step at a time where a whole run is not the point.

The CIFAR path runs on `tfds.testing.mock_data` (as Flax's examples test it).
The digits preset's whole run, and that it learns the digits, is
test_commands.py's `make train` in a fresh copy. Start-up checks and resume
are in test_startup.py; several processes, SIGKILL and resume in
test_multiprocess.py.
"""

import functools
import os
import signal
import socket
import time

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import cutmix_jax
from train import checkpointing
from train import input_pipeline
from train import metric_writers
from train import plots
from train import steps
from train import train
from train import train_state
from train.configs import cifar10
from train.configs import default
from train.configs import paper_cifar100
import train_helpers

MEAN, STD = np.full(3, 120.0, np.float32), np.full(3, 60.0, np.float32)
tiny = train_helpers.tiny


def _mesh():
  return jax.make_mesh((jax.device_count(),), ("data",))


def _state(config, mesh, **kwargs):
  schedule = train_state.learning_rate_schedule(
      config, 1, config.num_train_steps
  )
  return train_state.create_train_state(
      config, jax.random.key(0), mesh, schedule=schedule, **kwargs
  )


@pytest.fixture
def mock_cifar(monkeypatch):
  import tensorflow_datasets as tfds

  # TFDS's mock makes download_and_prepare a no-op; the reachability probe
  # is told the host answers, so nothing is downloaded for real either way.
  monkeypatch.setattr(
      input_pipeline, "_download_host_reachable", lambda *a, **k: True
  )
  with tfds.testing.mock_data(num_examples=48):
    yield


def test_cifar10_config_few_steps_on_mocked_cifar(mock_cifar, tmp_path):
  config = tiny(cifar10.get_config(), eval_batch_size=32)
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
  assert (
      tmp_path / "config.json"
  ).exists()  # What a resume is checked against.


def test_evaluate_counts_every_test_example_once_and_no_padding(tmp_path):
  config = tiny(default.get_config())
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
  logits = model(steps.normalize(images, MEAN, STD))
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
  accuracy = float(np.mean(np.argmax(np.asarray(logits), -1) == labels))
  assert got["accuracy"] == pytest.approx(accuracy, abs=1e-7)
  assert got["loss"] == pytest.approx(float(loss), rel=1e-5)


def test_offline_cifar_stops_within_seconds_with_the_ways_out(
    tmp_path, monkeypatch
):
  def no_network(*args, **kwargs):
    raise OSError("Network is unreachable")

  import tensorflow_datasets  # noqa: F401
  # Importing TensorFlow is not what is timed: the probe and the message are.
  monkeypatch.setattr(socket, "create_connection", no_network)
  config = tiny(cifar10.get_config(), data_dir=str(tmp_path / "tfds"))
  start = time.perf_counter()
  with pytest.raises(input_pipeline.DataUnavailableError) as error:
    train.train_and_evaluate(config, str(tmp_path / "work"))
  assert time.perf_counter() - start < 30
  message = str(error.value)
  assert "cifar10" in message and str(tmp_path / "tfds") in message
  assert os.path.join(str(tmp_path / "tfds"), "downloads", "manual") in message
  assert "cifar-10-binary.tar.gz" in message
  assert ".venv/bin/python -m train.main" in message and "make train" in message
  assert not os.path.exists(tmp_path / "work" / "metrics.jsonl")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  config = tiny(
      default.get_config(),
      **{
          "num_train_steps": 10,
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
  restored = ocp.StandardCheckpointer().restore(
      str(tmp_path / "checkpoints" / str(saved[-1]) / "default")
  )
  for leaf in jax.tree.leaves(restored):
    if np.issubdtype(np.asarray(leaf).dtype, np.floating):
      assert np.all(np.isfinite(leaf))


def test_ctrl_c_then_sigterm_stop_after_a_checkpoint_and_the_run_ends_as_if_never_stopped(
    tmp_path, monkeypatch
):
  config = tiny(default.get_config(), num_train_steps=8)
  config.checkpoint_every_steps, config.num_plot_samples = 100, 0
  straight = train.train_and_evaluate(config, str(tmp_path / "straight"))
  original = input_pipeline.train_batch
  handlers = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
  workdir = tmp_path / "stopped"
  for signum, stop_step in ((signal.SIGINT, 4), (signal.SIGTERM, 6)):

    def train_batch(
        data, seed, step, *args, signum=signum, stop_step=stop_step
    ):
      if step == stop_step - 1:  # The signal comes during step stop_step.
        noted = getattr(signal.getsignal(signum), "__self__", None)
        # Only to the trainer's handler: a default one would stop pytest.
        assert isinstance(noted, checkpointing.StopRequest)
        os.kill(os.getpid(), signum)
      return original(data, seed, step, *args)

    monkeypatch.setattr(input_pipeline, "train_batch", train_batch)
    with pytest.raises(train.StoppedOnRequest) as stopped:
      train.train_and_evaluate(config, str(workdir))
    assert stopped.value.signum == signum
    name = signal.Signals(signum).name
    assert str(stopped.value).startswith(
        f"Stopped on {name} after step {stop_step} of 8; its checkpoint is in"
    )
    assert max(map(int, os.listdir(workdir / "checkpoints"))) == stop_step
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == (
        handlers
    )
  monkeypatch.setattr(input_pipeline, "train_batch", original)
  assert train.train_and_evaluate(config, str(workdir)) == straight
  final = [
      ocp.StandardCheckpointer().restore(
          str(w / "checkpoints" / "8" / "default")
      )
      for w in (tmp_path / "straight", workdir)
  ]
  for a, b in zip(*map(jax.tree.leaves, final), strict=True):
    np.testing.assert_array_equal(a, b)


def test_a_second_ctrl_c_stops_at_once_a_second_sigterm_does_not():
  request = checkpointing.StopRequest()
  request.note(signal.SIGTERM, None)
  request.note(signal.SIGTERM, None)  # A scheduler may repeat it.
  assert request.signum == signal.SIGTERM
  with pytest.raises(KeyboardInterrupt):
    request.note(signal.SIGINT, None)


@pytest.mark.parametrize(
    "fields,library_call,shape",
    [
        (
            {"mode": "elem", "label_smoothing": 0.1, "box": "minmax(0.2, 0.8)"},
            functools.partial(
                cutmix_jax.cutmix,
                alpha=1.0,
                mode="elem",
                prob=0.5,
                label_smoothing=0.1,
                label_mode="area",
                box=cutmix_jax.boxes.minmax(0.2, 0.8),
            ),
            (8, 32, 32, 3),
        ),
        (
            {
                "method": "resizemix",
                "scale": (0.3, 0.6),
                "mode": "pair",
                "prob": 0.75,
                "label_smoothing": 0.1,
            },
            functools.partial(
                cutmix_jax.resizemix,
                scale=(0.3, 0.6),
                mode="pair",
                prob=0.75,
                label_smoothing=0.1,
            ),
            (8, 32, 32, 3),
        ),
        (  # Feature-level CutMix: the boxes drawn at the image resolution.
            {"feature_stage": 1, "mode": "elem"},
            functools.partial(
                cutmix_jax.cutmix,
                mode="elem",
                prob=0.5,
                box=cutmix_jax.boxes.at_resolution((32, 32)),
            ),
            (8, 8, 8, 2),
        ),
    ],
)
def test_mix_function_passes_config_cutmix_to_the_library_as_it_is(
    fields, library_call, shape
):
  config = default.get_config()
  for name, value in fields.items():
    config.cutmix[name] = value
  args = (jax.random.key(3), jnp.zeros(shape), jnp.arange(8) % 10)
  got = steps.mix_function(config, num_classes=10, image_size=(32, 32))
  expected = cutmix_jax.with_params(
      functools.partial(library_call, num_classes=10)
  )
  # The same program: the trainer adds, drops and renames nothing.
  assert str(jax.make_jaxpr(got)(*args)) == str(jax.make_jaxpr(expected)(*args))
  config.cutmix.prob = 0.25  # A changed field reaches the program.
  changed = steps.mix_function(config, num_classes=10, image_size=(32, 32))
  assert str(jax.make_jaxpr(changed)(*args)) != str(
      jax.make_jaxpr(expected)(*args)
  )


def test_no_mixing_gives_the_smoothed_one_hot_labels():
  config = default.get_config()
  config.cutmix.method = "none"
  config.cutmix.label_smoothing = 0.2
  images, labels = jnp.zeros((4, 32, 32, 3)), jnp.array([0, 1, 2, 9])
  out, soft, params = steps.mix_function(
      config, num_classes=10, image_size=(32, 32)
  )(jax.random.key(0), images, labels)
  assert out is images and params is None
  np.testing.assert_allclose(
      soft, optax.smooth_labels(jax.nn.one_hot(labels, 10), 0.2)
  )


@pytest.mark.parametrize(
    "overrides",
    [
        {"cutmix.feature_stage": 2},
        {
            "cutmix.method": "mixup_or_cutmix",
            "cutmix.mode": "elem",
            "cutmix.label_smoothing": 0.1,
        },
        {"cutmix.method": "resizemix", "cutmix.mode": "pair"},
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
  logits = model(steps.normalize(images, MEAN, STD))
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
      **{
          "model.name": name,
          "model.depth": depth,
          "model.width": width,
          "model.stem_stride": 1,
      },
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
            "model.stem_stride": 1,
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


@pytest.mark.slow  # Traces PyramidNet-200's 600 modules: about 4 s of CPU.
def test_paper_pyramidnet_has_the_papers_size(monkeypatch):
  # PyramidNet-200 (alpha 240) has 26.8M parameters on CIFAR-100 (the paper's Table 3).
  config = paper_cifar100.get_config()
  # NNX asks each new variable's traced value for its `.sharding`; JAX's
  # AttributeError then describes where the tracer came from by walking the
  # whole trace so far: quadratic in the ~1,500 variables, six sevenths of
  # this test's time. The message is never shown (NNX catches the error), so
  # it is left out here; the shapes traced are the same. (The tracer of
  # `eval_shape` overrides the base class's description; jax-ml/jax#40041
  # removes the walk.)
  from jax._src import core
  from jax._src.interpreters import partial_eval

  for tracer in (core.Tracer, partial_eval.DynamicJaxprTracer):
    monkeypatch.setattr(tracer, "_origin_msg", lambda self: "", raising=False)
  model = nnx.eval_shape(
      lambda: train_state.create_model(config, 100, jax.random.key(0))
  )
  count = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
  assert 26.0e6 < count < 27.6e6, count


def test_augment_on_device_crops_a_window_of_the_padded_image():
  images = jnp.asarray(
      np.random.default_rng(0).integers(1, 255, (6, 8, 8, 1), np.uint8)
  )
  out = np.asarray(steps.augment_on_device(jax.random.key(0), images, pad=2))
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


@pytest.mark.parametrize(
    "method,mode",
    [("cutmix", "batch"), ("cutmix", "elem"), ("resizemix", "elem")],
)
def test_the_mixed_batch_picture_says_its_mode_and_draws_each_box(method, mode):
  config = default.get_config()
  config.cutmix.method = method
  config.cutmix.mode = mode
  images = jnp.asarray(
      np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), np.uint8)
  )
  labels = jnp.arange(8) % 10
  mix = steps.make_sample_fn(config, _mesh(), num_classes=10)
  mixed, _, params = mix(jax.random.key(0), images, labels)
  figure = plots.plot_cutmix_samples(
      None,
      mixed,
      labels,
      params,
      num_samples=8,
      title=plots.mixing_title(config.cutmix),
  )
  title = figure._suptitle.get_text()
  assert f"cutmix_jax.{method}, mode={mode!r}" in title
  assert ("whole partner, resized" in title) == (method == "resizemix")
  outlines = [
      tuple(int(v) for v in (p.get_x() + 0.5, p.get_y() + 0.5))
      for ax in figure.axes
      for p in ax.patches
  ]
  drawn = {tuple(int(v) for v in b[[1, 0]]) for b in np.asarray(params.box)}
  assert set(outlines) <= drawn and len(outlines) >= 1
  if mode == "elem":
    assert len(set(outlines)) > 1  # each example its own box
