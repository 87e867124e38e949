"""Sphinx configuration of the cutmix-jax API site (`make docs`).

Nothing here is written twice: the API pages list `cutmix_jax.__all__`, the
semantics, quick-start and benchmark pages are sections of README.md, and the
notebook is colab/cutmix_jax_tpu.ipynb, rendered without running it. They are
written into docs/generated/ (ignored by git) each time the site is built.
"""

import json
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "generated"
REPOSITORY = "https://github.com/cutmix-jax/cutmix-jax/blob/main"
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
from sphinx.util import typing as sphinx_typing  # noqa: E402

import cutmix_jax  # noqa: E402  (after the path: the checkout, not site-packages)

project = "cutmix-jax"
author = "cutmix-jax developers"
copyright = "the cutmix-jax developers"
release = cutmix_jax.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
]
exclude_patterns = ["_build"]
templates_path = ["_templates"]
default_role = "py:obj"  # `cutmix` in a docstring links to its page
# A reference that names no page of this site is an error (the test builds
# with -W), except for names of other libraries: there is no network for
# intersphinx here.
nitpicky = True
nitpick_ignore_regex = [
    ("py:.*", r"(jax|jaxlib|numpy|collections|functools|typing|optax)(\..*)?"),
    ("py:.*", r"checkify"),
]

autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

nb_execution_mode = "off"  # the notebook is shown as committed, never run
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

html_theme = "sphinx_book_theme"
html_title = f"cutmix-jax {release}"
html_theme_options = {
    "repository_url": REPOSITORY.rsplit("/blob/", 1)[0],
    "use_repository_button": True,
}


# --- Pages generated from the repository ------------------------------------

_HEADING = re.compile(r"^(#+) ")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)#\s]+)([^)\s]*)\)")


def _write(name: str, text: str) -> None:
  """Writes a generated page, leaving it untouched when nothing changed."""
  path = GENERATED / name
  path.parent.mkdir(parents=True, exist_ok=True)
  if not path.exists() or path.read_text() != text:
    path.write_text(text)


def _lines_outside_code(lines: list[str]):
  """Yields ``(index, line, in_code)`` with fenced code blocks marked."""
  fence = None
  for i, line in enumerate(lines):
    stripped = line.lstrip()
    if fence is None and stripped.startswith(("```", "~~~")):
      fence = stripped[:3]
      yield i, line, True
    elif fence is not None:
      if stripped.startswith(fence):
        fence = None
      yield i, line, True
    else:
      yield i, line, False


def readme_section(title: str) -> str:
  """README.md's ``## title`` section, its headings raised one level.

  Links and images that point into the repository are rewritten for a page in
  docs/generated/: images to the file itself, other files to the repository.
  """
  lines = (ROOT / "README.md").read_text().splitlines()
  start = end = None
  for i, line, in_code in _lines_outside_code(lines):
    if in_code or not line.startswith("## "):
      continue
    if start is not None:
      end = i
      break
    if line[3:].strip() == title:
      start = i
  if start is None:
    raise ValueError(f"README.md: no '## {title}' section for the docs.")
  out = []
  for _, line, in_code in _lines_outside_code(lines[start:end]):
    if not in_code:
      line = _HEADING.sub(lambda m: m.group(1)[1:] + " ", line)
      line = _LINK.sub(_relink, line)
    out.append(line)
  return "\n".join(out) + "\n"


def _relink(match: re.Match) -> str:
  bang, text, target, anchor = match.groups()
  if re.match(r"^[a-z]+:", target):
    return match.group(0)  # an absolute URL
  if bang:  # an image: Sphinx copies it from the checkout
    return f"{bang}[{text}](../../{target}{anchor})"
  return f"[{text}]({REPOSITORY}/{target}{anchor})"


def api_page() -> str:
  """Every name of ``cutmix_jax.__all__``, in that order, one page each."""
  names = "\n".join(f"   {name}" for name in cutmix_jax.__all__)
  return (
      "# API reference\n\n"
      "Everything below is importable as `cutmix_jax.NAME`; this list is\n"
      "`cutmix_jax.__all__`.\n\n"
      "```{eval-rst}\n"
      ".. currentmodule:: cutmix_jax\n\n"
      ".. autosummary::\n"
      "   :toctree: api\n"
      "   :nosignatures:\n\n"
      f"{names}\n"
      "```\n"
  )


def notebook() -> str:
  """The Colab notebook as committed, its cells highlighted as IPython.

  Its first cell runs shell and ``%pip`` lines, which only the IPython lexer
  reads; the committed file is not touched.
  """
  nb = json.loads((ROOT / "colab" / "cutmix_jax_tpu.ipynb").read_text())
  nb["metadata"].setdefault("language_info", {})["pygments_lexer"] = "ipython3"
  return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


_write("api.md", api_page())
_write("quickstart.md", readme_section("Quick start"))
_write("semantics.md", readme_section("Exact semantics"))
_write("benchmarks.md", readme_section("Benchmarks"))
_write("notebook.ipynb", notebook())


# --- Signatures as users write them ------------------------------------------

# Sphinx spells out the types it finds: jax.typing.ArrayLike becomes an
# eight-way union, and a public name its private module's path. These are put
# back as a user imports them.
_SHORT_NAMES = {
    sphinx_typing.stringify_annotation(jax.typing.ArrayLike, "smart"): (
        "~jax.typing.ArrayLike"
    ),
    f"~{jax.Array.__module__}.{jax.Array.__qualname__}": "~jax.Array",
}
for _name in cutmix_jax.__all__:
  _obj = getattr(cutmix_jax, _name)
  if isinstance(_obj, type):
    _SHORT_NAMES[f"~{_obj.__module__}.{_obj.__qualname__}"] = (
        f"~cutmix_jax.{_name}"
    )


def _shorten(text: str | None) -> str | None:
  if text:
    for long, short in _SHORT_NAMES.items():
      text = text.replace(long, short)
  return text


def _public_signature(
    app, what, name, obj, options, signature, return_annotation
):
  del app, what, name, obj, options
  return _shorten(signature), _shorten(return_annotation)


def _skip_tuple_fields(app, what, name, obj, skip, options):
  """A NamedTuple's fields are documented by its docstring's Attributes."""
  del app, what, name, options
  doc = getattr(obj, "__doc__", None) or ""
  return True if doc.startswith("Alias for field number") else skip


def setup(app):
  app.connect("autodoc-process-signature", _public_signature)
  app.connect("autodoc-skip-member", _skip_tuple_fields)
