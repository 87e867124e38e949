"""The Colab notebook: its install cell, and a smoke-mode run top to bottom.

The install cell is plain Python: the tests run it here, with a failing and a
working clone, and record the pip command it would run instead of running it.

The smoke-mode run (CPU, offline, digits) is done once per test session by
``notebook_runner.executed_once`` (nbclient, in a kernel that is this
interpreter, the project's ``.venv``); the docs build shows the same executed
copy. The tests read the executed cells by their tags.

Set ``CUTMIX_JAX_NOTEBOOK_OUT=DIR`` to keep the executed notebook and every
PNG it rendered in DIR, to look at them.
"""

import base64
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

import notebook_runner  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = notebook_runner.NOTEBOOK
BADGE_URL = (
    "https://colab.research.google.com/github/cutmix-jax/cutmix-jax/blob/main/"
    "colab/cutmix_jax_tpu.ipynb"
)

# Cells whose outputs must hold at least one PNG figure.
FIGURE_TAGS = (
    "figure-modes",
    "figure-mask",
    "figure-variants",
    "figure-resizemix",
    "figure-transmix",
    "figure-curves",
    "figure-cam",
)


def _pngs(cell):
  return [
      out["data"]["image/png"]
      for out in cell.get("outputs", [])
      if "image/png" in out.get("data", {})
  ]


def _text(cell):
  parts = []
  for out in cell.get("outputs", []):
    if out.get("output_type") == "stream":
      parts.append(out["text"])
    elif "text/plain" in out.get("data", {}):
      parts.append(out["data"]["text/plain"])
  return "".join(parts)


def _cell(nb, tag):
  found = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
  assert (
      len(found) == 1
  ), f"expected one cell tagged {tag!r}, found {len(found)}"
  return found[0]


def shared_dir(tmp_path_factory) -> pathlib.Path:
  """A folder every pytest process of this session shares (xdist workers too)."""
  base = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    base = base.parent  # the workers' temp folders share this parent
  return base / "notebook"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
  """The notebook after a full smoke-mode run (a cell error fails here)."""
  code, log, path = notebook_runner.executed_once(shared_dir(tmp_path_factory))
  keep = os.environ.get("CUTMIX_JAX_NOTEBOOK_OUT")
  if keep and path.exists():
    _save(nbformat.read(path, as_version=4), pathlib.Path(keep))
  assert code == 0, log[-5000:]
  return nbformat.read(path, as_version=4)


def _save(nb, out_dir: pathlib.Path):
  out_dir.mkdir(parents=True, exist_ok=True)
  nbformat.write(nb, str(out_dir / "executed.ipynb"))
  for index, cell in enumerate(nb.cells):
    tags = cell.get("metadata", {}).get("tags", [])
    name = tags[0] if tags else f"cell{index:02d}"
    for k, png in enumerate(_pngs(cell)):
      (out_dir / f"{index:02d}_{name}_{k}.png").write_bytes(
          base64.b64decode(png)
      )


def test_stored_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert (
          cell.outputs == [] and cell.execution_count is None
      ), f"the stored notebook has outputs in:\n{cell.source[:200]}"


def test_colab_badge_and_no_tpu_setup():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  assert nb.cells[0].cell_type == "markdown" and BADGE_URL in nb.cells[0].source
  code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
  # Colab TPUs are TPU VMs: jax.devices() just works.
  assert "setup_tpu" not in code
  assert "return_params" not in code  # the 0.2 API


class _Recorder:
  """subprocess.run for the install cell: git runs, pip is recorded only."""

  def __init__(self):
    self.pip = []
    self.git = []
    self._run = subprocess.run

  def __call__(self, argv, *args, **kwargs):
    if argv[:3] == [sys.executable, "-m", "pip"]:
      self.pip.append(list(argv[3:]))
      return subprocess.CompletedProcess(argv, 0)
    assert argv[0] == "git", argv
    self.git.append(list(argv))
    return self._run(argv, *args, **kwargs)


def _run_install_cell(monkeypatch, cwd, repo_url):
  nb = nbformat.read(NOTEBOOK, as_version=4)
  source = _cell(nb, "install").source
  recorder = _Recorder()
  monkeypatch.setattr(subprocess, "run", recorder)
  monkeypatch.chdir(cwd)
  monkeypatch.setattr(sys, "path", list(sys.path))
  monkeypatch.setenv("CUTMIX_JAX_REPO", str(repo_url))
  monkeypatch.delenv("CUTMIX_JAX_SMOKE", raising=False)
  namespace = {"__name__": "__main__"}
  try:
    exec(compile(source, "install cell", "exec"), namespace)
  finally:
    monkeypatch.undo()
  return namespace, recorder


