"""Every shell command of the documents runs as written from a clone.

The commands are read from README.md, CONTRIBUTING.md, train/README.md, the
docs pages and the notebook's text: each line of a ```bash block, and each
inline `make ...` or `.venv/bin/...` span. Every command is matched by one
check below; a command that no check knows fails `test_every_command_has_a_check`,
so a new command in a document needs a check here.

What runs, and what is checked instead:

- `make TARGET [VAR=VALUE]`: `make -n` (the target and its variables exist);
  `make train` runs for real, in a copy of the repository's files
  (`test_make_train_in_a_fresh_copy`, slow). The other targets run elsewhere:
  `make test` is CI's command, `make docs` is what tests/test_docs.py builds,
  `make study` (half an hour) has tests/test_low_data.py.
- `.venv/bin/python -m train.main ...`: the flags and the config file parse
  as train/main.py defines them, and the config passes every start-up check
  that needs no data (the library's checks of the mixing included). The
  CIFAR commands need the network (TFDS's download) and an accelerator to
  finish, so nothing more is done with them here; the two-process commands
  are run by tests/test_multiprocess.py, which reads them from
  train/README.md.
- `pip install ...` and `git clone ...` need the network: the packages named
  are checked against the project's metadata (`jax[cuda13]` is an extra of
  the installed jax; flax and optax are installed), the clone URL against
  `[project.urls]`. tests/test_release.py builds the wheel and installs it.
- Commands that need nothing else (`python -c ...`, `--help`,
  `pre-commit validate-config`, `pytest --collect-only`) run.

The copy `make train` runs in stands for a fresh clone whose `.venv` is made
already: a real fresh clone would first install the environment from the
package index (`make install`, about 1.5 minutes), which a test should
not reach.
"""

import dataclasses
import importlib.metadata
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

import nbformat
import pytest
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_PYTHON = ".venv/bin/python"
PAGES = [
    p
    for p in sorted((ROOT / "docs").rglob("*.md"))
    if "_build" not in p.parts and "generated" not in p.parts
]
DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "CONTRIBUTING.md",
    ROOT / "train" / "README.md",
    *PAGES,
]
NOTEBOOK = ROOT / "colab" / "cutmix_jax_tpu.ipynb"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
INLINE = re.compile(r"(?<!`)`((?:make\s|\.venv/bin/)[^`]*)`(?!`)")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", flags=re.S | re.M)


@dataclasses.dataclass(frozen=True)
class Command:
  where: str  # document:line
  text: str  # as written, without its comment
  argv: tuple[str, ...]

  def __str__(self):
    return f"{self.where}: {self.text}"


def _commands_of_text(text: str, where: str) -> list[Command]:
  found = []
  for match in FENCE.finditer(text):
    if match.group(1) not in ("bash", "sh", "shell", "console"):
      continue
    first = text.count("\n", 0, match.start()) + 2
    lines = match.group(2).replace("\\\n", " ").splitlines()
    for offset, line in enumerate(lines):
      argv = tuple(shlex.split(line, comments=True))
      if argv[-1:] == ("&",):  # run in the background: the same command
        argv = argv[:-1]
      if argv:
        code = shlex.join(argv)
        found.append(Command(f"{where}:{first + offset}", code, argv))
  prose = FENCE.sub("", text)
  for match in INLINE.finditer(prose):
    line = text.count("\n", 0, text.find(match.group(0))) + 1
    argv = tuple(shlex.split(match.group(1)))
    found.append(Command(f"{where}:{line}", match.group(1), argv))
  return found


def all_commands() -> list[Command]:
  found = []
  for doc in DOCUMENTS:
    found += _commands_of_text(
        doc.read_text(), doc.relative_to(ROOT).as_posix()
    )
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  for index, cell in enumerate(notebook.cells):
    if cell.cell_type == "markdown":
      where = f"{NOTEBOOK.relative_to(ROOT).as_posix()} cell {index}"
      found += _commands_of_text(cell.source, where)
  return found


COMMANDS = all_commands()


def _env_var_and_rest(argv):
  """`X=1 cmd ...` -> ({"X": "1"}, [cmd, ...])."""
  env, rest = {}, list(argv)
  while rest and re.fullmatch(r"[A-Z_]+=.*", rest[0]):
    name, value = rest.pop(0).split("=", 1)
    env[name] = value
  return env, rest


# ---------------------------------------------------------------- the checks
# Each kind: a predicate on argv, and a check. `kind_of` names the first
# that matches.


