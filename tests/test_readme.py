"""The README's example runs as written."""

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
  return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_train_step_example_runs_and_prints_a_finite_loss():
  example = next(b for b in _python_blocks() if "def train_step" in b)
  result = subprocess.run([sys.executable, "-c", example], capture_output=True,
                          text=True, timeout=300, cwd=README.parent)
  assert result.returncode == 0, result.stderr[-3000:]
  loss = float(result.stdout.strip().splitlines()[-1])
  # Ten classes, a fresh linear model: the first loss is near log(10).
  assert 0.5 < loss < 10.0, loss
