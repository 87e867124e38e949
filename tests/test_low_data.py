"""Tests of experiments/low_data: the training subset, CAMs, statistics, the program.

No accuracy is asserted anywhere: the study is a benchmark (`make study`).
The end-to-end test runs the study in this process on a tiny setting (a
4-channel ResNet-10, two epochs of 71 digits, two methods, one seed).
"""

import json
import os
import re
import subprocess
import sys

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cutmix_jax
from experiments.low_data import cam
from experiments.low_data import config as low_data_config
from experiments.low_data import data as low_data
from experiments.low_data import main as study
from experiments.low_data import report as study_report
from train import input_pipeline
from train import train_state
import train_helpers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(images: np.ndarray) -> set[bytes]:
  return {x.tobytes() for x in images}


# --------------------------------------------------------------------------
# The training subset.


def test_stratified_subset_keeps_each_class_in_proportion():
  labels = np.repeat(np.arange(3), [50, 30, 20])
  kept = low_data.stratified_subset(labels, 10, seed=0)
  assert len(kept) == len(set(kept)) == 10
  np.testing.assert_array_equal(
      np.bincount(labels[kept], minlength=3), [5, 3, 2]
  )
  assert np.all(np.diff(kept) > 0)


@pytest.fixture(scope="module")
def digits():
  return input_pipeline.load("digits", process_index=0, process_count=1)


def test_digits_subset_is_stratified_deterministic_and_its_own_statistics(
    digits,
):
  data = low_data.subset(digits, 0.05, 0)
  assert data.train_size == len(data.train_labels) == 71  # floor(0.05 * 1437)
  counts = np.bincount(data.train_labels, minlength=10)
  share = 71 * np.bincount(digits.train_labels, minlength=10) / 1437
  assert np.all(np.abs(counts - share) < 1), (counts, share)
  again = low_data.subset(digits, 0.05, 0)
  np.testing.assert_array_equal(again.train_images, data.train_images)
  np.testing.assert_array_equal(again.train_labels, data.train_labels)
  other = low_data.subset(digits, 0.05, 1)
  assert _rows(other.train_images) != _rows(data.train_images)
  # Normalisation from the kept images, not the whole split.
  pixels = data.train_images.reshape(-1, 3).astype(np.float64)
  np.testing.assert_allclose(data.mean, pixels.mean(0), rtol=1e-5)
  np.testing.assert_allclose(data.std, pixels.std(0), rtol=1e-5)
  assert not np.allclose(data.mean, digits.mean, rtol=1e-3)


def test_subset_comes_from_the_training_split_and_the_test_split_stays_whole(
    digits,
):
  data = low_data.subset(digits, 0.2, 3)
  np.testing.assert_array_equal(data.test_images, digits.test_images)
  assert data.test_size == digits.test_size == 360
  kept = _rows(data.train_images)
  assert len(kept) == len(data.train_images)
  assert kept <= _rows(digits.train_images)
  assert not kept & _rows(digits.test_images)
  label_of = {
      x.tobytes(): y for x, y in zip(digits.train_images, digits.train_labels)
  }
  assert all(
      label_of[x.tobytes()] == y
      for x, y in zip(data.train_images, data.train_labels)
  )
  whole = low_data.subset(digits, 1.0, 0)
  np.testing.assert_array_equal(whole.train_images, digits.train_images)


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5, 0.001])
def test_bad_train_fraction_names_the_field(digits, fraction):
  with pytest.raises(ValueError, match="config.train_fraction: expected"):
    low_data.subset(digits, fraction, 0)


# --------------------------------------------------------------------------
# Class activation maps.


def test_cam_spatial_mean_plus_bias_is_the_logit():
  config = low_data_config.get_config()  # The study's model, narrower.
  config.model.width = 4
  model = train_state.create_model(config, 10, jax.random.key(0))
  model.eval()
  # A bias that is not zero, so that leaving it out would show.
  model.head.dense.bias[...] = jax.random.normal(jax.random.key(1), (10,))
  x = jax.random.normal(jax.random.key(2), (3, 32, 32, 3))

  @nnx.jit
  def maps_features_logits(model, x):
    return (cam.class_activation_maps(model, x), model.feature_map(x), model(x))

  maps, features, logits = maps_features_logits(model, x)
  assert maps.shape == (
      3,
      2,
      2,
      10,
  )  # Stem stride 2, then three stride-2 stages.
  assert features.shape == (3, 2, 2, 32) and bool(jnp.all(features >= 0))
  np.testing.assert_allclose(
      maps.mean((1, 2)) + model.head.dense.bias[...],
      logits,
      rtol=1e-5,
      atol=1e-5,
  )


