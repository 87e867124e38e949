"""Real multi-process jobs on localhost: two processes of two CPU devices each.

`jax.distributed` with gloo's CPU collectives is the engine TPU pods and GPU
clusters run, here on one machine. Every test starts its own processes (at
most two at a time), waits for each with a bound, and kills only those. The
tests share one persistent compilation cache, so process 0's programs
compile once for the module; the models are tiny and the runs a few steps
long. Process 1 cannot use the cache (JAX writes it from process 0 only, and
its keys differ between processes), so the trainer's processes compile with
XLA's backend optimisation level 0 (LLVM's effort; the HLO passes are the
same), which cuts their compile time by about 3x: these tests check
behaviour, not speed. The worker that reads the compiled HLO compiles as
users do.
"""

import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from train import metric_writers
import train_helpers

pytestmark = pytest.mark.slow  # Whole programs, several processes each.
ROOT = train_helpers.ROOT
WORKER = os.path.join(ROOT, "tests", "multiprocess_worker.py")
# Shrinks train/README.md's digits command to seconds.
SMALL = [
    "--config.model.width=4",
    "--config.batch_size=16",
    "--config.eval_batch_size=40",
    "--config.num_train_steps=8",
    "--config.checkpoint_every_steps=4",
    "--config.log_every_steps=1",
    "--config.progress_bar=false",
    "--config.eval_every_epochs=1000",
    "--config.num_plot_samples=4",
]
JOB_TIMEOUT = 600  # seconds; a 2-core CI machine needs well under a minute.


@dataclasses.dataclass
class Process:
  """A child process whose output goes to files (no pipe can fill and block)."""

  popen: subprocess.Popen
  stdout_path: str
  stderr_path: str
  started: float
  ended: float | None = None

  def wait(self, timeout: float) -> int:
    """The exit code; kills the process (and fails) if it runs past ``timeout``."""
    try:
      code = self.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
      self.popen.kill()
      self.popen.wait()
      pytest.fail(
          f"{self.popen.args} ran past {timeout} s; killed. stderr:\n"
          + self.stderr[-3000:]
      )
    self.ended = self.ended or time.monotonic()
    return code

  @property
  def stdout(self) -> str:
    with open(self.stdout_path) as f:
      return f.read()

  @property
  def stderr(self) -> str:
    with open(self.stderr_path) as f:
      return f.read()


def _start(argv: list[str], env: dict, log_dir, name: str) -> Process:
  out, err = os.path.join(log_dir, f"{name}.out"), os.path.join(
      log_dir, f"{name}.err"
  )
  with open(out, "w") as stdout, open(err, "w") as stderr:
    popen = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=stdout, stderr=stderr
    )
  return Process(popen, out, err, time.monotonic())


def _wait_all(
    processes: list[Process], timeout: float = JOB_TIMEOUT
) -> list[int]:
  deadline = time.monotonic() + timeout
  try:
    return [p.wait(max(deadline - time.monotonic(), 1)) for p in processes]
  finally:
    for p in processes:  # Only ours, and only if a wait failed.
      if p.popen.poll() is None:
        p.popen.kill()
        p.popen.wait()


def readme_two_process_commands(
    port: int, workdir
) -> tuple[list[list[str]], dict]:
  """train/README.md's two-process run on one machine: ``(argv, environment)``.

  Taken from train/README.md as written; only the port and the workdir are
  replaced (a free port, a temporary directory).
  """
  with open(os.path.join(ROOT, "train", "README.md")) as f:
    readme = f.read()
  block = next(
      b
      for b in re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
      if "--num_processes=2" in b
  )
  block = block.replace("\\\n", " ")
  env = dict(re.findall(r"^export (\w+)=(\S+)", block, flags=re.M))
  commands = []
  for line in block.splitlines():
    if line.startswith(".venv/bin/python -m train.main"):
      argv = shlex.split(line.split("#")[0].rstrip().rstrip("&"))
      argv = [re.sub(r"^--workdir=.*", f"--workdir={workdir}", a) for a in argv]
      argv = [
          re.sub(r"^(--coordinator=[^:]+):\d+$", rf"\g<1>:{port}", a)
          for a in argv
      ]
      commands.append([sys.executable] + argv[1:])
  return commands, env


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("jax_cache")


