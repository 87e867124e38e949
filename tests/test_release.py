"""Release checks: the sdist and the wheel build, and the wheel works alone.

The wheel is installed into a new virtual environment with its core
dependencies only (what ``pip install cutmix-jax`` gives a user); there it must
import without the training stack and run the README's quick start. pip's
cache makes a second run fast; every step has a time limit.
"""

import email
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import zipfile

import pytest

import cutmix_jax

# Whole programs (build, venv, pip): `make test-lib` leaves them out; one
# worker builds the wheel once for the module (pytest-xdist --dist loadfile).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("release")]
ROOT = pathlib.Path(__file__).resolve().parent.parent
# What `train/`, the notebook and the benchmarks use, and a library must not.
TRAINING_STACK = (
    "flax",
    "optax",
    "orbax",
    "tensorflow",
    "tensorflow_datasets",
    "keras",
    "torch",
    "sklearn",
    "matplotlib",
)


def _run(command, *, timeout, cwd):
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
  proc = subprocess.run(
      [str(c) for c in command],
      cwd=cwd,
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
  )
  assert (
      proc.returncode == 0
  ), f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
  return proc.stdout


@pytest.fixture(scope="session")
def dists(tmp_path_factory):
  """The sdist, and the wheel built from it (`python -m build`'s default)."""
  out = tmp_path_factory.mktemp("dist")
  _run(
      [sys.executable, "-m", "build", "--outdir", out, ROOT],
      timeout=600,
      cwd=out,
  )
  sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
  assert len(sdists) == 1 and len(wheels) == 1, sorted(out.iterdir())
  return sdists[0], wheels[0]


@pytest.fixture(scope="session")
def fresh_python(tmp_path_factory, dists):
  """A new virtual environment's python, with the wheel and nothing more."""
  env_dir = tmp_path_factory.mktemp("venv")
  # Without a pip of its own (seconds saved): this pip installs into it.
  _run(
      [sys.executable, "-m", "venv", "--without-pip", env_dir],
      timeout=300,
      cwd=env_dir,
  )
  python = env_dir / "bin" / "python"
  _pip(python, "install", dists[1], timeout=600)
  return python


def _pip(python, *args, timeout):
  """This environment's pip, acting on ``python``'s environment."""
  return _run(
      [sys.executable, "-m", "pip", "--python", python, *args],
      timeout=timeout,
      cwd=python.parent,
  )


def quick_start() -> str:
  """The README's library example: the first Python block of 'Quick start'."""
  readme = (ROOT / "README.md").read_text()
  section = re.search(r"^## Quick start\n(.*?)^## ", readme, flags=re.S | re.M)
  assert section, "README.md: no '## Quick start' section"
  block = re.search(r"```python\n(.*?)```", section.group(1), flags=re.S)
  assert block, "README.md: no python block under '## Quick start'"
  return block.group(1)


def test_the_wheel_holds_the_package_and_its_metadata(dists):
  _, wheel = dists
  version = cutmix_jax.__version__
  assert wheel.name.startswith(f"cutmix_jax-{version}-py3-none-any")
  with zipfile.ZipFile(wheel) as zf:
    names = set(zf.namelist())
    info = f"cutmix_jax-{version}.dist-info"
    metadata = email.message_from_bytes(zf.read(f"{info}/METADATA"))
  sources = {
      p.relative_to(ROOT).as_posix()
      for p in (ROOT / "cutmix_jax").rglob("*.py")
  }
  assert sources <= names, sources - names
  assert "cutmix_jax/py.typed" in names
  assert f"{info}/licenses/LICENSE" in names
  # Only the library: no trainer, tests or benchmarks.
  assert {n.split("/")[0] for n in names} == {"cutmix_jax", info}
  assert metadata["Version"] == version
  assert metadata["License-Expression"] == "Apache-2.0"
  core = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
  assert sorted(re.split(r"[<>=!~ ;]", r)[0] for r in core) == [
      "jax",
      "numpy",
  ]


def test_the_sdist_holds_what_the_wheel_is_built_from(dists):
  sdist, _ = dists
  top = f"cutmix_jax-{cutmix_jax.__version__}"
  with tarfile.open(sdist) as tf:
    names = set(tf.getnames())
  for name in (
      "LICENSE",
      "README.md",
      "pyproject.toml",
      "cutmix_jax/__init__.py",
      "cutmix_jax/py.typed",
  ):
    assert f"{top}/{name}" in names, name


def test_the_wheel_imports_without_the_training_stack(fresh_python, tmp_path):
  check = (
      "import importlib.metadata, json, sys\n"
      "import cutmix_jax\n"
      "print(json.dumps({\n"
      "    'file': cutmix_jax.__file__,\n"
      "    'version': cutmix_jax.__version__,\n"
      "    'metadata': importlib.metadata.version('cutmix-jax'),\n"
      "    'missing': [n for n in cutmix_jax.__all__\n"
      "                if not hasattr(cutmix_jax, n)],\n"
      f"    'stack': [m for m in {TRAINING_STACK!r} if m in sys.modules],\n"
      "}))\n"
  )
  # Run from an empty folder, so the checkout cannot be imported instead.
  report = json.loads(
      _run([fresh_python, "-c", check], timeout=300, cwd=tmp_path)
  )
  assert pathlib.Path(report["file"]).is_relative_to(
      fresh_python.parent.parent
  ), report["file"]
  assert report["version"] == report["metadata"] == cutmix_jax.__version__
  assert report["missing"] == []
  assert report["stack"] == []
  # Nor was any of it installed alongside.
  listed = json.loads(_pip(fresh_python, "list", "--format=json", timeout=300))
  installed = {p["name"].lower().replace("_", "-") for p in listed}
  assert {"jax", "jaxlib", "numpy", "cutmix-jax"} <= installed
  assert not installed & {
      "flax",
      "optax",
      "orbax-checkpoint",
      "tensorflow",
      "tensorflow-cpu",
      "keras",
      "torch",
      "chex",
      "scikit-learn",
      "matplotlib",
  }


def test_the_readme_quick_start_runs_on_the_wheel(fresh_python, tmp_path):
  """It prints what its comments say: each print's comment up to any colon."""
  example = quick_start()
  expected = [
      line.split("#", 1)[1].split(":", 1)[0].strip()
      for line in example.splitlines()
      if line.startswith("print(") and "#" in line
  ]
  assert len(expected) >= 2, expected
  code = example + (
      "\nimport sys\n"
      f"print([m for m in {TRAINING_STACK!r} if m in sys.modules])\n"
  )
  lines = _run(
      [fresh_python, "-c", code], timeout=300, cwd=tmp_path
  ).splitlines()
  assert lines[-1] == "[]", lines  # no training stack loaded by the example
  assert lines[:-1] == expected