def test_region_agreement_reads_which_map_is_larger_where():
  labels = np.array([0, 1])
  params = cutmix_jax.MixParams(
      box=np.array([[0, 0, 4, 8], [0, 0, 4, 8]], np.int32),
      lam=np.array([0.5, 0.5]),
      partner=np.array([1, 0], np.int32),
      applied=np.array([True, True]),
      is_cutmix=np.array([True, True]),
  )
  pasted = cam.pasted_masks(params, 8, 8)
  assert (
      pasted.sum() == 2 * 32 and pasted[0, :4].all() and not pasted[0, 4:].any()
  )
  maps = np.zeros((2, 8, 8, 2))
  # Example 0 (class 0, class 1 pasted on top): each class where its pixels are.
  maps[0, :4, :, 1], maps[0, 4:, :, 0] = 1, 1
  # Example 1 (class 1, class 0 pasted on top): class 1 everywhere.
  maps[1, :, :, 1] = 1
  np.testing.assert_allclose(
      cam.region_agreement(maps, labels, params, image_size=(8, 8)), [1.0, 0.5]
  )
  # Maps at a coarser resolution are upsampled to the image first.
  coarse = np.zeros((2, 2, 2, 2))
  coarse[0, 0, :, 1], coarse[0, 1, :, 0], coarse[1, :, :, 1] = 1, 1, 1
  agreement = cam.region_agreement(coarse, labels, params, image_size=(8, 8))
  np.testing.assert_allclose(agreement, [1.0, 0.5])


# --------------------------------------------------------------------------
# Statistics and arguments.


def test_paired_comparison_counts_and_tests():
  baseline = {s: 90.0 for s in range(10)}
  ahead = {s: 91.0 + 0.1 * s for s in range(10)}
  c = study_report.paired_comparison(ahead, baseline)
  assert (c.wins, c.ties, c.losses) == (10, 0, 0)
  assert c.sign_p == pytest.approx(2 / 2**10)  # Two-sided exact binomial.
  assert 0 < c.t_p < 1e-6
  mixed = {0: 90.0, 1: 91.0, 2: 89.0, 3: 90.0}
  c = study_report.paired_comparison(mixed, {s: 90.0 for s in range(6)})
  assert c.seeds == (0, 1, 2, 3) and (c.wins, c.ties, c.losses) == (1, 2, 1)
  assert c.sign_p == pytest.approx(1.0)
  with pytest.raises(ValueError, match="seeds that both methods ran"):
    study_report.paired_comparison({0: 1.0}, {1: 1.0})


def test_parse_seeds_and_methods():
  assert study.parse_seeds("0-4,9") == [0, 1, 2, 3, 4, 9]
  assert study.parse_seeds("3") == [3]
  for bad in ("", "a", "4-2", "1,1", "-1", "0-", "0,4-2"):
    with pytest.raises(study.StudyError, match="--seeds: expected"):
      study.parse_seeds(bad)
  assert study.parse_methods("cutmix,none,mixup") == ["none", "cutmix", "mixup"]
  with pytest.raises(study.StudyError, match="--methods: expected"):
    study.parse_methods("cutmix,cutmix")


def test_importing_the_study_leaves_the_command_line_flags_to_train_main():
  from absl import flags

  from train import main  # noqa: F401  (defines the flags)

  # train.main defines --config and --workdir; the study, imported, none.
  assert "workdir" in flags.FLAGS and "methods" not in flags.FLAGS


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "flag,words",
    [
        ("--seeds=0-", "--seeds: expected"),
        ("--seeds=x", "--seeds: expected"),
        ("--config.train_fraction=0", "config.train_fraction: expected"),
        ("--config.train_fraction=2", "config.train_fraction: expected"),
    ],
)
def test_command_line_refuses_a_bad_argument_in_one_line(tmp_path, flag, words):
  workdir = tmp_path / "study"
  result = subprocess.run(
      [
          sys.executable,
          "-m",
          "experiments.low_data.main",
          flag,
          f"--workdir={workdir}",
      ],
      cwd=ROOT,
      env=train_helpers.child_env(tmp_path / "jax_cache"),
      capture_output=True,
      text=True,
      timeout=100,
  )
  assert result.returncode == 2, result.stderr[-2000:]
  assert result.stderr.strip().splitlines() == [result.stderr.strip()]
  assert result.stderr.startswith("ERROR: ") and words in result.stderr
  assert not workdir.exists()


# --------------------------------------------------------------------------
# The study program.


def _tiny_base():
  config = low_data_config.get_config()
  config.model.width = 4
  config.batch_size = 16
  config.num_epochs = (
      2  # 4 steps an epoch on 71 images: 8 steps, 2 evaluations.
  )
  config.checkpoint_every_steps = 4
  return config