def _is_make(argv):
  return argv[0] == "make"


def _is_train_main(argv):
  return argv[:3] == (VENV_PYTHON, "-m", "train.main") or argv[:3] == (
      "python",
      "-m",
      "train.main",
  )


def _is_pip(argv):
  return argv[0] in ("pip", ".venv/bin/pip") or argv[1:3] == ("-m", "pip")


def _is_clone(argv):
  return argv[:2] == ("git", "clone") or argv[0] == "cd"


def _is_build(argv):
  return argv[1:] == ("-m", "build") and argv[0] in ("python", VENV_PYTHON)


def _is_shell(argv):
  """The lines around the two-process commands (tests/test_multiprocess.py)."""
  return argv == ("wait",) or argv[0] == "export"


def _is_runnable(argv):
  """Commands this machine runs as written, quickly."""
  return argv[0] == VENV_PYTHON and (
      argv[1] == "-c" or argv[1:] == ("-m", "benchmarks", "--help")
  )


def _is_pytest(argv):
  return argv[:3] == (VENV_PYTHON, "-m", "pytest")


def _is_pre_commit(argv):
  return argv[:2] == (".venv/bin/pre-commit", "install")


KINDS = {
    "make": _is_make,
    "train.main": _is_train_main,
    "pip": _is_pip,
    "clone": _is_clone,
    "build": _is_build,
    "shell": _is_shell,
    "runnable": _is_runnable,
    "pytest": _is_pytest,
    "pre-commit": _is_pre_commit,
}


def kind_of(command: Command) -> str | None:
  for kind, matches in KINDS.items():
    if matches(command.argv):
      return kind
  return None


def of_kind(kind):
  return [c for c in COMMANDS if kind_of(c) == kind]


def _ids(commands):
  return [str(c)[:120] for c in commands]


def test_documents_hold_commands():
  assert len(COMMANDS) >= 30, _ids(COMMANDS)
  for kind in KINDS:
    assert of_kind(kind), f"no command of kind {kind!r}: drop its check"


def test_every_command_has_a_check():
  unknown = [str(c) for c in COMMANDS if kind_of(c) is None]
  assert not unknown, "commands no check knows:\n" + "\n".join(unknown)


def test_no_bare_python_in_a_clone():
  """Programs of the clone run through .venv or make, never a bare `python`.

  The one bare `python` is the install section's wheel build, which runs
  with whichever Python has `build`.
  """
  for command in COMMANDS:
    if command.argv[0] in ("python", "python3"):
      assert _is_build(command.argv), command


# ------------------------------------------------------------------- make


def _make_variables() -> set[str]:
  makefile = (ROOT / "Makefile").read_text()
  return set(re.findall(r"^([A-Z_]+) \?=", makefile, flags=re.M))


@pytest.mark.parametrize("command", of_kind("make"), ids=_ids(of_kind("make")))
def test_make_targets_and_variables_exist(command):
  env, rest = _env_var_and_rest(command.argv[1:])
  targets = [a for a in rest if "=" not in a]
  variables = dict(a.split("=", 1) for a in rest if "=" in a)
  assert not env
  assert len(targets) == 1, command
  unknown = set(variables) - _make_variables()
  assert not unknown, f"{command}: the Makefile has no variable {unknown}"
  dry = subprocess.run(
      ["make", "-n", *rest],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=60,
  )
  assert dry.returncode == 0, f"{command}\n{dry.stderr}"
  if targets == ["train"]:
    assert ".venv/bin/python -m train.main" in dry.stdout
  for name, value in variables.items():
    if name == "BENCH_ARGS":
      help_text = subprocess.run(
          [sys.executable, "-m", "benchmarks", "--help"],
          cwd=ROOT,
          capture_output=True,
          text=True,
          timeout=120,
      ).stdout
      for option in shlex.split(value):
        assert option in help_text, (command, option)
    else:
      assert value in dry.stdout, (command, name)


# -------------------------------------------------------------- train.main

