"""A previous revision of the library, imported beside the current one.

``python -m benchmarks --baseline=REV`` measures the library as it was at a
git revision in the same process as the current one, interleaved, so that a
change is judged by paired ratios on the same machine noise rather than by
two runs an hour apart. The revision's ``cutmix_jax/`` is read with
``git archive`` (the repository is only read), written to a temporary
directory as a package of another name (``cutmix_jax_<sha>``, its absolute
``cutmix_jax`` imports rewritten) and imported from there.

Only `cutmix`, `mixup` and `mixup_or_cutmix` should be called on it: their
call signatures have not changed between 0.1 and 0.2, while the sampling and
geometry helpers have (0.1's ``sample_cutmix_params(rng, B, H, W, ...)``).
"""

import atexit
import dataclasses
import importlib
import io
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types

PACKAGE = "cutmix_jax"
ROOT = pathlib.Path(__file__).resolve().parent.parent

# `from cutmix_jax... import` and `import cutmix_jax...` statements, at any
# indentation (lazy imports too); docstring examples (`>>> import`) are left
# alone, they never run.
_IMPORT = re.compile(
    rf"^(\s*)(from|import)(\s+){PACKAGE}(?=[.\s]|$)", re.MULTILINE
)


class BaselineError(RuntimeError):
  """The baseline revision cannot be read or imported; the message says why."""


@dataclasses.dataclass(frozen=True)
class Baseline:
  """An imported previous revision of the library.

  Attributes:
    revision: what was asked for (``d9d76eb``, ``HEAD~3``, a tag).
    sha: the full commit hash it resolved to.
    label: the short name the tables print, ``[d9d76eb]``.
    subject: the commit's subject line.
    module: the imported package (``cutmix_jax_<sha>``).
  """

  revision: str
  sha: str
  label: str
  subject: str
  module: types.ModuleType

  def describe(self) -> dict:
    """JSON-able: what was measured as the baseline."""
    return {
        "revision": self.revision,
        "sha": self.sha,
        "label": self.label,
        "subject": self.subject,
        "package": self.module.__name__,
        "path": str(pathlib.Path(self.module.__file__).parent),
    }


def _git(repo: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
  try:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
  except FileNotFoundError as e:
    raise BaselineError("--baseline needs git, which is not installed") from e
  except subprocess.TimeoutExpired as e:
    raise BaselineError(f"git {args[0]} did not answer within 60 s") from e


def resolve(revision: str, repo: pathlib.Path = ROOT) -> tuple[str, str]:
  """The full commit hash and subject of ``revision`` in ``repo``.

  Raises:
    BaselineError: no git, no repository with history, or no such revision.
  """
  inside = _git(repo, "rev-parse", "--is-inside-work-tree")
  if inside.returncode != 0:
    raise BaselineError(
        f"--baseline needs a git repository with history; {repo} is not one "
        f"({inside.stderr.decode(errors='replace').strip()})"
    )
  found = _git(
      repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"
  )
  if found.returncode != 0:
    shallow = _git(repo, "rev-parse", "--is-shallow-repository")
    hint = (
        " (this clone is shallow: fetch its history with "
        "`git fetch --unshallow`)"
        if shallow.stdout.decode().strip() == "true"
        else ""
    )
    raise BaselineError(
        f"--baseline: revision {revision!r} is not a commit of the repository "
        f"at {repo}{hint}"
    )
  sha = found.stdout.decode().strip()
  subject = _git(repo, "log", "-1", "--format=%s", sha).stdout.decode().strip()
  return sha, subject


def _rename_imports(source: str, package: str) -> str:
  return _IMPORT.sub(rf"\1\2\3{package}", source)


def extract(
    sha: str, directory: pathlib.Path, package: str, repo: pathlib.Path = ROOT
) -> pathlib.Path:
  """Writes ``cutmix_jax/`` at ``sha`` to ``directory/package``, imports renamed.

  Returns:
    The package directory.

  Raises:
    BaselineError: the revision has no ``cutmix_jax/`` or git fails.
  """
  archive = _git(repo, "archive", "--format=tar", sha, PACKAGE)
  if archive.returncode != 0:
    raise BaselineError(
        f"--baseline: revision {sha[:7]} has no {PACKAGE}/ to import "
        f"({archive.stderr.decode(errors='replace').strip()})"
    )
  target = directory / package
  with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
    for member in tar.getmembers():
      if not member.isfile():
        continue
      relative = pathlib.PurePosixPath(member.name).relative_to(PACKAGE)
      if ".." in relative.parts:
        raise BaselineError(f"--baseline: unexpected path {member.name!r}")
      path = target.joinpath(*relative.parts)
      path.parent.mkdir(parents=True, exist_ok=True)
      data = tar.extractfile(member).read()
      if path.suffix == ".py":
        data = _rename_imports(data.decode(), package).encode()
      path.write_bytes(data)
  return target


def _check_isolated(package: str, directory: pathlib.Path) -> None:
  """Every module loaded from ``directory`` belongs to ``package``.

  A module of the baseline that still imported ``cutmix_jax`` would silently
  mix the two revisions; this makes that loud.
  """
  for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and pathlib.Path(path).is_relative_to(directory):
      if name != package and not name.startswith(package + "."):
        raise BaselineError(f"--baseline: {name} was loaded from {path}")
  for name, module in list(sys.modules.items()):
    if name.startswith(package + "."):
      for value in vars(module).values():
        owner = getattr(value, "__module__", None) or getattr(
            value, "__name__", ""
        )
        if isinstance(owner, str) and owner.split(".")[0] == PACKAGE:
          raise BaselineError(
              f"--baseline: {name} refers to the current library's {owner}"
          )


def load(revision: str, repo: pathlib.Path = ROOT) -> Baseline:
  """Imports the library as it was at ``revision``, under another name.

  The temporary copy is removed when the process exits.

  Args:
    revision: any git revision of ``repo`` (``d9d76eb``, ``HEAD``, a tag).
    repo: the repository to read (this one by default).

  Returns:
    The `Baseline`.

  Raises:
    BaselineError: git or the revision is missing, or the import fails.
  """
  sha, subject = resolve(revision, repo)
  package = f"{PACKAGE}_{sha[:7]}"
  if package in sys.modules:  # loaded before in this process
    module = sys.modules[package]
  else:
    directory = pathlib.Path(tempfile.mkdtemp(prefix="cutmix_jax_baseline_"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    extract(sha, directory, package, repo)
    sys.path.insert(0, str(directory))
    try:
      module = importlib.import_module(package)
    except Exception as e:
      raise BaselineError(
          f"--baseline: {PACKAGE} at {sha[:7]} does not import here: "
          f"{type(e).__name__}: {e}"
      ) from e
    _check_isolated(package, directory)
  for name in ("cutmix", "mixup", "mixup_or_cutmix"):
    if not callable(getattr(module, name, None)):
      raise BaselineError(f"--baseline: {PACKAGE} at {sha[:7]} has no {name}()")
  return Baseline(
      revision=revision,
      sha=sha,
      label=f"[{sha[:7]}]",
      subject=subject,
      module=module,
  )
