"""The API site builds with warnings as errors and documents every public name.

`make docs` builds the same site. Warnings include a reference to a name that
has no page (the build is nitpicky), a docstring that is not valid
reStructuredText, and a README section the site includes that is gone.
"""

import html
import inspect
import json
import pathlib
import re
import subprocess
import sys

import pytest

import cutmix_jax

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _squash(text: str) -> str:
  """Text without whitespace, markup quotes or Sphinx's typographic quotes."""
  text = re.sub(r"[`*]", "", text)
  text = text.translate(str.maketrans("\u2018\u2019\u201c\u201d", "''\"\""))
  return re.sub(r"\s+", "", text)


def _text(page: pathlib.Path) -> str:
  """A page's text, squashed (tags dropped), to look phrases up in."""
  return _squash(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  out = tmp_path_factory.mktemp("docs")
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
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 0, proc.stderr[-5000:]
  return out / "html"


@pytest.mark.parametrize("name", cutmix_jax.__all__)
def test_every_public_name_has_its_page(site, name):
  page = site / "generated" / "api" / f"cutmix_jax.{name}.html"
  assert page.exists(), f"no API page for cutmix_jax.{name}"
  text = _text(page)
  assert f"cutmix_jax.{name}" in text
  # The page carries the docstring: its summary line, word for word.
  summary = inspect.getdoc(getattr(cutmix_jax, name)).splitlines()[0]
  assert _squash(summary) in text, (name, summary)


def test_the_api_index_lists_all_of_cutmix_jax_all(site):
  text = _text(site / "generated" / "api.html")
  for name in cutmix_jax.__all__:
    assert name in text


def test_signatures_read_as_users_write_them(site):
  text = _text(site / "generated" / "api" / "cutmix_jax.blend.html")
  assert "images:ArrayLike" in text
  assert "params:MixParams" in text
  assert "_src" not in text


def test_readme_sections_are_pages(site):
  readme = (ROOT / "README.md").read_text()
  assert "rand_bbox" in readme
  assert "rand_bbox" in _text(site / "generated" / "semantics.html")
  benchmarks = _text(site / "generated" / "benchmarks.html")
  assert "floor" in benchmarks
  # The scaling plot is copied from benchmarks/results/.
  assert (site / "_images" / "scaling.png").exists()
  quickstart = _text(site / "generated" / "quickstart.html")
  assert "jax.jit(functools.partial(cutmix_jax.cutmix," in quickstart


def test_the_notebook_is_rendered_as_committed(site):
  notebook = json.loads((ROOT / "colab" / "cutmix_jax_tpu.ipynb").read_text())
  text = _text(site / "generated" / "notebook.html")
  headings = [
      line.lstrip("# ").strip()
      for cell in notebook["cells"]
      if cell["cell_type"] == "markdown"
      for line in "".join(cell["source"]).splitlines()
      if line.startswith("#")
  ]
  assert headings
  for heading in headings:
    assert _squash(heading) in text, heading
