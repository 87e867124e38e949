"""The Colab notebook runs top to bottom in smoke mode (CPU, offline, digits).

The notebook is executed once per session with nbclient, in a kernel that is
this interpreter (``sys.executable``, the project's ``.venv``), so it sees the
same packages as the tests whatever kernelspecs are installed. The tests then
read the executed cells by their tags.

Set ``CUTMIX_JAX_NOTEBOOK_OUT=DIR`` to keep the executed notebook and every
PNG it rendered in DIR, to look at them.
"""

import base64
import json
import math
import os
import pathlib
import sys
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "colab" / "cutmix_jax_tpu.ipynb"
KERNEL_NAME = "cutmix-jax-notebook-test"
BADGE_URL = (
    "https://colab.research.google.com/github/cutmix-jax/cutmix-jax/blob/main/"
    "colab/cutmix_jax_tpu.ipynb"
)
# Cells whose outputs must hold at least one PNG figure.
FIGURE_TAGS = (
    "figure-modes",
    "figure-mask",
    "figure-variants",
    "figure-curves",
    "figure-cam",
)
CELL_TIMEOUT_S = 600


def _kernel_manager(kernel_dir: pathlib.Path):
  """A kernel manager whose only kernelspec runs this very interpreter."""
  spec_dir = kernel_dir / KERNEL_NAME
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(
      json.dumps(
          {
              "argv": [
                  sys.executable,
                  "-m",
                  "ipykernel_launcher",
                  "-f",
                  "{connection_file}",
              ],
              "display_name": "cutmix-jax (test)",
              "language": "python",
          }
      )
  )
  ksm = jupyter_client.kernelspec.KernelSpecManager(
      kernel_dirs=[str(kernel_dir)]
  )
  return jupyter_client.manager.AsyncKernelManager(
      kernel_name=KERNEL_NAME, kernel_spec_manager=ksm
  )


def _kernel_env():
  env = dict(os.environ)
  env["CUTMIX_JAX_SMOKE"] = "1"
  # Inline figures (image/png outputs), whatever MPLBACKEND the caller set.
  env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
  env["JAX_PLATFORMS"] = "cpu"
  # One CPU device, as on a plain laptop. Compiling dominates a smoke run (dozens
  # of small programs, each run a few times), and unoptimised XLA code compiles
  # two to three times faster on two cores; section 4's timings mean nothing
  # on a CPU smoke run anyway.
  env["XLA_FLAGS"] = "--xla_backend_optimization_level=0"
  return env


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


# Appended to the notebook the test executes (never to the stored one): reads
# what the cells computed, in the kernel, and prints it as JSON for the tests
# below, which check it against what the cells claim to show.
_PROBE = """
import json as _json
_facts = {
    "smoke": SMOKE, "devices": jax.device_count(),
    "pixel_rows": {name: [list(row[:2]) + [list(row[2])] + list(row[3:])
                          for row in rows] for name, rows in results.items()},
    "image_size": [int(H), int(W)],
    "timing": timing_rows,
    "timing_shapes": [list(s) for s in TIMING_SHAPES],
    "runs": {m: {"final": {k: float(v) for k, v in r["final"].items()
                           if isinstance(v, (int, float))},
                 "records": r["records"]} for m, r in runs.items()},
    "train_steps": TRAIN_STEPS,
    "cam_agreement": {k: float(v) for k, v in agreement.items()},
    "own_step": {"steps": int(optimizer.step[...]), "last_loss": float(loss),
                 "expected_steps": OWN_STEP_STEPS},
    "clip_box": [int(v) for v in clip_params.box[0]],
    "clip_label": [float(v) for v in clip_labels[0]],
    "clip_shape": list(clips.shape),
}
print("NOTEBOOK FACTS " + _json.dumps(_facts))
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
  """The notebook after a full smoke-mode run (a cell error fails here)."""
  tmp = tmp_path_factory.mktemp("notebook")
  nb = nbformat.read(NOTEBOOK, as_version=4)
  probe = nbformat.v4.new_code_cell(_PROBE)
  probe.metadata["tags"] = ["probe"]
  nb.cells.append(probe)
  client = nbclient.NotebookClient(
      nb,
      km=_kernel_manager(tmp / "kernels"),
      timeout=CELL_TIMEOUT_S,
      allow_errors=False,
      resources={"metadata": {"path": str(ROOT)}},
  )
  start = time.perf_counter()
  try:
    # cleanup_kc: shut the kernel down at the end (nbclient keeps kernels it did not create).
    client.execute(env=_kernel_env(), cleanup_kc=True)
  finally:
    keep = os.environ.get("CUTMIX_JAX_NOTEBOOK_OUT")
    if keep:
      _save(nb, pathlib.Path(keep))
  print(f"notebook executed in {time.perf_counter() - start:.1f} s")
  return nb


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


def test_colab_badge_and_install_cell():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  assert nb.cells[0].cell_type == "markdown" and BADGE_URL in nb.cells[0].source
  install = _cell(nb, "install").source
  assert "https://github.com/cutmix-jax/cutmix-jax" in install
  assert "[notebook]" in install and "%cd" in install
  code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
  assert (
      "setup_tpu" not in code
  )  # Colab TPUs are TPU VMs: jax.devices() just works.


def test_readme_links_the_notebook():
  readme = (ROOT / "README.md").read_text()
  assert BADGE_URL in readme and "colab-badge.svg" in readme


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


def test_smoke_mode_and_devices(facts):
  assert facts["smoke"] is True and facts["devices"] >= 1


@pytest.mark.parametrize("tag", FIGURE_TAGS)
def test_figures_rendered(executed, tag):
  pngs = _pngs(_cell(executed, tag))
  assert pngs, f"no image/png output in the cell tagged {tag!r}"
  for png in pngs:
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_mode_grids_one_per_mode(executed):
  # The unmixed batch, then one grid for each of batch, elem and pair.
  assert len(_pngs(_cell(executed, "figure-modes"))) == 4


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


def test_timing_table_measured_every_shape(facts):
  rows = facts["timing"]
  assert len(rows) == len(facts["timing_shapes"])
  for row, (b, h, w, c, dtype) in zip(rows, facts["timing_shapes"]):
    assert row["shape"] == f"{dtype}[{b}, {h}, {w}, {c}]"
    assert all(row[k] > 0 for k in ("floor", "batch", "elem"))


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


def test_own_train_step_trained_for_the_configured_steps(facts):
  own = facts["own_step"]
  assert own["steps"] == own["expected_steps"]
  assert math.isfinite(own["last_loss"]) and own["last_loss"] > 0


def test_cam_cell_measures_both_models(facts):
  agreement = facts["cam_agreement"]
  assert set(agreement) == {"no mixing", "CutMix"}
  assert all(0.0 <= v <= 1.0 for v in agreement.values())


def test_videomix_label_is_the_pasted_voxel_fraction(facts):
  t0, y0, x0, t1, y1, x1 = facts["clip_box"]
  _, frames, height, width, _ = facts["clip_shape"]
  fraction = (t1 - t0) * (y1 - y0) * (x1 - x0) / (frames * height * width)
  assert 0 < fraction < 1
  assert facts["clip_label"] == pytest.approx(
      [1 - fraction, fraction], abs=1e-6
  )