def test_study_writes_its_report_and_resumes_without_redoing_runs(
    tmp_path, monkeypatch
):
  monkeypatch.chdir(tmp_path)
  base, workdir = (
      _tiny_base(),
      "study",
  )  # A relative --workdir, as `make study` gives.
  methods, seeds = ["none", "cutmix"], [0]
  accuracies = study.run_study(base, methods, seeds, workdir, command="(test)")

  report = (tmp_path / "study" / "study.md").read_text()
  # It says what ran where: the command, the commit, the machine.
  lines = report.splitlines()
  assert lines[0] == "# Does it help? digits, train_fraction 0.05, 2 epochs"
  assert "- Command: `(test)`" in lines
  (date,) = [line for line in lines if line.startswith("- Date: ")]
  checkout = r"[0-9a-f]{7,}( with uncommitted changes)?"
  assert re.search(
      rf" UTC; commit ({checkout}|unknown \(not a git checkout\))\.$", date
  ), date
  (machine,) = [line for line in lines if line.startswith("- Machine: ")]
  assert f"JAX {jax.__version__}" in machine and "CPU cores" in machine
  header = report.index("| method | test accuracy")
  assert (
      "| baseline (no mixing) | " in report[header:] and "| CutMix | " in report
  )
  cutmix_row = next(
      line for line in report.splitlines() if line.startswith("| CutMix |")
  )
  assert cutmix_row.count("|") == 7 and " of 1 |" in cutmix_row
  for seed in seeds:
    line = next(
        row for row in report.splitlines() if row.startswith(f"| {seed} | ")
    )
    for method in methods:
      result = json.loads(
          (
              tmp_path
              / "study"
              / "runs"
              / f"{method}-seed{seed}"
              / "result.json"
          ).read_text()
      )
      assert result["step"] == 8 and f"{result['accuracy']:.2f}" in line
      assert accuracies[method][seed] == result["accuracy"]
  assert "CAM region agreement" in report
  for name in ("study.png", "cam.png"):
    png = (tmp_path / "study" / name).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000

  # Every finished run is left alone; an interrupted one (checkpoints, no
  # result) resumes from its checkpoint instead of starting again.
  runs = tmp_path / "study" / "runs"
  stamps = {
      d.name: (d / "metrics.jsonl").stat().st_mtime_ns for d in runs.iterdir()
  }
  (runs / "cutmix-seed0" / "result.json").unlink()
  again = study.run_study(base, methods, seeds, workdir, cam=False)
  assert again == accuracies
  for d in runs.iterdir():
    if d.name != "cutmix-seed0":
      assert (d / "metrics.jsonl").stat().st_mtime_ns == stamps[d.name], d.name
  assert (
      "Resumed from the checkpoint at step 8"
      in (runs / "cutmix-seed0" / "train.log").read_text()
  )
  assert (
      json.loads((runs / "cutmix-seed0" / "result.json").read_text())[
          "resumed_from"
      ]
      == 8
  )

  # The same directory with another configuration stops before training.
  changed = _tiny_base()
  changed.num_epochs = 3
  with pytest.raises(study.StudyError, match="config.num_epochs 2 -> 3"):
    study.run_study(changed, methods, seeds, workdir, cam=False)


def test_report_has_a_row_and_a_column_for_every_method():
  baseline = {0: 90.0, 1: 92.0, 2: 91.0}
  accuracies = {
      "none": baseline,
      "cutmix": {s: a + 1 for s, a in baseline.items()},
      "mixup": {s: a - 1 for s, a in baseline.items()},
      "resizemix": {0: 90.0, 1: 93.0, 2: 90.0},
  }
  lines = study_report.markdown_report(accuracies).splitlines()
  assert (
      "| ResizeMix | 91.00 +- 1.73 | +0.00 +- 1.00 | 1 / 1 / 1 of 3 | 1 | 1 |"
      in ("\n".join(lines))
  )
  assert "| CutMix | 92.00 +- 1.00 | +1.00 +- 0.00 | 3 / 0 / 0 of 3 |" in (
      "\n".join(lines)
  )
  assert "| seed | baseline (no mixing) | CutMix | MixUp | ResizeMix |" in lines
  assert "| 1 | 92.00 | 93.00 | 91.00 | 93.00 |" in lines
  # A mean gain of float noise below zero reads +0.00, never -0.00.
  noise = {"none": {0: 93.33, 1: 93.89, 2: 95.28}}
  noise["resizemix"] = {0: 94.72, 1: 93.06, 2: 94.72}  # Mean gain -4e-17.
  assert "| ResizeMix | 94.17 +- 0.96 | +0.00 +- 1.21 |" in (
      study_report.markdown_report(noise)
  )


def test_cam_table_pairs_each_method_with_the_baseline():
  lines = study_report.cam_table(
      {"none": {0: 70.0, 1: 72.0}, "cutmix": {0: 75.0, 1: 71.0}}, 73.4
  )
  text = "\n".join(lines)
  assert "73.4%" in text
  assert "| baseline (no mixing) | 71.00 +- 1.41 | - |" in text
  assert "| CutMix | 73.00 +- 2.83 | 1 / 0 / 1 of 2 seeds |" in text
