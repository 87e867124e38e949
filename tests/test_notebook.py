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
BADGE_URL = ("https://colab.research.google.com/github/cutmix-jax/cutmix-jax/blob/main/"
             "colab/cutmix_jax_tpu.ipynb")
# Cells whose outputs must hold at least one PNG figure.
FIGURE_TAGS = ("figure-modes", "figure-mask", "figure-variants", "figure-curves",
               "figure-cam")
CELL_TIMEOUT_S = 600


def _kernel_manager(kernel_dir: pathlib.Path):
  """A kernel manager whose only kernelspec runs this very interpreter."""
  spec_dir = kernel_dir / KERNEL_NAME
  spec_dir.mkdir(parents=True)
  (spec_dir / "kernel.json").write_text(json.dumps({
      "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
      "display_name": "cutmix-jax (test)",
      "language": "python",
  }))
  ksm = jupyter_client.kernelspec.KernelSpecManager(kernel_dirs=[str(kernel_dir)])
  return jupyter_client.manager.AsyncKernelManager(
      kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)


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
  return [out["data"]["image/png"] for out in cell.get("outputs", [])
          if "image/png" in out.get("data", {})]


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
  assert len(found) == 1, f"expected one cell tagged {tag!r}, found {len(found)}"
  return found[0]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
  """The notebook after a full smoke-mode run (a cell error fails here)."""
  tmp = tmp_path_factory.mktemp("notebook")
  nb = nbformat.read(NOTEBOOK, as_version=4)
  client = nbclient.NotebookClient(
      nb, km=_kernel_manager(tmp / "kernels"), timeout=CELL_TIMEOUT_S,
      allow_errors=False, resources={"metadata": {"path": str(ROOT)}})
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
      (out_dir / f"{index:02d}_{name}_{k}.png").write_bytes(base64.b64decode(png))


def test_stored_without_outputs():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(nb)
  for cell in nb.cells:
    if cell.cell_type == "code":
      assert cell.outputs == [] and cell.execution_count is None, (
          f"the stored notebook has outputs in:\n{cell.source[:200]}")


def test_colab_badge_and_install_cell():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  assert nb.cells[0].cell_type == "markdown" and BADGE_URL in nb.cells[0].source
  install = _cell(nb, "install").source
  assert "https://github.com/cutmix-jax/cutmix-jax" in install
  assert '[notebook]' in install and "%cd" in install
  code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
  assert "setup_tpu" not in code  # Colab TPUs are TPU VMs: jax.devices() just works.


def test_readme_links_the_notebook():
  readme = (ROOT / "README.md").read_text()
  assert BADGE_URL in readme and "colab-badge.svg" in readme


def test_runs_without_errors(executed):
  for cell in executed.cells:
    for out in cell.get("outputs", []):
      assert out.get("output_type") != "error", (
          f"{out.get('ename')}: {out.get('evalue')} in\n{cell.source[:300]}")


def test_smoke_mode_and_devices(executed):
  text = _text(_cell(executed, "devices"))
  assert "smoke mode: True" in text and "device(s)" in text


@pytest.mark.parametrize("tag", FIGURE_TAGS)
def test_figures_rendered(executed, tag):
  pngs = _pngs(_cell(executed, tag))
  assert pngs, f"no image/png output in the cell tagged {tag!r}"
  for png in pngs:
    assert base64.b64decode(png).startswith(b"\x89PNG")


def test_mode_grids_one_per_mode(executed):
  # The unmixed batch, then one grid for each of batch, elem and pair.
  assert len(_pngs(_cell(executed, "figure-modes"))) == 4


def test_pixel_fraction_check_passed(executed):
  text = _text(_cell(executed, "check-pixel-fraction"))
  assert "PIXEL FRACTION CHECK PASSED" in text, text[-2000:]


def test_timing_table(executed):
  text = _text(_cell(executed, "timing"))
  assert "floor ms" in text and "uint8[" in text, text


def test_training_curves_from_both_runs(executed):
  text = _text(_cell(executed, "figure-curves"))
  assert "CutMix" in text and "no mixing" in text and "test accuracy" in text, text


def test_own_train_step_ran(executed):
  text = _text(_cell(executed, "own-step"))
  assert "step    0" in text and "loss" in text, text


def test_cam_cell_measures_both_models(executed):
  text = _text(_cell(executed, "figure-cam"))
  assert "no mixing" in text and "CutMix" in text and "CAM region agreement" in text, text
