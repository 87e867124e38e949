"""The README's examples run as written, and compute what they say."""

import math
import pathlib
import re
import subprocess
import sys
import textwrap

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


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


def test_train_step_example_prints_the_loss_of_the_mixed_batch():
  example = next(b for b in _python_blocks() if "def train_step" in b)
  script = f"EXAMPLE = {example!r}\n" + _CHECK
  result = subprocess.run(
      [sys.executable, "-c", script],
      capture_output=True,
      text=True,
      timeout=300,
      cwd=README.parent,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert "README EXAMPLE OK" in result.stdout


def test_loss_form_example_runs_and_gives_log_k_for_zero_logits():
  example = next(b for b in _python_blocks() if "mixed_cross_entropy" in b)
  result = subprocess.run(
      [sys.executable, "-c", example],
      capture_output=True,
      text=True,
      timeout=300,
      cwd=README.parent,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  # Zero logits give every class probability 1/K: the cross-entropy of any
  # label distribution, mixed and smoothed or not, is log K.
  loss = float(result.stdout.strip().splitlines()[-1])
  assert abs(loss - math.log(21_841)) < 1e-4, loss