# Parses each command's flags with train/main.py's own flag definitions, then
# runs the start-up checks that need no data: those train.main runs before
# JAX is imported, the split of the batch over the command's devices, and the
# library's check of the mixing on one device's shapes.
_PARSE = r"""
import json, os, sys
import absl.flags, jax, ml_collections.config_flags
from train import startup, steps
from train.configs import default

# train/main.py defines its flags on import, and ml_collections reads the
# --config.* overrides from sys.argv then: each command gets a fresh child
# process that sets sys.argv, imports train.main and parses.
results = []
for argv, devices, processes in json.loads(sys.argv[1]):
  read, write = os.pipe()
  if os.fork() == 0:
    os.close(read)
    try:
      sys.argv = ["train.main", *argv]
      from train import main  # noqa: F401
      FLAGS = absl.flags.FLAGS
      FLAGS(sys.argv)
      config = FLAGS.config
      startup.check_fields(config, default.get_config())
      startup.check_config(config)
      startup.check_workdir(FLAGS.workdir)
      startup.check_batch_split(config, devices, processes)
      steps.check_mixing(config, shard_batch=config.batch_size // devices)
      result = {"dataset": config.dataset, "workdir": FLAGS.workdir,
                "method": config.cutmix.method}
    except BaseException as e:  # reported, not raised
      result = {"error": f"{type(e).__name__}: {e}"}
    os.write(write, json.dumps(result).encode())
    os._exit(0)
  os.close(write)
  with os.fdopen(read) as f:
    results.append(json.loads(f.read()))
  os.wait()
print("PARSED " + json.dumps(results))
"""


def _parse_train_commands(commands):
  jobs = []
  for command in commands:
    env, argv = _env_var_and_rest(command.argv)
    processes = 1
    for arg in argv:
      if arg.startswith("--num_processes="):
        processes = int(arg.split("=", 1)[1])
    devices = processes * int(
        env.get("JAX_NUM_CPU_DEVICES", _exported_devices(command))
    )
    jobs.append((list(argv[3:]), devices, processes))
  proc = subprocess.run(
      [sys.executable, "-c", _PARSE, json.dumps(jobs)],
      cwd=ROOT,  # as from the clone (nothing is written)
      env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"},
      capture_output=True,
      text=True,
      timeout=300,
  )
  line = [r for r in proc.stdout.splitlines() if r.startswith("PARSED ")]
  assert line, proc.stderr[-3000:]
  return json.loads(line[-1][len("PARSED ") :])


def _exported_devices(command: Command) -> str:
  """JAX_NUM_CPU_DEVICES as an `export` line above it in its block sets it."""
  document, line = command.where.rsplit(":", 1)
  value = "1"
  for other in COMMANDS:
    other_doc, other_line = other.where.rsplit(":", 1)
    if (
        other_doc == document
        and int(other_line) < int(line)
        and other.argv[0] == "export"
    ):
      name, _, v = other.argv[1].partition("=")
      if name == "JAX_NUM_CPU_DEVICES" and int(line) - int(other_line) < 5:
        value = v
  return value


def test_train_commands_parse_and_pass_the_start_up_checks():
  commands = of_kind("train.main")
  results = _parse_train_commands(commands)
  failures = [
      f"{c}\n  -> {r['error']}"
      for c, r in zip(commands, results)
      if "error" in r
  ]
  assert not failures, "\n".join(failures)
  datasets = {r["dataset"] for r in results}
  # CIFAR-10 and the paper's CIFAR-100 are documented, not only the digits.
  assert {"digits", "cifar10", "cifar100"} <= datasets, datasets


def test_many_devices_page_runs_what_the_multiprocess_test_runs():
  """docs/guides/many_devices.md shows train/README.md's two-process commands.

  tests/test_multiprocess.py runs the ones of train/README.md.
  """

  def two_process(document):
    return [
        c.argv
        for c in COMMANDS
        if c.where.startswith(document) and "--num_processes=2" in c.argv
    ]

  readme = two_process("train/README.md")
  assert len(readme) == 2
  assert two_process("docs/guides/many_devices.md") == readme


# -------------------------------------------------- network: what can be seen


def test_pip_commands_name_what_exists():
  train_extra = " ".join(PYPROJECT["project"]["optional-dependencies"]["train"])
  dev_extra = " ".join(PYPROJECT["project"]["optional-dependencies"]["dev"])
  for command in of_kind("pip"):
    argv = command.argv
    start = argv.index("install") + 1
    for arg in argv[start:]:
      if arg.startswith("-"):
        assert arg in ("-U", "--upgrade", "-q"), command
        continue
      if arg == ".":
        assert PYPROJECT["project"]["name"] == "cutmix-jax"
        continue
      if arg.endswith(".whl"):
        continue
      name, _, extras = arg.partition("[")
      if extras:
        provided = importlib.metadata.metadata(name).get_all("Provides-Extra")
        for extra in extras.rstrip("]").split(","):
          assert extra in provided, (command, extra, provided)
      importlib.metadata.version(name)  # installed in .venv
      assert name in train_extra or name in dev_extra or name == "jax", command


