"""The documentation: its examples run as written, and the site builds.

The site builds with warnings as errors (a reference to a name without a page
is one: the build is nitpicky), from the pages in docs/, the docstrings and
the Colab notebook executed in smoke mode (the same executed copy the notebook
tests read). `make docs` builds the same site.
"""

import html
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import cutmix_jax
from cutmix_jax import boxes
import notebook_runner
from test_notebook import shared_dir

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").rglob("*.md"))
PAGES = [
    p for p in PAGES if "_build" not in p.parts and "generated" not in p.parts
]
FUNCTIONS = [n for n in cutmix_jax.__all__ if n != "boxes"]


def _squash(text: str) -> str:
  """Text without whitespace, markup quotes or Sphinx's typographic quotes."""
  text = re.sub(r"[`*]", "", text)
  text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
  return re.sub(r"\s+", "", text)


def _text(page: pathlib.Path) -> str:
  """A page's text, squashed (tags dropped), to look phrases up in."""
  return _squash(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())))


def run_examples(files) -> dict:
  """tests/doc_examples.py over the files, with four CPU devices."""
  env = dict(os.environ, JAX_NUM_CPU_DEVICES="4", JAX_PLATFORMS="cpu")
  proc = subprocess.run(
      [
          sys.executable,
          str(ROOT / "tests" / "doc_examples.py"),
          *map(str, files),
      ],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )
  line = [
      row for row in proc.stdout.splitlines() if row.startswith("DOC EXAMPLES ")
  ]
  assert line, proc.stderr[-5000:]
  return json.loads(line[-1][len("DOC EXAMPLES ") :])


@pytest.fixture(scope="module")
def examples():
  return run_examples(PAGES)


# Each module fixture (the examples run, the site build) is made once per
# pytest process: its tests share one xdist group, so one worker makes it.
_EXAMPLES = pytest.mark.xdist_group("docs-examples")
_SITE = pytest.mark.xdist_group("docs-site")


@pytest.mark.slow
@_EXAMPLES
@pytest.mark.parametrize(
    "page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_page_examples_run_as_written(examples, page):
  assert examples[str(page)] is None, examples[str(page)]


def test_pages_have_examples_and_no_slices_of_the_readme():
  conf = (ROOT / "docs" / "conf.py").read_text()
  assert "README" not in conf
  with_code = [p for p in PAGES if "```python" in p.read_text()]
  assert len(with_code) >= 10, with_code


def test_no_0_2_wording_in_the_docs():
  for page in PAGES + [ROOT / "README.md"]:
    text = page.read_text()
    for old in (
        "before 0.2",
        "return_params=True",
        "spatial_axes",
        "center_std=",
    ):
      assert old not in text, (page, old)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  code, log, executed = notebook_runner.executed_once(
      shared_dir(tmp_path_factory)
  )
  assert (
      code == 0
  ), f"the notebook failed, the site has no notebook page:\n{log[-5000:]}"
  out = tmp_path_factory.mktemp("docs")
  env = dict(os.environ, CUTMIX_JAX_EXECUTED_NOTEBOOK=str(executed))
  proc = subprocess.run(
      [
          sys.executable,
          "-m",
          "sphinx",
          "-W",
          "--keep-going",
          "-q",
          "-b",
          "html",
          "-d",
          str(out / "doctrees"),
          str(ROOT / "docs"),
          str(out / "html"),
      ],
      cwd=ROOT,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-5000:]
  return out / "html"


@pytest.mark.slow
@_SITE
@pytest.mark.parametrize(
    "name", FUNCTIONS + [f"boxes.{n}" for n in boxes.__all__]
)
def test_every_public_name_has_its_page(site, name):
  page = site / "generated" / "api" / f"cutmix_jax.{name}.html"
  assert page.exists(), f"no API page for cutmix_jax.{name}"
  text = _text(page)
  assert f"cutmix_jax.{name}" in text
  obj = cutmix_jax
  for part in name.split("."):
    obj = getattr(obj, part)
  # The page carries the docstring: its summary line, word for word.
  summary = inspect.getdoc(obj).splitlines()[0]
  assert _squash(summary) in text, (name, summary)


@pytest.mark.slow
@_SITE
def test_signatures_read_as_users_write_them(site):
  text = _text(site / "generated" / "api" / "cutmix_jax.blend.html")
  assert "images:ArrayLike" in text
  assert "params:MixParams" in text
  assert "_src" not in text


@pytest.mark.slow
@_SITE
def test_the_notebook_page_shows_its_outputs(site):
  page = site / "generated" / "notebook.html"
  notebook = json.loads((ROOT / "colab" / "cutmix_jax_tpu.ipynb").read_text())
  text = _text(page)
  headings = [
      line.lstrip("# ").strip()
      for cell in notebook["cells"]
      if cell["cell_type"] == "markdown"
      for line in "".join(cell["source"]).splitlines()
      if line.startswith("#")
  ]
  for heading in headings:
    assert _squash(heading) in text, heading
  # The pictures the cells drew, and what they printed.
  assert len(re.findall(r"<img[^>]+\.png", page.read_text())) >= 5
  assert "PIXELFRACTIONCHECKPASSED" in text
  assert "NOTEBOOKFACTS" not in text  # the tests' probe is not shown


@pytest.mark.slow
@_SITE
def test_the_benchmarks_page_is_the_results_files(site):
  text = _text(site / "benchmarks.html")
  for name in ("latest.md", "train_step/latest.md"):
    results = (ROOT / "benchmarks" / "results" / name).read_text()
    first_row = next(r for r in results.splitlines() if r.startswith("| "))
    assert _squash(first_row.replace("|", " ")) in text.replace("|", ""), name
  assert (site / "_images" / "scaling.png").exists()


@pytest.mark.slow
@_SITE
def test_the_study_page_holds_the_study_report(site):
  text = _text(site / "study.html")
  assert "94.12+-1.10" in text and "sigtest" not in text
  assert "makestudy" in text