def _env(cache_dir, **extra):
  return train_helpers.child_env(
      cache_dir,
      **{
          "JAX_NUM_CPU_DEVICES": 2,
          "XLA_FLAGS": "--xla_backend_optimization_level=0",
          **extra,
      },
  )


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory, cache_dir):
  """The README's two-process command, shrunk, uninterrupted."""
  workdir = tmp_path_factory.mktemp("two_processes")
  commands, env = readme_two_process_commands(
      train_helpers.free_port(), workdir
  )
  assert len(commands) == 2 and env == {"JAX_NUM_CPU_DEVICES": "2"}
  processes = [
      _start(argv + SMALL, _env(cache_dir, **env), workdir, f"p{i}")
      for i, argv in enumerate(commands)
  ]
  codes = _wait_all(processes)
  seconds = max(p.ended for p in processes) - min(p.started for p in processes)
  print(f"two-process README run: {seconds:.1f} s")
  return workdir, processes, codes


def _final_line(process: Process) -> str:
  (line,) = [
      text
      for text in process.stdout.splitlines()
      if "Final test accuracy" in text
  ]
  return line


def test_readme_command_trains_one_model_on_two_processes(readme_run):
  workdir, processes, codes = readme_run
  assert codes == [0, 0], [p.stderr[-3000:] for p in processes]
  for i, p in enumerate(processes):
    assert f"process {i} of 2: joined the job" in p.stderr
  # Both report the same final metrics (the evaluation is one global one).
  finals = [_final_line(p) for p in processes]
  assert finals[0].startswith("process 0 of 2: ") and finals[1].startswith(
      "process 1 of 2: "
  )
  assert finals[0].split(": ", 1)[1] == finals[1].split(": ", 1)[1]
  # Process 0 alone writes the logs and the pictures: one record a step, one
  # TensorBoard file.
  records = metric_writers.read_metrics(str(workdir / "metrics.jsonl"))
  assert [(r["split"], r["step"]) for r in records] == (
      [("train", s) for s in range(1, 9)] + [("test", 8)]
  )
  test_record = records[-1]
  assert f"{100 * test_record['accuracy']:.2f}%" in finals[0]
  assert len(list(workdir.glob("events.out.tfevents.*"))) == 1
  scalars = train_helpers.tensorboard_scalars(workdir)
  assert sorted(scalars["train/loss"]) == list(range(1, 9))
  for name in ("curves.png", "cutmix_samples.png"):
    assert (workdir / name).stat().st_size > 1000
  # The checkpoint holds both processes' shards, and reads back whole.
  final = workdir / "checkpoints" / "8" / "default"
  for i in range(2):
    assert any((final / f"ocdbt.process_{i}" / "d").iterdir())
  leaves = jax.tree.leaves(train_helpers.restore_here(final))
  assert len(leaves) > 10 and all(
      np.all(np.isfinite(np.asarray(x))) for x in leaves
  )


def _signalling_itself(
    argv: list[str], signum: int, *, at_step: int, after_a_checkpoint_in=None
) -> str:
  """A ``python -c`` program: the trainer, sending itself ``signum`` when it
  asks for step ``at_step``'s batch (once a checkpoint is complete on disk in
  ``after_a_checkpoint_in``, if given)."""
  directory = after_a_checkpoint_in and str(
      after_a_checkpoint_in / "checkpoints"
  )
  return textwrap.dedent(f"""
      import os, signal, sys, time
      from absl import app
      # Before train.main defines --config: ml_collections registers the
      # --config.FIELD overrides it finds in sys.argv then.
      sys.argv = {["train.main"] + argv[3:]!r}
      from train import input_pipeline, main
      original = input_pipeline.train_batch
      def train_batch(data, seed, step, *args):
        if step == {at_step - 1}:
          directory = {directory!r}
          deadline = time.time() + 120
          while directory and time.time() < deadline and not any(
              d.isdigit() for d in os.listdir(directory)):
            time.sleep(0.05)
          os.kill(os.getpid(), {int(signum)})
        return original(data, seed, step, *args)
      input_pipeline.train_batch = train_batch
      app.run(main.main)
      """)