def test_install_cell_stops_at_once_on_a_failed_clone(monkeypatch, tmp_path):
  missing = tmp_path / "no-such-repository"
  with pytest.raises(RuntimeError) as error:
    _run_install_cell(monkeypatch, tmp_path, missing)
  message = str(error.value)
  assert message.startswith("Could not get cutmix-jax: `git clone")
  assert str(missing) in message
  # It says how to go on without the clone: a copy, another URL, a wheel.
  assert "unzip" in message and "CUTMIX_JAX_REPO" in message
  assert "cutmix_jax-0.3.0-py3-none-any.whl" in message
  assert not (tmp_path / "cutmix-jax" / "cutmix_jax").exists()


def test_install_cell_installs_the_clone_and_keeps_tensorflow(
    monkeypatch, tmp_path
):
  pytest.importorskip("tensorflow")  # as on Colab: TensorFlow is there
  # A clone of this repository's committed tree stands for GitHub's.
  namespace, recorder = _run_install_cell(monkeypatch, tmp_path, ROOT)
  clone = tmp_path / "cutmix-jax"
  assert namespace["checkout"] == clone.resolve()
  assert len(recorder.git) == 1 and len(recorder.pip) == 1
  packages = recorder.pip[0]
  assert packages[:2] == ["install", "-q"] and packages[2] == str(clone)
  names = [p.split(";")[0].split(">")[0].split("=")[0] for p in packages[3:]]
  assert "flax" in names and "tensorflow-datasets" in names
  assert "tensorflow" not in names and "tensorflow-cpu" not in names


def test_install_cell_requirements_without_tensorflow(monkeypatch, tmp_path):
  monkeypatch.chdir(ROOT)  # a checkout: the cell installs nothing
  namespace, recorder = _run_install_cell(monkeypatch, ROOT, tmp_path / "x")
  assert recorder.git == [] and recorder.pip == []
  requirements = namespace["requirements"]
  with_tf = requirements(ROOT, keep_tensorflow=False)
  without_tf = requirements(ROOT, keep_tensorflow=True)
  assert any(r.startswith("tensorflow-cpu") for r in with_tf)
  assert set(without_tf) == {
      r for r in with_tf if not r.startswith(("tensorflow-cpu", "tensorflow>"))
  }


def test_readme_links_the_notebook():
  readme = (ROOT / "README.md").read_text()
  assert BADGE_URL in readme and "colab-badge.svg" in readme


@pytest.mark.slow
def test_runs_without_errors(executed):
  for cell in executed.cells:
    for out in cell.get("outputs", []):
      assert (
          out.get("output_type") != "error"
      ), f"{out.get('ename')}: {out.get('evalue')} in\n{cell.source[:300]}"


@pytest.fixture(scope="module")
def facts(executed):
  text = _text(_cell(executed, "probe"))
  line = next(
      row for row in text.splitlines() if row.startswith("NOTEBOOK FACTS ")
  )
  return json.loads(line[len("NOTEBOOK FACTS ") :])


@pytest.mark.slow
def test_smoke_mode_and_devices(facts):
  assert facts["smoke"] is True and facts["devices"] >= 1


@pytest.mark.slow
@pytest.mark.parametrize("tag", FIGURE_TAGS)
def test_figures_rendered(executed, tag):
  pngs = _pngs(_cell(executed, tag))
  assert pngs, f"no image/png output in the cell tagged {tag!r}"
  for png in pngs:
    assert base64.b64decode(png).startswith(b"\x89PNG")


@pytest.mark.slow
def test_mode_grids_one_per_mode(executed):
  # The unmixed batch, then one grid for each of batch, elem and pair.
  assert len(_pngs(_cell(executed, "figure-modes"))) == 4


@pytest.mark.slow
def test_pixel_fraction_rows_are_consistent_with_their_boxes(facts):
  """Section 3's table: the pixels counted are the box's, the weight the fraction."""
  h, w = facts["image_size"]
  assert len(facts["pixel_rows"]) == 6
  for name, rows in facts["pixel_rows"].items():
    pasted = 0
    for i, partner, (y0, x0, y1, x1), pixels, fraction, weight in rows:
      area = max(y1 - y0, 0) * max(x1 - x0, 0) if partner != i else 0
      assert pixels == area, (name, i)
      assert fraction == pytest.approx(pixels / (h * w), abs=1e-12)
      assert weight == pytest.approx(fraction, abs=1e-6), (name, i)
      pasted += pixels > 0
    assert pasted > 0, f"{name}: nothing was pasted, the check checked nothing"


