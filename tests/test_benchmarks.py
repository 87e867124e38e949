"""Smoke test of `python -m benchmarks`: tiny sizes, one round, well-formed output.

No timing is asserted (a benchmark is never a timed test). Peers that are not
installed are normal: their rows must then say so. The trainer's in-step
section is left out here (compiling two ResNet steps takes longer than this
test may); `count_traces`, the cheap part of that section, is checked below.
The run measures ``--baseline=HEAD`` beside the working tree (HEAD exists in
any clone, shallow ones too); the 0.1 revision d9d76eb, whose API differs,
is imported on its own where the history has it.
"""

import inspect
import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from benchmarks import baseline
from conftest import run_program
import cutmix_jax

ROOT = pathlib.Path(__file__).resolve().parent.parent
OLD_REVISION = "d9d76eb"  # 0.1: sample_cutmix_params(rng, B, H, W, ...)


def _head() -> str | None:
  """HEAD's commit hash, or None outside a git checkout (then no baseline)."""
  try:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        timeout=30,
    )
  except (FileNotFoundError, subprocess.TimeoutExpired):
    return None
  return proc.stdout.strip() if proc.returncode == 0 else None


HEAD = _head()


# The smoke run: one whole program, run once for the module's tests (on one
# pytest-xdist worker: --dist loadfile), bounded by a timeout.
QUICK_RUN = (
    sys.executable,
    "-m",
    "benchmarks",
    "--quick",
    "--sizes",
    "8x16",
    "--dtypes",
    "uint8",
    "--rounds",
    "1",
    "--min-sample-ms",
    "0",
    "--sections",
    "speed,compile,correctness,scaling,video",
    *(["--baseline", "HEAD"] if HEAD else []),
    "--scaling-sides",
    "16",
    "--scaling-batches",
    "8",
)


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("bench")
  proc = run_program(
      [*QUICK_RUN, "--out", out], timeout=400, env={"KERAS_BACKEND": "jax"}
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout, out


def _tables(markdown: str) -> list[list[list[str]]]:
  """Every pipe table in the text, as rows of cells."""
  tables, current = [], []
  for line in markdown.splitlines():
    if line.startswith("|"):
      current.append([c.strip() for c in line.strip().strip("|").split("|")])
    elif current:
      tables.append(current)
      current = []
  if current:
    tables.append(current)
  return tables


@pytest.mark.slow
@pytest.mark.xdist_group("benchmarks")
def test_markdown_tables_are_well_formed(quick_run):
  stdout, out = quick_run
  assert stdout.strip() == (out / "latest.md").read_text().strip()
  tables = _tables(stdout)
  # acceptance, modes, speed, compile, correctness, scaling (two)
  assert len(tables) >= 7
  for table in tables:
    header, align, *body = table
    assert all(set(cell) <= set(":-") for cell in align)
    assert body and all(len(row) == len(header) for row in body)
  for heading in (
      "## Acceptance",
      "## Speed",
      "## Compile",
      "## Correctness",
      "## How the cost grows",
      "## Video",
  ):
    assert heading in stdout
  acceptance = next(
      t for t in tables if t[0] == ["criterion", "measured", "met"]
  )
  compiles = [
      row for row in acceptance[2:] if "standalone cutmix compile" in row[0]
  ]
  assert len(compiles) == 4  # every mode with alpha 1, batch with 0.5
  assert all(row[2] in ("yes", "**no**") for row in compiles)


@pytest.mark.slow
@pytest.mark.xdist_group("benchmarks")
def test_video_rows_time_every_videomix_variant(quick_run):
  stdout, out = quick_run
  table = next(t for t in _tables(stdout) if t[0][0] == "variant")
  names = [row[0] for row in table[2:]]
  assert names[0] == "floor" and len(names) == 4
  assert [n.split()[0] for n in names[1:]] == [
      "S-VideoMix",
      "T-VideoMix",
      "ST-VideoMix",
  ]
  (record,) = json.loads((out / "latest.json").read_text())["video"]
  assert record["dtype"] == "uint8"
  assert [tuple(r["axes"] or ()) for r in record["rows"]] == [
      (),
      (2, 3),
      (1,),
      (1, 2, 3),
  ]
  for row in record["rows"]:
    assert row["median_s"] > 0 and len(row["ratios"]) == len(row["samples"])


@pytest.mark.slow
@pytest.mark.xdist_group("benchmarks")
def test_every_contender_has_a_row_with_a_number_or_a_reason(quick_run):
  stdout, _ = quick_run
  speed = next(t for t in _tables(stdout) if t[0][0] == "implementation")
  names = [row[0] for row in speed[2:]]
  for expected in (
      "floor",
      "copy",
      "cutmix batch",
      "cutmix elem",
      "cutmix pair",
      "mixup batch",
      "research JAX (1 box, float mask)",
  ):
    assert expected in names
  assert any(n.startswith("keras") for n in names)
  assert sum(n.startswith("timm") for n in names) == 2
  for row in speed[2:]:
    for cell in row[1:]:
      # A number, a ratio, or the reason it did not run.
      assert cell and cell != "None"


@pytest.mark.slow
@pytest.mark.xdist_group("benchmarks")
def test_json_record(quick_run):
  _, out = quick_run
  record = json.loads((out / "latest.json").read_text())
  env = record["environment"]
  for key in ("date", "jax", "device", "cpu", "backend"):
    assert env[key]
  groups = record["speed"]
  assert {g["batch"]["dtype"] for g in groups} == {"uint8"}
  for group in groups:
    rows = {r["name"]: r for r in group["rows"]}
    assert rows["floor"]["status"] == "ok"
    for row in rows.values():
      if row["status"] == "ok":
        assert len(row["samples"]) == 1 and row["samples"][0] > 0
        assert len(row["ratios"]) == 1
      else:
        assert not row["samples"]
  ours = [c for c in record["correctness"] if c["name"].startswith("cutmix ")]
  assert ours and all(c["label_error"] == 0 and c["dtype_kept"] for c in ours)
  assert record["scaling"] and record["targets"]
  assert (out / "scaling.png").stat().st_size > 0
  assert {(r["mode"], r["library"]) for r in record["compile"]} >= {
      ("batch", "current"),
      ("elem", "current"),
      ("pair", "current"),
  }
  assert all(r["cold"]["total_s"] > 0 for r in record["compile"])


@pytest.mark.slow
@pytest.mark.xdist_group("benchmarks")
@pytest.mark.skipif(HEAD is None, reason="not a git checkout: no baseline")
def test_baseline_rows_sit_beside_the_current_ones(quick_run):
  stdout, out = quick_run
  record = json.loads((out / "latest.json").read_text())
  assert record["baseline"]["sha"] == HEAD
  label = f"[{HEAD[:7]}]"
  assert record["baseline"]["package"] == f"cutmix_jax_{HEAD[:7]}"
  speed = next(t for t in _tables(stdout) if t[0][0] == "implementation")
  names = [row[0] for row in speed[2:]]
  for name in ("cutmix batch", "cutmix elem", "cutmix pair", "mixup batch"):
    twin = f"{name} {label}"
    assert names.index(twin) == names.index(name) + 1
    assert speed[2 + names.index(twin)][2].endswith(")")  # a measured ratio
  theirs = [
      c
      for c in record["correctness"]
      if c["name"].startswith("cutmix ") and c["name"].endswith(label)
  ]
  assert len(theirs) == 3
  assert all(c["label_error"] == 0 and c["dtype_kept"] for c in theirs)
  assert {r["library"] for r in record["compile"]} == {"current", label}
  modes = next(
      t
      for t in _tables(stdout)
      if t[0][0] == "time / floor"
      and any(row[0] == f"cutmix batch {label}" for row in t[2:])
  )
  assert all(cell.endswith("x") for row in modes[2:] for cell in row[1:])


def test_a_missing_revision_is_a_clear_error(tmp_path, capsys):
  from benchmarks import __main__ as bench_main

  code = bench_main.main(
      ["--baseline", "no-such-revision-0000", "--out", str(tmp_path)]
  )
  assert code == 2
  err = capsys.readouterr().err
  assert "no-such-revision-0000" in err and "--baseline" in err
  assert not (tmp_path / "latest.json").exists()


def test_absolute_imports_are_renamed_and_nothing_else():
  source = (
      "from cutmix_jax._src import boxes\n"
      "import cutmix_jax.masks as m\n"
      "  from cutmix_jax import x  # lazy\n"
      "import cutmix_jaxish\n"
      "    >>> import cutmix_jax\n"
      "msg = 'cutmix_jax: bad'\n"
  )
  renamed = baseline._rename_imports(source, "cutmix_jax_abc")
  assert renamed.splitlines() == [
      "from cutmix_jax_abc._src import boxes",
      "import cutmix_jax_abc.masks as m",
      "  from cutmix_jax_abc import x  # lazy",
      "import cutmix_jaxish",
      "    >>> import cutmix_jax",
      "msg = 'cutmix_jax: bad'",
  ]


def test_the_old_revision_imports_beside_the_current_one():
  try:
    old = baseline.load(OLD_REVISION)
  except baseline.BaselineError as e:
    if HEAD is None or "is not a commit" in str(e):
      pytest.skip(f"{OLD_REVISION} is not in this checkout's history: {e}")
    raise
  assert old.sha.startswith(OLD_REVISION) and old.label == f"[{OLD_REVISION}]"
  module = old.module
  assert module.__name__ == f"cutmix_jax_{OLD_REVISION}"
  assert module.cutmix is not cutmix_jax.cutmix
  # 0.1's code, not a second name for the current one: its hand-written
  # sampler module is there and its sampler takes H and W separately.
  assert f"{module.__name__}._src.random_bits" in sys.modules
  assert "height" in inspect.signature(module.sample_cutmix_params).parameters
  assert not hasattr(cutmix_jax, "sample_cutmix_params")
  assert module.cutmix.__module__ == f"{module.__name__}._src.augment"
  images = jnp.arange(4 * 8 * 8 * 1, dtype=jnp.float32).reshape(4, 8, 8, 1)
  mixed, soft = jax.jit(module.cutmix, static_argnames="num_classes")(
      jax.random.key(0), images, jnp.arange(4), num_classes=4
  )
  assert mixed.shape == images.shape and soft.shape == (4, 4)
  assert jnp.allclose(soft.sum(-1), 1.0)
  # Loading it again reuses the import instead of extracting another copy.
  assert baseline.load(OLD_REVISION).module is module


def test_the_train_step_runs_on_0_2_for_its_baseline_row():
  """0.2 returned its parameters with ``return_params=True``: adapted, its
  cutmix runs in the trainer's step, so ``--baseline=c5c224e`` times 0.2's
  step beside the current one."""
  from benchmarks import train_step
  from train import steps

  try:
    old = baseline.load("c5c224e")  # 0.2
  except baseline.BaselineError as e:
    if HEAD is None or "is not a commit" in str(e):
      pytest.skip(f"c5c224e is not in this checkout's history: {e}")
    raise
  config = train_step.load_config(str(ROOT / "train/configs/default.py"))
  config.cutmix.prob = 1.0
  with train_step._library_in(train_step._trainer_api(old.module)):
    mix = steps.mix_function(config, num_classes=10, image_size=(8, 8))
  images = jnp.arange(4 * 8 * 8 * 1, dtype=jnp.float32).reshape(4, 8, 8, 1)
  pasted = 0
  for seed in range(5):
    mixed, soft, params = mix(jax.random.key(seed), images, jnp.arange(4))
    assert type(params).__module__.startswith(old.module.__name__)
    assert mixed.shape == images.shape and soft.shape == (4, 10)
    changed = (mixed != images).reshape(4, -1).any(axis=1)
    assert (changed == params.applied).all()
    pasted += int(changed.sum())
  assert pasted > 0
  assert not hasattr(old.module, "with_params")  # the adapter did not leak


def test_traces_once_across_alpha_and_prob():
  from benchmarks import train_step

  assert train_step.count_traces(batch_size=4, side=8, values=3)["traces"] == 1