def test_a_killed_process_stops_the_other_and_the_resume_is_bitwise_the_uninterrupted_run(
    readme_run, tmp_path, cache_dir
):
  """Process 1 dies by SIGKILL mid-run; process 0 stops within the heartbeat
  timeout, naming it; both restarted resume to the uninterrupted run's bits."""
  straight, _, codes = readme_run
  assert codes == [0, 0]
  heartbeat = 10
  commands, env = readme_two_process_commands(
      train_helpers.free_port(), tmp_path
  )
  small = SMALL + [
      "--config.num_plot_samples=0",
      f"--heartbeat_timeout={heartbeat}",
  ]
  survivor = _start(
      commands[0] + small, _env(cache_dir, **env), tmp_path, "survivor"
  )
  killed = _start(
      [
          sys.executable,
          "-c",
          _signalling_itself(
              commands[1] + small,
              signal.SIGKILL,
              at_step=6,
              after_a_checkpoint_in=tmp_path,
          ),
      ],
      _env(cache_dir, **env),
      tmp_path,
      "killed",
  )
  try:
    assert killed.wait(JOB_TIMEOUT) == -signal.SIGKILL, killed.stderr[-3000:]
    code = survivor.wait(timeout=heartbeat + 120)
  finally:
    _wait_all([survivor, killed], timeout=30)
  seconds = survivor.ended - killed.ended
  print(f"survivor stopped {seconds:.1f} s after its peer was killed")
  assert code != 0
  assert seconds < heartbeat + 30
  err = survivor.stderr
  assert "process 0 of 2: joined the job" in err
  assert f"--heartbeat_timeout={heartbeat} s" in err
  # JAX names the silent process; or gloo saw the broken connection first
  # and the trainer says so.
  assert (
      re.search(r"stopped sending heartbeats\):\s*1\b", err)
      or "process 0 of 2: a computation shared with the other processes "
      "failed" in err
  ), err[-3000:]
  saved = sorted(
      int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()
  )
  assert saved and max(saved) < 8

  commands, env = readme_two_process_commands(
      train_helpers.free_port(), tmp_path
  )
  resumed = [
      _start(argv + small, _env(cache_dir, **env), tmp_path, f"resumed{i}")
      for i, argv in enumerate(commands)
  ]
  assert _wait_all(resumed) == [0, 0], [p.stderr[-3000:] for p in resumed]
  for p in resumed:
    assert f"Resumed from the checkpoint at step {max(saved)}" in p.stdout
  a = train_helpers.restore_here(straight / "checkpoints" / "8" / "default")
  b = train_helpers.restore_here(tmp_path / "checkpoints" / "8" / "default")
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 10
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))

  # The log reads as one run: every train step once, with the uninterrupted
  # run's losses, in the JSONL file and in TensorBoard (the interrupted run's
  # later events purged).
  def train_records(workdir):
    return [
        r
        for r in metric_writers.read_metrics(str(workdir / "metrics.jsonl"))
        if r["split"] == "train"
    ]

  records = train_records(tmp_path)
  assert [r["step"] for r in records] == list(range(1, 9))
  assert [r["loss"] for r in records] == [
      r["loss"] for r in train_records(straight)
  ]
  assert (
      train_helpers.tensorboard_scalars(tmp_path)["train/loss"]
      == train_helpers.tensorboard_scalars(straight)["train/loss"]
  )


