"""Runs the Python blocks of the project's Markdown documents as written.

``python tests/doc_examples.py FILE...`` runs each file's fenced ```python
blocks in order, in one namespace per file, as a reader who pastes them one
after the other would: a block with ``>>>`` prompts is a doctest (its outputs
must match), any other block is run as a script, and a ``print(...)  # TEXT``
line must print a line that starts with TEXT (up to a colon, after which the
comment explains). It prints one JSON object: for each file, null when every
block ran as written, or the first failure.

tests/test_docs.py and tests/test_readme.py run it in a subprocess with four
CPU devices (``JAX_NUM_CPU_DEVICES=4``), so that the sharding examples shard.
"""

import contextlib
import doctest
import io
import json
import pathlib
import re
import sys
import traceback

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", flags=re.S | re.M)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def blocks(text: str, language: str = "python"):
  """``(line number, code)`` of each fenced block in that language."""
  for match in FENCE.finditer(text):
    if match.group(1) == language:
      yield text.count("\n", 0, match.start()) + 2, match.group(2)


def expected_prints(code: str) -> list[str]:
  """What each commented top-level print says it prints."""
  return [
      line.split("#", 1)[1].split(":", 1)[0].strip()
      for line in code.splitlines()
      if line.startswith("print(") and "#" in line
  ]


def run_block(name: str, line: int, code: str, namespace: dict) -> None:
  """Runs one block; raises AssertionError (or the block's error) on failure."""
  if ">>>" in code:
    test = doctest.DocTestParser().get_doctest(
        code, namespace, name, name, line - 1
    )
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=out.write, clear_globs=False)
    namespace.update(test.globs)  # the doctest ran in a copy
    if runner.failures:
      raise AssertionError(out.getvalue())
    return
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, f"{name}:{line}", "exec"), namespace)
  printed = out.getvalue().splitlines()
  sys.stdout.write(out.getvalue())
  position = 0
  for want in expected_prints(code):
    while position < len(printed) and not printed[position].startswith(want):
      position += 1
    if position == len(printed):
      raise AssertionError(
          f"{name}:{line}: no printed line starts with {want!r}; "
          f"printed: {printed}"
      )
    position += 1


def run_file(path: pathlib.Path) -> str | None:
  namespace = {"__name__": "__main__"}
  for line, code in blocks(path.read_text()):
    try:
      run_block(path.name, line, code, namespace)
    except BaseException:  # reported, not raised
      return f"{path}:{line}:\n{traceback.format_exc(limit=3)}"[-6000:]
  return None


if __name__ == "__main__":
  results = {name: run_file(pathlib.Path(name)) for name in sys.argv[1:]}
  print("DOC EXAMPLES " + json.dumps(results))