@pytest.mark.slow
def test_timing_table_measured_every_shape(facts):
  rows = facts["timing"]
  assert len(rows) == len(facts["timing_shapes"])
  for row, (b, h, w, c, dtype) in zip(rows, facts["timing_shapes"]):
    assert row["shape"] == f"{dtype}[{b}, {h}, {w}, {c}]"
    assert all(row[k] > 0 for k in ("floor", "batch", "elem"))


@pytest.mark.slow
def test_training_curves_come_from_both_runs(facts):
  runs = facts["runs"]
  assert set(runs) == {"cutmix", "none"}
  for method, run in runs.items():
    test_rows = [r for r in run["records"] if r["split"] == "test"]
    train_rows = [r for r in run["records"] if r["split"] == "train"]
    assert train_rows and test_rows, method
    # The curves end where the run ended, with the accuracy it reported.
    assert run["final"]["step"] == facts["train_steps"]
    assert test_rows[-1]["accuracy"] == pytest.approx(run["final"]["accuracy"])
    assert max(r["step"] for r in run["records"]) == facts["train_steps"]


@pytest.mark.slow
def test_own_train_step_trained_for_the_configured_steps(facts):
  own = facts["own_step"]
  assert own["steps"] == own["expected_steps"]
  assert math.isfinite(own["last_loss"]) and own["last_loss"] > 0


@pytest.mark.slow
def test_cam_cell_measures_both_models(facts):
  agreement = facts["cam_agreement"]
  assert set(agreement) == {"no mixing", "CutMix"}
  # Measured over mixed pairs of two classes, of which the draw has some; and
  # the numbers the cell shows are those of the two restored models.
  assert facts["cam_pairs"] > 0
  assert agreement == pytest.approx(facts["cam_recomputed"], abs=1e-6)


@pytest.mark.slow
def test_videomix_label_is_the_pasted_voxel_fraction(facts):
  t0, y0, x0, t1, y1, x1 = facts["clip_box"]
  _, frames, height, width, _ = facts["clip_shape"]
  fraction = (t1 - t0) * (y1 - y0) * (x1 - x0) / (frames * height * width)
  assert 0 < fraction < 1
  assert facts["clip_label"] == pytest.approx(
      [1 - fraction, fraction], abs=1e-6
  )


@pytest.mark.slow
def test_resizemix_rows_paste_the_resized_partner(facts):
  """The ResizeMix cell's check: own pixels outside, jax.image.resize inside."""
  h, w = facts["image_size"]
  rows = facts["resize_rows"]
  assert any(r["applied"] for r in rows), "nothing was resized: nothing checked"
  for i, r in enumerate(rows):
    y0, x0, y1, x1 = r["box"]
    assert r["own_kept"] and r["inside_diff"] == 0.0, (i, r)
    assert r["applied"] == (r["partner"] != i and (y1 - y0) * (x1 - x0) > 0)
    assert r["fraction"] == pytest.approx((y1 - y0) * (x1 - x0) / (h * w))
    assert r["lam"] == pytest.approx(1 - r["fraction"], abs=1e-6)


@pytest.mark.slow
def test_one_of_row_names_a_method_for_each_example(facts):
  methods = facts["one_of_methods"]
  assert len(methods) == len(facts["resize_rows"])
  assert set(methods) <= {"cutmix", "mixup", "resizemix", "nothing"}


@pytest.mark.slow
def test_transmix_weights_are_the_attention_share_of_own_tokens(facts):
  """The TransMix cell's weights, against the paper's formula in NumPy."""
  t = facts["transmix"]
  attention = np.asarray(t["attention"])
  patch, (h, w) = t["patch"], t["image_size"]
  rows, cols = np.arange(h // patch) * patch, np.arange(w // patch) * patch
  mixed_somewhere = False
  for i, (y0, x0, y1, x1) in enumerate(t["box"]):
    # A token is pasted when its top-left pixel is in the box.
    pasted = (
        ((rows >= y0) & (rows < y1))[:, None]
        & ((cols >= x0) & (cols < x1))[None, :]
    ).reshape(-1)
    if t["applied"][i]:
      # A patch-aligned box: every edge on the token grid.
      assert all(v % patch == 0 for v in (y0, x0, y1, x1)), t["box"][i]
      expected = attention[i][~pasted].sum() / attention[i].sum()
      mixed_somewhere |= 0 < expected < 1
    else:
      expected = 1.0
    assert t["weights"][i] == pytest.approx(expected, abs=1e-6), i
    # The soft labels use the TransMix weight, not the area.
    k, partner = t["labels"][i], t["partner"][i]
    soft = np.asarray(t["soft"][i])
    onehot = np.eye(len(soft))
    want = expected * onehot[k] + (1 - expected) * onehot[t["labels"][partner]]
    np.testing.assert_allclose(soft, want, atol=1e-6)
  assert mixed_somewhere