def test_a_sigterm_to_one_process_stops_both_at_one_step_after_a_checkpoint(
    tmp_path, cache_dir
):
  """JAX's preemption service gives both processes the same step: each saves
  its shards of it and stops with SIGTERM's status (no step lost)."""
  commands, env = readme_two_process_commands(
      train_helpers.free_port(), tmp_path
  )
  small = SMALL + ["--config.num_plot_samples=0"]
  processes = [
      _start(commands[0] + small, _env(cache_dir, **env), tmp_path, "p0"),
      _start(
          [
              sys.executable,
              "-c",
              _signalling_itself(
                  commands[1] + small, signal.SIGTERM, at_step=3
              ),
          ],
          _env(cache_dir, **env),
          tmp_path,
          "p1",
      ),
  ]
  codes = _wait_all(processes)
  assert codes == [128 + signal.SIGTERM] * 2, [
      p.stderr[-3000:] for p in processes
  ]
  pattern = r"Stopped on SIGTERM after step (\d+) of 8 \(process (\d) of 2\);"
  (p0,), (p1,) = [re.findall(pattern, p.stderr) for p in processes]
  step, _ = p0
  assert p0 == (step, "0") and p1 == (step, "1") and 3 <= int(step) < 8
  saved = [int(d) for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]
  assert max(saved) == int(step)
  last = tmp_path / "checkpoints" / step / "default"
  for i in range(2):
    assert any((last / f"ocdbt.process_{i}" / "d").iterdir())


def test_a_bad_config_stops_every_process_naming_the_field(tmp_path, cache_dir):
  commands, env = readme_two_process_commands(
      train_helpers.free_port(), tmp_path
  )
  processes = [
      _start(
          argv + SMALL + ["--config.cutmix.alpha=-1"],
          _env(cache_dir, **env),
          tmp_path,
          f"p{i}",
      )
      for i, argv in enumerate(commands)
  ]
  assert _wait_all(processes, timeout=300) == [2, 2]
  for p in processes:
    assert "ERROR: config.cutmix.alpha: alpha: expected" in p.stderr
    print(f"stopped after {p.ended - p.started:.1f} s (from its start)")
  assert not (tmp_path / "checkpoints").exists()
  assert not (tmp_path / "metrics.jsonl").exists()


def test_mocked_cifar_gives_each_process_a_disjoint_half_and_images_stay_local(
    tmp_path, cache_dir
):
  port = train_helpers.free_port()
  env = train_helpers.child_env(cache_dir, JAX_NUM_CPU_DEVICES=2)
  processes = [
      _start(
          [sys.executable, WORKER, str(port), str(i)],
          env,
          tmp_path,
          f"worker{i}",
      )
      for i in range(2)
  ]
  assert _wait_all(processes) == [0, 0], [p.stderr[-3000:] for p in processes]
  reports = [json.loads(p.stdout.strip().splitlines()[-1]) for p in processes]
  assert [r["process_index"] for r in reports] == [0, 1]
  assert all(r["devices"] == 4 and r["local_devices"] == 2 for r in reports)
  for split, size, offset in (("train", 48, 0), ("test", 20, 100)):
    ids = [set(r[f"{split}_ids"]) for r in reports]
    assert len(ids[0]) == len(ids[1]) == size // 2  # each process its half...
    assert not ids[0] & ids[1]  # ... disjoint ...
    assert ids[0] | ids[1] == set(
        range(offset, offset + size)
    )  # ... all of it.
  assert all(r["labels_match"] for r in reports)
  assert all(r["train_size"] == 48 and r["test_size"] == 20 for r in reports)
  # The compiled 2-process train step: the batch sharded over the 4 devices
  # of both processes, and no collective but the all-reduce of the gradients
  # (and batch statistics and metrics): no image crosses a process.
  for r in reports:
    assert r["images_spec"] == "P('data',)"
    assert r["images_devices"] == 4 and r["images_processes"] == 2
    assert r["collectives"] == [] and r["all_reduce"]


