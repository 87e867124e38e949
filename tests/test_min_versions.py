"""`make test-min`: its pins follow pyproject.toml, its test list is complete.

`make test-min` runs the library's tests (the Makefile's ``LIBRARY_TESTS``) on
the lowest versions pyproject.toml declares. A test file that needs only the
library must be on that list, or the floors would go untested for it; a listed
file that needs more would fail there on its imports.
"""

import ast
import pathlib
import re
import sys

import pytest

from tools import min_requirements

ROOT = pathlib.Path(__file__).resolve().parent.parent
# What the library's tests may import besides the standard library: the core
# dependencies and the `test` extra, which `make test-min` installs.
LIBRARY_STACK = {
    "cutmix_jax",
    "jax",
    "numpy",
    "scipy",
    "chex",
    "optax",
    "pytest",
}


def library_tests_in_makefile() -> list[str]:
  """The Makefile's ``LIBRARY_TESTS``, continuation lines joined."""
  text = (ROOT / "Makefile").read_text()
  match = re.search(r"^LIBRARY_TESTS :=((?:.*\\\n)*.*)$", text, flags=re.M)
  assert match, "Makefile: no LIBRARY_TESTS := ... list"
  return match.group(1).replace("\\\n", " ").split()


def imported_modules(source: str) -> set[str]:
  """Top-level names of every module the source imports, anywhere in it.

  ``pytest.importorskip("x")`` counts as importing ``x``.
  """
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(alias.name.split(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      names.add(node.module.split(".")[0])
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "importorskip"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
      names.add(str(node.args[0].value).split(".")[0])
  return names


def imports_only_the_stack(source: str, local_modules: set[str]) -> bool:
  """Whether a test imports nothing beyond the library's stack."""
  outside = imported_modules(source) - set(sys.stdlib_module_names)
  return outside - local_modules <= LIBRARY_STACK


def starts_a_program(source: str) -> bool:
  """Whether a test runs another program, which may need more than it imports.

  The README example, the benchmarks and the docs build import flax, keras or
  sphinx in their own process; a test that starts one can only be judged by
  running it, which `make test-min` does for the listed ones.
  """
  return "subprocess" in imported_modules(source)


def _local_modules() -> set[str]:
  """tests/'s own helper modules (conftest), which may import only the stack."""
  return {
      path.stem
      for path in (ROOT / "tests").glob("*.py")
      if not path.name.startswith("test_")
  }


def test_library_tests_are_all_listed_and_need_nothing_more():
  listed = set(library_tests_in_makefile())
  local = _local_modules()
  sources = {
      f"tests/{path.name}": path.read_text()
      for path in sorted((ROOT / "tests").glob("test_*.py"))
  }
  stack_only = {
      name
      for name, source in sources.items()
      if imports_only_the_stack(source, local)
  }
  must_list = {
      name for name in stack_only if not starts_a_program(sources[name])
  }
  assert (
      must_list - listed == set()
  ), "add these to LIBRARY_TESTS in the Makefile (they need only the library)"
  listed_files = {name for name in listed if name.endswith(".py")}
  assert (
      listed_files - stack_only == set()
  ), "these import more than the library: take them off LIBRARY_TESTS"
  assert "cutmix_jax" in listed  # the doctests
  assert (ROOT / "tests" / "conftest.py").exists()
  conftest = (ROOT / "tests" / "conftest.py").read_text()
  assert imported_modules(conftest) - set(sys.stdlib_module_names) <= (
      LIBRARY_STACK
  )


def test_the_classifier_tells_library_tests_from_the_others():
  assert imports_only_the_stack("import jax\nfrom scipy import stats", set())
  assert imports_only_the_stack("import os, json, subprocess", set())
  assert imports_only_the_stack("from conftest import x", {"conftest"})
  assert not imports_only_the_stack("from conftest import x", set())
  assert not imports_only_the_stack("def f():\n  from flax import nnx", set())
  assert not imports_only_the_stack('pytest.importorskip("keras")', set())
  assert starts_a_program("def f():\n  import subprocess")
  assert not starts_a_program("import jax")


def test_pins_are_the_declared_floors():
  requires = [
      "jax>=0.7.1",
      "numpy>=1.26",
      "flax>=0.12; extra == 'train'",
      "tensorflow-cpu>=2.16; platform_system != 'Darwin' and extra == 'train'",
      "pytest>=8; extra == 'test'",
      "scipy>=1.11; extra == 'test'",
  ]
  assert min_requirements.pin_floors(requires) == [
      "jax==0.7.1",
      "jaxlib==0.7.1",
      "numpy==1.26",
      "pytest>=8",
      "scipy>=1.11",
  ]


@pytest.mark.parametrize("requirement", ["jax", "jax>=0.6,>=0.7", "jax<1"])
def test_a_core_requirement_without_one_floor_is_an_error(requirement):
  with pytest.raises(ValueError, match="expected one '>=' floor on jax"):
    min_requirements.pin_floors([requirement])
