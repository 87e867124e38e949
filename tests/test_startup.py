"""What stops a run before it starts: one ``ERROR:`` line, status 2, nothing written.

The command line is run for each kind of error (they stop before JAX is
imported, so each takes about a second); the resume rules are checked on a
recorded config in this process, and once end to end.
"""

import os
import subprocess
import sys

import pytest

import cutmix_jax
from train import startup
from train import steps
from train import train
from train.configs import default
import train_helpers

pytestmark = pytest.mark.timeout(300)


def _run(tmp_path, *args, devices=1):
  env = train_helpers.child_env(
      tmp_path / "jax_cache",
      XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
  )
  return subprocess.run(
      [
          sys.executable,
          "-m",
          "train.main",
          "--config.progress_bar=false",
          *args,
      ],
      cwd=train_helpers.ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=240,
  )


def _assert_one_line_error(result, *words):
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
  assert "Traceback" not in result.stderr
  for word in words:
    assert word in lines[0]


@pytest.fixture
def a_file(tmp_path):
  path = tmp_path / "a_file"
  path.write_text("not a directory")
  return path


@pytest.mark.parametrize(
    "workdir,words",
    [
        ("", ["--workdir: expected a directory, got ''"]),
        ("{a_file}", ["is a file, expected a directory"]),
        ("{a_file}/run", ["cannot create", "is a file"]),
    ],
)
def test_a_workdir_that_cannot_be_used_stops_at_once(
    tmp_path, a_file, workdir, words
):
  result = _run(tmp_path, f"--workdir={workdir.format(a_file=a_file)}")
  _assert_one_line_error(result, *words)
  assert a_file.read_text() == "not a directory"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_workdir_stops_at_once(tmp_path):
  locked = tmp_path / "locked"
  locked.mkdir(mode=0o555)
  result = _run(tmp_path, f"--workdir={locked}/run")
  _assert_one_line_error(result, "cannot create", "not writable")


def test_a_workdir_that_is_not_writable_is_refused(tmp_path, monkeypatch):
  # As root (CI containers) the permission bits do not stop a write: ask
  # os.access what an ordinary user would be told.
  monkeypatch.setattr(os, "access", lambda path, mode: False)
  with pytest.raises(startup.StartupError, match="is not writable"):
    startup.check_workdir(str(tmp_path / "run"))


@pytest.mark.parametrize(
    "flag,words",
    [
        ("--config.batch_size=0", ["config.batch_size: expected an int > 0"]),
        ("--config.model.name=vgg", ["config.model.name: expected one of"]),
        ("--config.dataset=mnist", ["config.dataset: expected one of"]),
        # The library's own words, after the config field (more below).
        ("--config.cutmix.alpha=-1", ["config.cutmix.alpha: alpha: expected"]),
    ],
)
def test_a_bad_config_value_stops_at_start_up(tmp_path, flag, words):
  result = _run(tmp_path, f"--workdir={tmp_path / 'run'}", flag)
  _assert_one_line_error(result, *words)
  assert not (tmp_path / "run").exists()


def test_one_example_a_device_cannot_mix_and_says_so(tmp_path):
  result = _run(
      tmp_path,
      f"--workdir={tmp_path / 'run'}",
      "--config.batch_size=2",
      "--config.eval_batch_size=2",
      devices=2,
  )
  _assert_one_line_error(
      result,
      "config.batch_size: 2 over 2 devices is 1 example a device",
      "expected at least 4",
      "--config.cutmix.method=none",
  )
  assert not (tmp_path / "run").exists()


def test_batch_split_rules():
  config = default.get_config()
  config.batch_size, config.eval_batch_size = 16, 16
  startup.check_batch_split(config, 8, 2)  # 2 a device: mixes.
  with pytest.raises(startup.StartupError, match="1 example a device"):
    startup.check_batch_split(config, 16, 1)
  config.cutmix.method = "none"  # Nothing to mix: one a device is fine.
  startup.check_batch_split(config, 16, 1)
  with pytest.raises(startup.StartupError, match="multiple of the device"):
    startup.check_batch_split(config, 3, 1)


@pytest.mark.parametrize(
    "method,field,value,words",
    [
        (
            "cutmix",
            "box",
            "minmax(0.9,0.2)",
            "config.cutmix.box: lo, hi: expected",
        ),
        (
            "cutmix",
            "box",
            "oval(3)",
            "config.cutmix.box: expected a cutmix_jax",
        ),
        (
            "resizemix",
            "scale",
            (0.9, 0.1),
            "config.cutmix.scale: scale: expected",
        ),
        ("resizemix", "box", "minmax(0.2, 0.8)", "resizemix draws no box"),
        ("resizemix", "mode", "tile", "config.cutmix.mode: mode: expected"),
    ],
)
def test_the_library_checks_the_mixing_in_its_own_words(
    method, field, value, words
):
  config = default.get_config()
  config.cutmix.method = method
  steps.check_mixing(config, shard_batch=2)
  config.cutmix[field] = value
  with pytest.raises(startup.StartupError, match="^config.cutmix") as error:
    steps.check_mixing(config, shard_batch=2)
  assert words in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "text",
    [
        "on_patch_grid(8, minmax(0.25, 0.75))",
        "boxes.on_patch_grid(8, boxes.minmax(0.25, 0.75))",
        "cutmix_jax.boxes.on_patch_grid(8, minmax(0.25, 0.75))",
    ],
)
def test_a_box_is_written_as_in_python_with_or_without_boxes(text):
  # The library's messages write rules as boxes.minmax(...): users copy that.
  expected = cutmix_jax.boxes.on_patch_grid(
      8, cutmix_jax.boxes.minmax(0.25, 0.75)
  )
  assert steps.box_rule(text) == expected


