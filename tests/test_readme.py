"""The README: short, in the order a newcomer reads it, examples that work."""

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SECTIONS = [
    "Install",
    "Quick start",
    "In your train step",
    "What it does",
    "Beyond images",
    "API at a glance",
    "Many devices",
    "Does it help?",
    "Performance",
    "The training program",
    "Development and license",
]


def test_at_most_12_kb():
  assert len(README.read_bytes()) <= 12 * 1024


def test_sections_in_the_order_a_newcomer_reads_them():
  headings = re.findall(r"^## (.+)$", README.read_text(), flags=re.M)
  assert headings == SECTIONS
  # Install, quick start and the train step within the first screenfuls.
  lines = README.read_text().splitlines()
  assert lines.index("## In your train step") < 80


def test_no_maintainers_log_in_user_text():
  text = README.read_text()
  assert not re.search(r"[Ii]ssue \d+", text)
  # No commit hashes: 7 to 40 hex digits with a letter and a digit.
  for word in re.findall(r"\b[0-9a-f]{7,40}\b", text):
    assert not (re.search(r"[a-f]", word) and re.search(r"\d", word)), word
  assert "before 0.2" not in text


def test_every_public_name_is_at_a_glance():
  import cutmix_jax
  from cutmix_jax import boxes

  section = README.read_text().split("## API at a glance", 1)[1]
  section = section.split("\n## ", 1)[0]
  for name in list(cutmix_jax.__all__) + list(boxes.__all__):
    if name == "boxes":
      assert "`cutmix_jax.boxes`" in section
    elif name != "BoxRule":  # the rules' type: nobody writes it
      assert f"`{name}`" in section, name


def _python_blocks():
  return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


# Runs the example up to its last line, snapshots the model, then runs the
# last line (the step) and recomputes the loss it must print from the
# snapshot: the images mixed with the key the step derives, the soft labels,
# the model before its update.
_CHECK = textwrap.dedent("""
    import contextlib, io
    lines = EXAMPLE.rstrip().splitlines()
    namespace = {}
    exec("\\n".join(lines[:-1]), namespace)
    assert lines[-1].startswith("print(train_step(")
    from flax import nnx
    import optax
    g = namespace
    before = nnx.clone(g["model"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
      exec(lines[-1], namespace)
    printed = float(out.getvalue().strip())
    rng = g["jax"].random.fold_in(g["aug_key"], 0)
    mixed, soft = g["cutmix_jax"].cutmix(rng, g["images"], g["labels"], alpha=1.0,
                                         num_classes=10, prob=0.5)
    expected = float(optax.softmax_cross_entropy(before(mixed), soft).mean())
    assert abs(printed - expected) <= 1e-5 * max(1.0, abs(expected)), (printed, expected)
    assert int(g["optimizer"].step[...]) == 1
    changed = g["jax"].tree.leaves(g["jax"].tree.map(
        lambda a, b: bool((a != b).any()), nnx.state(before, nnx.Param),
        nnx.state(g["model"], nnx.Param)))
    assert any(changed), "the step did not update the model"
    print("README EXAMPLE OK", printed)
""")


# One program for both example tests (one start of JAX): tests/doc_examples.py
# runs the README's blocks as written, with four CPU devices as for the docs
# pages; then _CHECK runs the train step example once more, on its own.
_EXAMPLES = textwrap.dedent("""
    import json, pathlib, sys
    sys.path.insert(0, TESTS)
    import doc_examples
    result = doc_examples.run_file(pathlib.Path(README))
    print("DOC EXAMPLES " + json.dumps({README: result}), flush=True)
""")


@pytest.fixture(scope="module")
def examples_run():
  example = next(b for b in _python_blocks() if "def train_step" in b)
  script = (
      f"TESTS = {str(README.parent / 'tests')!r}\n"
      f"README = {str(README)!r}\n"
      f"EXAMPLE = {example!r}\n" + _EXAMPLES + _CHECK
  )
  return subprocess.run(
      [sys.executable, "-c", script],
      capture_output=True,
      text=True,
      timeout=300,
      cwd=README.parent,
      env=dict(os.environ, JAX_NUM_CPU_DEVICES="4", JAX_PLATFORMS="cpu"),
  )


def test_python_blocks_run_and_print_what_they_say(examples_run):
  line = [
      row
      for row in examples_run.stdout.splitlines()
      if row.startswith("DOC EXAMPLES ")
  ]
  assert line, examples_run.stderr[-5000:]
  results = json.loads(line[-1][len("DOC EXAMPLES ") :])
  assert results[str(README)] is None, results[str(README)]


def test_train_step_example_prints_the_loss_of_the_mixed_batch(examples_run):
  assert examples_run.returncode == 0, examples_run.stderr[-3000:]
  assert "README EXAMPLE OK" in examples_run.stdout


def _section(title: str) -> str:
  text = README.read_text().split(f"## {title}\n", 1)[1]
  return text.split("\n## ", 1)[0]


def _row(table: str, first_cell: str) -> list[str]:
  """The cells of the first row of a Markdown table text that starts so."""
  for line in table.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("|") and cells[0] == first_cell:
      return cells
  raise AssertionError(f"no row {first_cell!r}")


def test_performance_numbers_are_those_of_the_results_files():
  """Each number of the README's Performance section, rounded from its file."""
  results = README.parent / "benchmarks" / "results"
  text = " ".join(_section("Performance").split())
  step = re.search(r"takes (\d+\.\d+)x the time of the step without", text)
  call = re.search(r"float32 images takes (\d+\.\d+)x a jitted", text)
  compile_s = re.search(r"compiles in (\d+\.\d+) s", text)
  assert step and call and compile_s, text
  train_step = (results / "train_step" / "latest.md").read_text()
  ratio = _row(train_step, "CutMix batch")[2].split("x")[0]
  assert float(step.group(1)) == round(float(ratio), 2), ratio
  latest = (results / "latest.md").read_text()
  floor_table = latest.split("### Each call against the floor", 1)[1]
  header = _row(floor_table, "time / floor")
  cells = _row(floor_table, "cutmix batch")
  column = header.index("64x224 float32")
  assert call.group(1) + "x" == cells[column], cells
  compile_row = _row(
      latest,
      "standalone cutmix compile, cold (batch, alpha 1, 64x224x224x3 float32)"
      " < 1.5 s",
  )
  seconds = float(compile_row[1].split(" s")[0])
  assert float(compile_s.group(1)) == round(seconds, 1), compile_row


def test_study_numbers_are_those_of_the_study_report():
  report = (README.parent / "train" / "results" / "study.md").read_text()
  section = _section("Does it help?")
  names = {
      "no mixing": "baseline (no mixing)",
      "CutMix": "CutMix",
      "MixUp": "MixUp",
      "ResizeMix": "ResizeMix",
  }
  for name, in_report in names.items():
    ours, theirs = _row(section, name), _row(report, in_report)
    assert ours[1] == theirs[1], (ours, theirs)  # accuracy, mean +- std
    assert ours[2] == theirs[2], (ours, theirs)  # gain over the baseline
    if name != "no mixing":
      assert theirs[3] == f"{ours[3]} of 20", (ours, theirs)
  p = re.search(r"sign\s+test p = (0\.\d+)", section).group(1)
  assert float(p) == round(float(_row(report, "CutMix")[4]), 2)
