"""Sphinx configuration of the cutmix-jax documentation (`make docs`).

The pages are written in docs/ (MyST Markdown). Three things are generated
into docs/generated/ (ignored by git) each time the site is built:

- the API pages, by autosummary, from the docstrings;
- the notebook page: colab/cutmix_jax_tpu.ipynb executed in smoke mode (CPU,
  offline, tiny sizes; tests/notebook_runner.py), so that its pictures show.
  The executed copy is reused while the notebook is unchanged. The tests hand
  over a copy they executed already through CUTMIX_JAX_EXECUTED_NOTEBOOK;
- nothing else: the benchmark and study pages include the result files of the
  repository as they are.
"""

import hashlib
import importlib.util
import json
import os
import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
GENERATED = DOCS / "generated"
NOTEBOOK = ROOT / "colab" / "cutmix_jax_tpu.ipynb"
REPOSITORY = "https://github.com/cutmix-jax/cutmix-jax"
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
exclude_patterns = ["_build", "jupyter_execute"]
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

# The notebook is executed before the build (below), never by myst-nb.
nb_execution_mode = "off"
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath", "deflist"]

html_theme = "sphinx_book_theme"
html_title = f"cutmix-jax {release}"
html_theme_options = {
    "repository_url": REPOSITORY,
    "use_repository_button": True,
}


# --- The notebook, executed -------------------------------------------------


def _runner():
  """tests/notebook_runner.py, the one way the notebook is executed."""
  path = ROOT / "tests" / "notebook_runner.py"
  spec = importlib.util.spec_from_file_location("notebook_runner", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _fingerprint() -> str:
  """Changes when the notebook or what it runs may have changed."""
  digest = hashlib.sha256(NOTEBOOK.read_bytes())
  for package in ("cutmix_jax", "train", "experiments"):
    for path in sorted((ROOT / package).rglob("*.py")):
      digest.update(path.read_bytes())
  return digest.hexdigest()


def executed_notebook() -> None:
  """Writes generated/notebook.ipynb: the notebook with its outputs."""
  target = GENERATED / "notebook.ipynb"
  fingerprint = _fingerprint()
  given = os.environ.get("CUTMIX_JAX_EXECUTED_NOTEBOOK")
  if given:
    nb = json.loads(pathlib.Path(given).read_text())
  elif target.exists() and (
      json.loads(target.read_text())["metadata"].get("cutmix_jax_fingerprint")
      == fingerprint
  ):
    return  # executed already, and nothing it runs has changed
  else:
    out = GENERATED / "notebook_run"
    out.mkdir(parents=True, exist_ok=True)
    _runner().execute(out, probe=False)
    nb = json.loads((out / "executed.ipynb").read_text())
  # The tests' probe cell reads facts out of the kernel: not for readers.
  nb["cells"] = [
      c
      for c in nb["cells"]
      if "probe" not in c.get("metadata", {}).get("tags", [])
  ]
  # The install cell runs shell and %pip lines, which only IPython's lexer
  # reads; the committed notebook is not touched.
  nb["metadata"].setdefault("language_info", {})["pygments_lexer"] = "ipython3"
  nb["metadata"]["cutmix_jax_fingerprint"] = fingerprint
  GENERATED.mkdir(parents=True, exist_ok=True)
  target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


executed_notebook()


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


def _public_reference(app, env, node, contnode):
  """`cutmix` in a docstring of cutmix_jax.boxes names cutmix_jax.cutmix."""
  target = node.get("reftarget", "")
  if node.get("refdomain") != "py" or target not in cutmix_jax.__all__:
    return None
  return env.get_domain("py").resolve_xref(
      env,
      node["refdoc"],
      app.builder,
      node["reftype"],
      f"cutmix_jax.{target}",
      node,
      contnode,
  )


def setup(app):
  app.connect("missing-reference", _public_reference)
  app.connect("autodoc-process-signature", _public_signature)
  app.connect("autodoc-skip-member", _skip_tuple_fields)
