"""Training and evaluation: `train_and_evaluate(config, workdir)`, the loop.

Every process runs the same loop on a ``("data",)`` mesh over all devices,
hands over its rows of each global batch, and process 0 alone writes the
logs and pictures. A resumed run is bitwise the uninterrupted one: no key
lives in the state (`train_state.named_keys`) and the data order depends on
the step only.
"""

import glob
import os
import shutil
import signal
import time
from typing import Any

import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import ml_collections
import numpy as np

from train import checkpointing
from train import distributed
from train import input_pipeline
from train import metric_writers
from train import startup
from train import steps
from train import train_state


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or infinite."""


class StoppedOnRequest(RuntimeError):
  """Ctrl-C or SIGTERM stopped the run, after a checkpoint of its last step."""

  def __init__(self, message: str, signum: int):
    super().__init__(message)
    self.signum = signum


def _put_batch(sharding: NamedSharding, *arrays: np.ndarray) -> list[jax.Array]:
  # Each process hands over its rows; JAX assembles the global batch.
  return [jax.make_array_from_process_local_data(sharding, a) for a in arrays]


def evaluate(
    eval_step,
    state,
    data: input_pipeline.Data,
    *,
    local_batch: int,
    sharding: NamedSharding,
) -> dict[str, float]:
  """Loss and accuracy over the whole test set (the last batch padded, masked)."""
  per_process = -(-data.test_size // jax.process_count())
  metrics = steps.empty_metrics(sharding.mesh)
  for start in range(0, per_process, local_batch):
    rows = slice(start, start + local_batch)
    images, labels = data.test_images[rows], data.test_labels[rows]
    mask = np.arange(local_batch) < len(labels)
    pad = [(0, local_batch - len(labels))]
    images = np.pad(images, pad + [(0, 0)] * 3)
    batch = _put_batch(sharding, images, np.pad(labels, pad), mask)
    metrics = eval_step(state, metrics, *batch)
  return steps.compute_metrics(metrics)


def _plot_mixed_batch(config, workdir, sharding, data, keys, first_batch):
  """``workdir/cutmix_samples.png``: the first batch as the step mixes it."""
  from train import plots

  # Every process takes part (the batch is global); process 0 draws it.
  sample = steps.make_sample_fn(
      config,
      sharding.mesh,
      num_classes=data.num_classes,
      image_size=data.train_images.shape[1:3],
  )
  images, labels = _put_batch(sharding, *first_batch)
  mixed, _, params = sample(keys["augment"], images, labels)
  mixed, labels, params = multihost_utils.process_allgather(
      (mixed, labels, params), tiled=True
  )
  if jax.process_index() == 0:
    plots.plot_cutmix_samples(
        os.path.join(workdir, "cutmix_samples.png"),
        mixed,
        labels,
        params,
        num_samples=config.num_plot_samples,
        class_names=plots.class_names(config.dataset, data.num_classes),
        title=plots.mixing_title(config.cutmix),
    )


def _stop_if_not_finite(state, manager, first_step, step, loss=0.0) -> None:
  """The NaN guard: nothing non-finite is ever saved."""
  if np.isfinite(loss) and bool(steps.all_finite(state)):
    return
  last_good = manager.latest_step()
  where = (
      f"the last good checkpoint, step {last_good}, is kept in "
      f"{manager.directory}"
      if last_good
      else "no checkpoint had been written yet"
  )
  raise NonFiniteLossError(
      f"Training stopped: the loss became non-finite ({loss}) between steps "
      f"{first_step} and {step}. Nothing was saved after it; {where}. "
      "Lower config.optimizer.learning_rate or check the data, then rerun (the run "
      "resumes from that checkpoint)."
  )


def check_run(
    config: ml_collections.ConfigDict, workdir: str, *, restart: bool = False
) -> None:
  """Every start-up check; raises `startup.StartupError`, nothing written."""
  startup.check_config(config)
  startup.check_batch_split(config, jax.device_count(), jax.process_count())
  steps.check_mixing(
      config, shard_batch=config.batch_size // jax.device_count()
  )
  startup.check_workdir(workdir)
  if not restart:
    startup.check_resume(config, workdir)


def _start_over(workdir: str) -> None:
  """Removes what an earlier run wrote into ``workdir`` (``--restart``)."""
  names = list(startup.RUN_FILES) + [startup.RECORD]
  for path in [os.path.join(workdir, n) for n in names] + glob.glob(
      os.path.join(workdir, "events.out.tfevents.*")
  ):
    if os.path.isdir(path):
      shutil.rmtree(path)
    elif os.path.exists(path):
      os.remove(path)


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    data: input_pipeline.Data | None = None,
    restart: bool = False,
) -> dict[str, Any]:
  """Trains and evaluates, resuming from ``workdir`` if it holds a checkpoint.

  Writes ``config.json`` (what a resume is checked against), ``metrics.jsonl``,
  TensorBoard events, ``checkpoints/``, ``curves.png`` and
  ``cutmix_samples.png`` into ``workdir``.

  Args:
    config: the run's configuration.
    workdir: where to write (shared by all processes).
    data: the data (default: ``config.dataset``); experiments/ pass a subset.
    restart: remove what an earlier run wrote into ``workdir`` first.

  Returns:
    The final test metrics: ``{"step", "epoch", "split", "loss", "accuracy"}``.

  Raises:
    startup.StartupError: the run cannot start as asked (before anything runs).
    input_pipeline.DataUnavailableError: the data set cannot be loaded.
    NonFiniteLossError: the loss stopped being finite (earlier checkpoints
      are kept).
    StoppedOnRequest: Ctrl-C or SIGTERM stopped it, after a checkpoint of
      the last step.
  """
  num_processes, is_main = jax.process_count(), jax.process_index() == 0
  check_run(config, workdir, restart=restart)
  if data is None:
    data = input_pipeline.load(
        config.dataset,
        data_dir=config.data_dir,
        manual_dir=config.tfds_manual_dir,
    )
  distributed.wait_for_every_process("train: data loaded")
  local_batch = config.batch_size // num_processes
  spe = input_pipeline.steps_per_epoch(data, local_batch, num_processes)
  if spe == 0:
    raise startup.StartupError(
        f"config.batch_size: expected at most the training set size "
        f"{data.train_size}, got {config.batch_size}."
    )
  if is_main:
    if restart:
      _start_over(workdir)
    os.makedirs(workdir, exist_ok=True)
    startup.record_config(config, workdir)
  distributed.wait_for_every_process("train: workdir ready")
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  sharding = NamedSharding(mesh, P("data"))
  keys = train_state.named_keys(config.seed)
  num_steps = train_state.num_train_steps(config, spe)
  schedule = train_state.learning_rate_schedule(config, spe, num_steps)
  graphdef, state = train_state.create_train_state(
      config,
      keys["init"],
      mesh,
      schedule=schedule,
      num_classes=data.num_classes,
      in_channels=data.train_images.shape[-1],
  )
  stats = dict(mean=data.mean, std=data.std)
  train_step = steps.make_train_step(
      config,
      graphdef,
      mesh,
      num_classes=data.num_classes,
      image_size=data.train_images.shape[1:3],
      **stats,
  )
  eval_step = steps.make_eval_step(config, graphdef, **stats)
  manager = checkpointing.checkpoint_manager(
      workdir,
      every_steps=config.checkpoint_every_steps,
      keep=config.keep_checkpoints,
      final_step=num_steps,
  )
  start = manager.latest_step() or 0
  if start:
    state = checkpointing.restore(manager, start, state)
    print(
        f"Resumed from the checkpoint at step {start} in {workdir}.", flush=True
    )
  writer = metric_writers.MetricWriter(
      workdir, resume_step=start, enabled=is_main
  )
  order_seed = train_state.data_seed(keys["data"])
  aug_seed = train_state.data_seed(keys["augment"])

  def host_batch(i):  # This process's rows of step i + 1.
    images, labels = input_pipeline.train_batch(
        data, order_seed, i, local_batch, spe
    )
    if config.augment.on == "host":
      images = input_pipeline.crop_and_flip_host(
          images,
          (aug_seed, i, jax.process_index()),
          pad=config.augment.pad,
          flip=config.augment.flip,
      )
    return images, labels

  if start == 0 and config.num_plot_samples > 0:
    first = input_pipeline.train_batch(data, order_seed, 0, local_batch, spe)
    _plot_mixed_batch(config, workdir, sharding, data, keys, first)
  batches = (host_batch(i) for i in range(start, num_steps))
  if config.augment.on == "host":
    batches = input_pipeline.prefetch(batches)

  def test_metrics_at(step):
    return dict(
        step=step,
        epoch=round(step / spe, 4),
        split="test",
        **evaluate(
            eval_step,
            state,
            data,
            local_batch=config.eval_batch_size // num_processes,
            sharding=sharding,
        ),
    )

  from tqdm import auto as tqdm

  bar = tqdm.tqdm(
      total=num_steps,
      initial=start,
      unit="step",
      dynamic_ncols=True,
      disable=not (is_main and config.progress_bar),
  )
  metrics = steps.empty_metrics(mesh)
  logged_step, logged_time = start, time.perf_counter()
  test_metrics, step = None, start
  with checkpointing.stop_on_request() as request:
    try:
      for step in range(start + 1, num_steps + 1):
        state, metrics = train_step(
            state,
            metrics,
            *_put_batch(sharding, *next(batches)),
            keys["augment"],
            keys["dropout"],
        )
        bar.update(1)
        epoch, end_of_epoch = round(step / spe, 4), step % spe == 0
        last = step == num_steps
        stop = (
            None if last else checkpointing.stop_signal(request, manager, step)
        )
        if step % config.log_every_steps == 0 or end_of_epoch or last or stop:
          values = steps.compute_metrics(metrics)
          _stop_if_not_finite(
              state, manager, logged_step + 1, step, values["loss"]
          )
          now = time.perf_counter()
          speed = (step - logged_step) * config.batch_size / (now - logged_time)
          writer.write(
              step=step,
              split="train",
              epoch=epoch,
              **values,
              learning_rate=float(schedule(step - 1)),
              images_per_second=speed,
          )
          bar.set_postfix(epoch=f"{epoch:.2f}", loss=f"{values['loss']:.3f}")
          metrics = steps.empty_metrics(mesh)
          logged_step, logged_time = step, now
        if manager.should_save(step) or stop:
          _stop_if_not_finite(state, manager, logged_step + 1, step)
          checkpointing.save(manager, step, state)
        if stop:
          who = f" (process {jax.process_index()} of {num_processes})"
          raise StoppedOnRequest(
              f"Stopped on {signal.Signals(stop).name} after step {step} of "
              f"{num_steps}{who if num_processes > 1 else ''}; its checkpoint "
              f"is in {manager.directory}. Run the same command again to "
              "resume from it.",
              stop,
          )
        if (
            end_of_epoch
            and (step // spe) % config.eval_every_epochs == 0
            or last
        ):
          test_metrics = test_metrics_at(step)
          writer.write(**test_metrics)
          if is_main:
            bar.write(
                f"step {step} epoch {epoch:.2f}: test loss "
                f"{test_metrics['loss']:.4f}, accuracy {test_metrics['accuracy']:.4f}"
            )
    finally:
      bar.close()
      writer.close()
      manager.wait_until_finished()

  if test_metrics is None:  # Nothing left to train: it had finished.
    test_metrics = test_metrics_at(step)
  if is_main:
    from train import plots

    plots.plot_curves(
        os.path.join(workdir, "curves.png"),
        metric_writers.read_metrics(writer.path),
    )
  who = f"process {jax.process_index()} of {num_processes}: "
  print(
      f"{who if num_processes > 1 else ''}Final test accuracy: "
      f"{100 * test_metrics['accuracy']:.2f}% (loss {test_metrics['loss']:.6f}, "
      f"step {test_metrics['step']}, epoch {test_metrics['epoch']:g}, "
      f"{config.dataset}, {config.model.name}-{config.model.depth}, mixing: "
      f"{config.cutmix.method}).",
      flush=True,
  )
  manager.close()
  return test_metrics