# One process of a 2 x 2 job: the library itself on a batch spread over both
# processes (16 examples, example i filled with i), eagerly and jitted.
_LIBRARY_ON_TWO_PROCESSES = textwrap.dedent("""
    import functools, json, sys
    import jax
    port, pid = sys.argv[1], int(sys.argv[2])
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2,
                               process_id=pid, initialization_timeout=60)
    import numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import NamedSharding, PartitionSpec as P
    import cutmix_jax

    mesh = jax.make_mesh((4,), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    n = 16

    def global_batch(values):  # this process holds its half
      return jax.make_array_from_process_local_data(
          sharding, values[pid * 8:(pid + 1) * 8], values.shape)

    def gather(tree):
      return [np.asarray(multihost_utils.process_allgather(x, tiled=True)).tolist()
              for x in jax.tree.leaves(tree)]

    values = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)
    images = global_batch(np.broadcast_to(values, (n, 6, 5, 3)).copy())
    labels = global_batch(np.arange(n, dtype=np.int32) % 10)
    key = jax.random.key(7)
    cut = functools.partial(cutmix_jax.cutmix, num_classes=10, mode="elem")
    sharded = cutmix_jax.per_shard(cutmix_jax.with_params(cut), mesh)
    plain = cutmix_jax.with_params(cut)
    report = {}
    for name, call in (("per_shard_eager", sharded),
                       ("per_shard_jit", jax.jit(sharded))):
      report[name] = gather(call(key, images, labels))
    with jax.set_mesh(mesh):
      for name, call in (("plain_eager", plain), ("plain_jit", jax.jit(plain))):
        out = call(key, images, labels)
        again = cutmix_jax.mix_labels(labels, out[2], num_classes=10)
        report[name] = gather(out) + gather(again)
    # An out-of-range label in process 1's half only: no process reads the
    # other's, so neither raises alone (the other would wait for it forever);
    # both get the traced contract, NaN rows.
    bad = global_batch(np.where(np.arange(n) == 12, 99, np.arange(n) % 10))
    try:
      report["bad_label"] = gather(sharded(key, images, bad))
    except ValueError as e:
      report["bad_label"] = str(e)
    print(json.dumps(report), flush=True)
    jax.distributed.shutdown()
""")