@pytest.mark.parametrize(
    "text", ["jnp.minmax(0.2, 0.8)", "boxes._Centred()", "os.system('x')"]
)
def test_a_box_from_anything_but_the_rules_is_refused(text):
  with pytest.raises(
      startup.StartupError, match="expected a cutmix_jax.boxes rule"
  ):
    steps.box_rule(text)


def test_a_field_the_trainer_does_not_read_is_refused():
  config = default.get_config()
  config.train_fraction = 0.05  # The study's, given to train.main.
  with pytest.raises(startup.StartupError, match="config.train_fraction: not"):
    startup.check_fields(config, default.get_config())


# --------------------------------------------------------------------------
# Resume.


def _recorded(tmp_path):
  config = train_helpers.tiny(default.get_config())
  startup.record_config(config, str(tmp_path))
  return config


@pytest.mark.parametrize(
    "field,value",
    [
        ("batch_size", 32),
        ("model.width", 8),
        ("model.name", "wide_resnet"),
        ("dataset", "cifar10"),
        ("cutmix.method", "mixup"),
        ("cutmix.alpha", 0.5),
        ("optimizer.learning_rate", 0.05),
        ("optimizer.schedule", "step"),
        ("seed", 1),
        ("augment.flip", True),
    ],
)
def test_a_resume_that_changes_the_run_is_refused_naming_the_field(
    tmp_path, field, value
):
  config = _recorded(tmp_path)
  old = config
  for name in field.split(".")[:-1]:
    old = old[name]
  old_value = old[field.split(".")[-1]]
  changed = train_helpers.tiny(default.get_config(), **{field: value})
  with pytest.raises(startup.StartupError) as error:
    startup.check_resume(changed, str(tmp_path))
  assert f"config.{field} {old_value!r} -> {value!r}" in str(error.value)
  assert "--restart" in str(error.value)


def test_a_resume_names_every_differing_field_in_one_line(tmp_path):
  _recorded(tmp_path)
  changed = train_helpers.tiny(
      default.get_config(), batch_size=32, seed=4, **{"model.depth": 18}
  )
  with pytest.raises(startup.StartupError) as error:
    startup.check_resume(changed, str(tmp_path))
  message = str(error.value)
  assert "\n" not in message
  for part in ("batch_size 16 -> 32", "model.depth 10 -> 18", "seed 0 -> 4"):
    assert part in message


def test_a_resume_may_train_longer_and_log_otherwise(tmp_path):
  _recorded(tmp_path)
  longer = train_helpers.tiny(
      default.get_config(),
      num_train_steps=30,
      num_epochs=40,
      log_every_steps=5,
      eval_every_epochs=2,
  )
  startup.check_resume(longer, str(tmp_path))


def test_checkpoints_without_a_record_are_refused(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  with pytest.raises(startup.StartupError, match="no config.json"):
    startup.check_resume(default.get_config(), str(tmp_path))


def test_resume_extends_a_run_and_restart_starts_over(tmp_path):
  config = train_helpers.tiny(default.get_config(), num_train_steps=2)
  config.num_plot_samples = 0
  train.train_and_evaluate(config, str(tmp_path))
  config.num_train_steps = 4  # Train longer: allowed.
  assert train.train_and_evaluate(config, str(tmp_path))["step"] == 4
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "4"]

  # Another seed: another run (the same shapes, so nothing new to compile
  # for the model's initialisation).
  other = train_helpers.tiny(default.get_config(), seed=1)
  other.num_plot_samples = 0
  before = (tmp_path / "metrics.jsonl").read_text()
  with pytest.raises(startup.StartupError, match="seed 0 -> 1"):
    train.train_and_evaluate(other, str(tmp_path))
  assert (tmp_path / "metrics.jsonl").read_text() == before  # Untouched.
  # --restart: what the earlier run wrote is removed, the new run recorded.
  assert (
      train.train_and_evaluate(other, str(tmp_path), restart=True)["step"] == 3
  )
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2", "3"]
  assert startup.recorded_config(str(tmp_path))["seed"] == 1


def test_the_command_line_refuses_a_changed_resume_and_changes_nothing(
    tmp_path,
):
  workdir = tmp_path / "run"
  workdir.mkdir()
  startup.record_config(default.get_config(), str(workdir))
  (workdir / "checkpoints").mkdir()
  before = (workdir / "config.json").read_text()
  result = _run(tmp_path, f"--workdir={workdir}", "--config.batch_size=32")
  _assert_one_line_error(result, "config.batch_size 64 -> 32", "--restart")
  assert (workdir / "config.json").read_text() == before
  assert sorted(p.name for p in workdir.iterdir()) == [
      "checkpoints",
      "config.json",
  ]
