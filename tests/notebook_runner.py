"""Executes the Colab notebook in smoke mode and writes the executed copy.

``python tests/notebook_runner.py OUT_DIR`` runs ``colab/cutmix_jax_tpu.ipynb``
top to bottom with nbclient, in a kernel that is this interpreter
(``sys.executable``, the project's ``.venv``), with a probe cell appended that
prints what the cells computed, and writes ``OUT_DIR/executed.ipynb``. A cell
error exits non-zero with the error on stderr.

The docs build (docs/conf.py) executes the notebook with `execute` too, without
the probe. In a test session `executed_once` runs it once for every pytest
process (xdist workers included): tests/test_notebook.py reads the cells, and
tests/test_docs.py builds the site from the same executed copy.
"""

import fcntl
import json
import os
import pathlib
import subprocess
import sys
import time

import jupyter_client
import nbclient
import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "colab" / "cutmix_jax_tpu.ipynb"
KERNEL_NAME = "cutmix-jax-notebook-test"
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
  # of small programs, each run a few times): conftest's compile-speed flags
  # compile them two to three times faster on two cores; section 4's timings
  # mean nothing on a CPU smoke run anyway.
  env["XLA_FLAGS"] = (
      "--xla_backend_optimization_level=0"
      " --xla_llvm_disable_expensive_passes=true"
      " --xla_cpu_use_fusion_emitters=false"
  )
  return env


# Appended to the notebook the test executes (never to the stored one): reads
# what the cells computed, in the kernel, and prints it as JSON for the tests
# below, which check it against what the cells claim to show.
_PROBE = """
import json as _json
_cam_images = data.test_images[:CAM_IMAGES]
_cam_labels = data.test_labels[:CAM_IMAGES]
_mixed, _mix = cam.mix_for_display(jax.random.key(SEED), _cam_images,
                                   _cam_labels, num_classes=NUM_CLASSES)
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
    # The same measure taken again here, from the restored models and the
    # same draw: what the figure reports is what these models score.
    "cam_recomputed": {
        name: cam.mixed_agreement(model, _mixed, _cam_labels, _mix,
                                  mean=data.mean, std=data.std)
        for name, model in cam_models.items()},
    "cam_pairs": int((np.asarray(_mix.applied) & (
        _cam_labels[np.asarray(_mix.partner)] != _cam_labels)).sum()),
    "own_step": {"steps": int(optimizer.step[...]), "last_loss": float(loss),
                 "expected_steps": OWN_STEP_STEPS},
    "clip_box": [int(v) for v in clip_params.box[0]],
    "clip_label": [float(v) for v in clip_labels[0]],
    "clip_shape": list(clips.shape),
    "resize_rows": resize_rows,
    "one_of_methods": [method_of(method_draws["one_of"][2], i)
                       for i in range(len(images))],
    "transmix": {
        "attention": np.asarray(attention, np.float64).tolist(),
        "box": np.asarray(params_vit.box).tolist(),
        "lam": np.asarray(params_vit.lam, np.float64).tolist(),
        "applied": np.asarray(params_vit.applied).tolist(),
        "weights": np.asarray(transmix, np.float64).tolist(),
        "soft": np.asarray(soft_transmix, np.float64).tolist(),
        "labels": np.asarray(labels).tolist(),
        "partner": np.asarray(params_vit.partner).tolist(),
        "patch": PATCH,
        "image_size": [int(H), int(W)],
    },
}
print("NOTEBOOK FACTS " + _json.dumps(_facts))
"""


def execute(out_dir: pathlib.Path, probe: bool = True) -> None:
  """Runs the notebook (the probe appended if asked); writes ``executed.ipynb``."""
  nb = nbformat.read(NOTEBOOK, as_version=4)
  if probe:
    cell = nbformat.v4.new_code_cell(_PROBE)
    cell.metadata["tags"] = ["probe"]
    nb.cells.append(cell)
  client = nbclient.NotebookClient(
      nb,
      km=_kernel_manager(out_dir / "kernels"),
      timeout=CELL_TIMEOUT_S,
      allow_errors=False,
      resources={"metadata": {"path": str(ROOT)}},
  )
  start = time.perf_counter()
  try:
    # cleanup_kc: shut the kernel down at the end (nbclient keeps kernels it
    # did not create).
    client.execute(env=_kernel_env(), cleanup_kc=True)
  finally:
    nbformat.write(nb, str(out_dir / "executed.ipynb"))
  print(f"notebook executed in {time.perf_counter() - start:.1f} s")


def executed_once(shared_dir: pathlib.Path, timeout: float = 900) -> tuple:
  """``(returncode, log, path of executed.ipynb)``, run once per shared_dir.

  The first caller runs this file in a subprocess (a clean interpreter, so the
  test process's XLA flags and devices do not leak in) while holding a lock;
  later callers, in this process or another, wait for the lock and read the
  result it left.
  """
  shared_dir.mkdir(parents=True, exist_ok=True)
  done = shared_dir / "result.json"
  with open(shared_dir / "lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not done.exists():
      start = time.perf_counter()
      try:
        proc = subprocess.run(
            [sys.executable, __file__, str(shared_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
        code, log = proc.returncode, proc.stdout + proc.stderr
      except subprocess.TimeoutExpired as e:
        code, log = -1, f"timed out after {timeout} s: {e}"
      log += f"\n(notebook run: {time.perf_counter() - start:.1f} s)"
      done.write_text(json.dumps({"returncode": code, "log": log}))
    result = json.loads(done.read_text())
  return result["returncode"], result["log"], shared_dir / "executed.ipynb"


if __name__ == "__main__":
  execute(pathlib.Path(sys.argv[1]))