def test_clone_url_and_directory():
  url = PYPROJECT["project"]["urls"]["Repository"]
  for command in of_kind("clone"):
    if command.argv[0] == "git":
      assert command.argv[2] == url, command
    else:
      assert command.argv == ("cd", url.rsplit("/", 1)[1]), command


def test_wheel_named_in_the_documents_is_this_version():
  import cutmix_jax

  assert of_kind("build")
  import build  # noqa: F401  (the `dev` extra: `python -m build` runs)

  wheel = f"cutmix_jax-{cutmix_jax.__version__}-py3-none-any.whl"
  for doc in DOCUMENTS:
    for name in re.findall(
        r"cutmix_jax-[\w.]+-py3-none-any\.whl", doc.read_text()
    ):
      assert name == wheel, (doc, name)


# ---------------------------------------------------------- run them here


@pytest.mark.parametrize(
    "command", of_kind("runnable"), ids=_ids(of_kind("runnable"))
)
def test_quick_commands_run(command):
  proc = subprocess.run(
      command.argv, cwd=ROOT, capture_output=True, text=True, timeout=120
  )
  assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
  assert proc.stdout.strip(), command


@pytest.mark.parametrize(
    "command", of_kind("pytest"), ids=_ids(of_kind("pytest"))
)
def test_pytest_commands_collect(command):
  """The files exist and collect; running them is the suite's own job."""
  files = [a for a in command.argv[3:] if not a.startswith("-")]
  assert files and all((ROOT / f).exists() for f in files), command
  proc = subprocess.run(
      [*command.argv, "--collect-only", "-q", "-p", "no:cacheprovider"],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}"


def test_pre_commit_config_is_valid():
  """`pre-commit install` writes .git/hooks: the config it installs is checked."""
  assert of_kind("pre-commit")
  proc = subprocess.run(
      [".venv/bin/pre-commit", "validate-config", ".pre-commit-config.yaml"],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------- make train, from a copy


def _fresh_copy(target: pathlib.Path) -> pathlib.Path:
  """The files a commit would hold, copied, with this checkout's .venv."""
  listed = subprocess.run(
      ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      cwd=ROOT,
      capture_output=True,
      text=True,
      check=True,
  ).stdout.split("\0")
  for name in filter(None, listed):
    source = ROOT / name
    if source.is_file():
      (target / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(source, target / name)
  (target / ".venv").symlink_to(ROOT / ".venv")
  # The environment is made: make must not remake it because the copied
  # pyproject.toml is newer than its stamp.
  stamp = (ROOT / ".venv" / ".installed").stat().st_mtime
  os.utime(target / "pyproject.toml", (stamp - 60, stamp - 60))
  return target


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_make_train_in_a_fresh_copy(tmp_path):
  if not (ROOT / ".venv" / ".installed").exists():
    pytest.skip("no .venv made by `make install` here")
  copy = _fresh_copy(tmp_path / "clone")
  env = {
      k: v
      for k, v in os.environ.items()
      if not k.startswith(("JAX_", "XLA_", "PYTEST_", "CUTMIX_JAX_"))
  }
  proc = subprocess.run(
      ["make", "train"],
      cwd=copy,
      env=env,
      capture_output=True,
      text=True,
      timeout=540,
  )
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "pip install" not in proc.stdout  # the environment was not remade
  workdir = copy / "workdir"
  for name in ("curves.png", "cutmix_samples.png", "config.json"):
    assert (workdir / name).stat().st_size > 0, name
  records = [
      json.loads(line)
      for line in (workdir / "metrics.jsonl").read_text().splitlines()
  ]
  test_rows = [r for r in records if r["split"] == "test"]
  # The digits preset trains its 15 epochs and learns the digits (chance is
  # 0.1): the one whole default run of the suite.
  assert test_rows[-1]["epoch"] == pytest.approx(15)
  assert test_rows[-1]["accuracy"] > 0.9, test_rows[-1]
  assert any(d.isdigit() for d in os.listdir(workdir / "checkpoints"))
  # It says how to go on on an accelerator, with commands the docs show.
  out = proc.stdout + proc.stderr
  assert "--config=train/configs/cifar10.py" in out
  assert "workdir/curves.png" in out