def test_the_library_mixes_a_batch_spread_over_two_processes(
    tmp_path, cache_dir
):
  """per_shard eagerly and jitted (partners within each device's shard), and
  the plain functions under jax.set_mesh, on 2 processes of 2 devices; a bad
  label in one process's half is no error on either (it would hang the
  other), but NaN rows on both."""
  port = train_helpers.free_port()
  processes = [
      _start(
          [sys.executable, "-c", _LIBRARY_ON_TWO_PROCESSES, str(port), str(i)],
          _env(cache_dir),
          tmp_path,
          f"library{i}",
      )
      for i in range(2)
  ]
  assert _wait_all(processes, timeout=300) == [0, 0], [
      p.stderr[-3000:] for p in processes
  ]
  reports = [json.loads(p.stdout.strip().splitlines()[-1]) for p in processes]
  own = np.arange(16)
  for name in ("per_shard_eager", "per_shard_jit", "plain_eager", "plain_jit"):
    # Both processes gathered the same global arrays.
    assert reports[0][name] == reports[1][name], name
    images, soft, box, lam, partner, applied, is_cutmix = map(
        np.asarray, reports[0][name][:7]
    )
    images = images[..., 0]  # (16, 6, 5): example i's pixels are i
    assert applied.any() and is_cutmix.all(), name
    assert not np.any(partner[applied] == own[applied]), name
    # Every pixel is its own example's or its partner's; the label weight is
    # the fraction not pasted.
    pasted = images != own[:, None, None]
    assert np.all(~pasted | (images == partner[:, None, None])), name
    np.testing.assert_allclose(
        1 - pasted.mean(axis=(1, 2)), lam, atol=1e-6, err_msg=name
    )
    np.testing.assert_allclose(np.sum(soft, -1), 1.0, atol=1e-6)
  # per_shard: partners within each device's shard of 4; eager is the
  # jitted call, bitwise.
  partner = np.asarray(reports[0]["per_shard_jit"][4])
  assert np.all(partner // 4 == own // 4), partner
  assert reports[0]["per_shard_eager"] == reports[0]["per_shard_jit"]
  # The plain functions: mix_labels of the drawn params is the soft labels.
  for name in ("plain_eager", "plain_jit"):
    np.testing.assert_allclose(
        reports[0][name][7], reports[0][name][1], atol=1e-6
    )
  assert reports[0]["bad_label"] == reports[1]["bad_label"]
  soft, partner, applied = (
      np.asarray(reports[0]["bad_label"][i], float) for i in (1, 4, 5)
  )
  nan_rows = np.isnan(soft).all(axis=1)
  np.testing.assert_array_equal(
      nan_rows, (own == 12) | ((partner == 12) & (applied == 1))
  )
  assert np.isfinite(soft[~nan_rows]).all()


def test_a_process_that_cannot_reach_the_coordinator_stops_and_says_what_to_check(
    tmp_path, cache_dir
):
  port = train_helpers.free_port()  # Nobody listens there.
  p = _start(
      [
          sys.executable,
          "-m",
          "train.main",
          "--config=train/configs/default.py",
          f"--workdir={tmp_path}",
          f"--coordinator=127.0.0.1:{port}",
          "--num_processes=2",
          "--process_id=1",
          "--initialization_timeout=3",
      ],
      _env(cache_dir),
      tmp_path,
      "alone",
  )
  code = p.wait(timeout=120)
  print(f"stopped after {p.ended - p.started:.1f} s (from its start)")
  assert code != 0
  assert (
      f"process 1 of 2: still not joined through the coordinator at "
      f"127.0.0.1:{port}"
  ) in p.stderr
  assert "--initialization_timeout=3 s" in p.stderr


def test_the_coordinator_address_alone_is_refused_with_the_flags_to_add(
    tmp_path,
):
  result = subprocess.run(
      [
          sys.executable,
          "-m",
          "train.main",
          "--config=train/configs/default.py",
          f"--workdir={tmp_path}",
      ],
      cwd=ROOT,
      env=dict(
          os.environ, PYTHONPATH=ROOT, JAX_COORDINATOR_ADDRESS="127.0.0.1:12355"
      ),
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert result.returncode == 2
  assert "ERROR: Number of processes must be defined." in result.stderr
  assert "--num_processes" in result.stderr and "--process_id" in result.stderr


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--num_processes=2"], "--num_processes and --process_id go together"),
        (
            ["--num_processes=2", "--process_id=2"],
            "--process_id: expected an id in [0, 2)",
        ),
        (
            [
                "--coordinator=127.0.0.1:1",
                "--num_processes=2",
                "--process_id=0",
                "--config.distributed=off",
            ],
            "--config.distributed=off",
        ),
    ],
)
def test_inconsistent_launch_flags_are_refused_at_once(tmp_path, flags, words):
  result = subprocess.run(
      [
          sys.executable,
          "-m",
          "train.main",
          "--config=train/configs/default.py",
          f"--workdir={tmp_path}",
      ]
      + flags,
      cwd=ROOT,
      env=dict(os.environ, PYTHONPATH=ROOT),
      capture_output=True,
      text=True,
      timeout=120,
  )
  assert result.returncode == 2 and words in result.stderr, result.stderr[
      -2000:
  ]


def test_cluster_detection():
  from train import distributed

  assert not distributed.detected_cluster({})
  assert not distributed.detected_cluster({"TPU_WORKER_HOSTNAMES": "localhost"})
  assert distributed.detected_cluster({"TPU_WORKER_HOSTNAMES": "a,b"})
  assert distributed.detected_cluster({"SLURM_NTASKS": "4"})
  assert not distributed.detected_cluster({"SLURM_NTASKS": "1"})
  assert distributed.detected_cluster({"OMPI_COMM_WORLD_SIZE": "2"})
