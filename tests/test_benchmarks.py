"""Smoke test of `python -m benchmarks`: tiny sizes, one round, well-formed output.

No timing is asserted (a benchmark is never a timed test). Peers that are not
installed are normal: their rows must then say so. The trainer's in-step
section is left out here (compiling two ResNet steps takes longer than this
test may); `count_traces`, the cheap part of that section, is checked below.
"""

import json
import os
import subprocess
import sys
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
  out = tmp_path_factory.mktemp("bench")
  env = dict(os.environ, KERAS_BACKEND="jax")
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks", "--quick", "--sizes", "8x16",
       "--dtypes", "uint8", "--rounds", "1", "--min-sample-ms", "0",
       "--sections", "speed,correctness,scaling",
       "--scaling-sides", "16", "--scaling-batches", "8", "--out", str(out)],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
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


def test_markdown_tables_are_well_formed(quick_run):
  stdout, out = quick_run
  assert stdout.strip() == (out / "latest.md").read_text().strip()
  tables = _tables(stdout)
  assert len(tables) >= 4  # targets, speed, correctness, scaling (two)
  for table in tables:
    header, align, *body = table
    assert all(set(cell) <= set(":-") for cell in align)
    assert body and all(len(row) == len(header) for row in body)
  for heading in ("## Targets", "## Speed", "## Correctness", "## How the cost grows"):
    assert heading in stdout


def test_every_contender_has_a_row_with_a_number_or_a_reason(quick_run):
  stdout, _ = quick_run
  speed = next(t for t in _tables(stdout) if t[0][0] == "implementation")
  names = [row[0] for row in speed[2:]]
  for expected in ("floor", "copy", "cutmix batch", "cutmix elem", "cutmix pair",
                   "mixup batch", "research JAX (1 box, float mask)"):
    assert expected in names
  assert any(n.startswith("keras") for n in names)
  assert sum(n.startswith("timm") for n in names) == 2
  for row in speed[2:]:
    for cell in row[1:]:
      # A number, a ratio, or the reason it did not run.
      assert cell and cell != "None"


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


def test_traces_once_across_alpha_and_prob():
  from benchmarks import train_step
  assert train_step.count_traces(batch_size=4, side=8, values=3)["traces"] == 1
