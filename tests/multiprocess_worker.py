"""One process of a two-process job on localhost; prints one JSON report line.

``python tests/multiprocess_worker.py PORT PROCESS_ID`` joins the job through
the trainer's `train.distributed.initialize`, then

* loads CIFAR-10 through the trainer's real loading code from a mocked TFDS
  whose examples are identifiable (example ``i`` of a split is an image
  filled with ``i``), slicing the splits with TFDS's own split arithmetic, and
  reports which examples this process got;
* compiles the trainer's train step on the global 2-process mesh and reports
  the collectives of its optimised HLO.

``tests/test_multiprocess.py`` starts two and asserts on the reports.
Importing this module does nothing (pytest's doctest collection imports it).
"""

SIZES = {"train": 48, "test": 20}
TEST_OFFSET = 100  # test example i is filled with 100 + i


def _identifiable_cifar(builder, split, **kwargs):
  """A mocked `_as_dataset`: the examples of ``split`` that TFDS's arithmetic picks."""
  import numpy as np
  import tensorflow as tf
  import tensorflow_datasets as tfds

  del builder, kwargs
  name = getattr(split, "split", split)  # an even split of "train" or "test"
  template = tfds.core.ShardedFileTemplate(
      data_dir="/nonexistent",
      template="{SPLIT}",
      dataset_name="cifar10",
      split=name,
      filetype_suffix="tfrecord",
  )
  splits = tfds.core.SplitDict(
      [
          tfds.core.SplitInfo(
              name=name,
              shard_lengths=[SIZES[name]],
              num_bytes=0,
              filename_template=template,
          )
      ]
  )
  (instruction,) = splits[split].file_instructions
  offset = TEST_OFFSET if name == "test" else 0
  ids = (
      np.arange(instruction.skip, instruction.skip + instruction.take) + offset
  )
  images = np.broadcast_to(
      ids[:, None, None, None].astype(np.uint8), (len(ids), 32, 32, 3)
  ).copy()
  return tf.data.Dataset.from_tensor_slices(
      {
          "image": images,
          "label": (ids % 10).astype(np.int64),
          "id": ids.astype(str),
      }
  )


def main():
  import json
  import sys

  from train import distributed

  port, process_id = sys.argv[1], int(sys.argv[2])
  distributed.initialize(
      coordinator=f"127.0.0.1:{port}",
      num_processes=2,
      process_id=process_id,
      timeouts=distributed.Timeouts(60, 60, 60),
  )

  from flax import nnx
  import jax
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P
  import numpy as np
  import tensorflow_datasets as tfds

  from train import input_pipeline
  from train import steps
  from train import train_state
  from train.configs import default

  input_pipeline._download_host_reachable = lambda *a, **k: True
  with tfds.testing.mock_data(as_dataset_fn=_identifiable_cifar):
    data = input_pipeline.load("cifar10", data_dir="/nonexistent/tfds")
  distributed.wait_for_every_process("worker: data loaded")

  # The train step for abstract inputs laid out as in the trainer: compiled,
  # not run (the other tests run it), so no model is initialised here.
  config = default.get_config()
  config.model.depth, config.model.width = 10, 4
  config.batch_size, config.num_train_steps = 16, 1
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  schedule = train_state.learning_rate_schedule(config, 1, 1)

  def build():
    model = train_state.create_model(config, 10, jax.random.key(0))
    return model, nnx.Optimizer(
        model, train_state.make_optimizer(config, schedule), wrt=nnx.Param
    )

  def laid_out(tree, spec):
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(
            x.shape, x.dtype, sharding=NamedSharding(mesh, spec)
        ),
        tree,
    )

  graphdef, state = nnx.split(nnx.eval_shape(build))
  step = steps.make_train_step(
      config, graphdef, mesh, num_classes=10, mean=data.mean, std=data.std
  )
  keys = train_state.named_keys(0)
  compiled = step.lower(
      laid_out(state, P()),
      laid_out(nnx.state(nnx.eval_shape(steps.new_metrics)), P()),
      laid_out(jax.ShapeDtypeStruct((16, 32, 32, 3), np.uint8), P("data")),
      laid_out(jax.ShapeDtypeStruct((16,), np.int32), P("data")),
      keys["augment"],
      keys["dropout"],
  ).compile()
  hlo = compiled.as_text()
  images_sharding = compiled.input_shardings[0][2]
  print(
      json.dumps(
          dict(
              process_index=jax.process_index(),
              process_count=jax.process_count(),
              devices=jax.device_count(),
              local_devices=jax.local_device_count(),
              train_ids=sorted(int(i) for i in data.train_images[:, 0, 0, 0]),
              test_ids=sorted(int(i) for i in data.test_images[:, 0, 0, 0]),
              labels_match=bool(
                  np.all(
                      data.train_labels == data.train_images[:, 0, 0, 0] % 10
                  )
              ),
              train_size=data.train_size,
              test_size=data.test_size,
              images_spec=str(images_sharding.spec),
              images_devices=len(images_sharding.device_set),
              images_processes=len(
                  {d.process_index for d in images_sharding.device_set}
              ),
              collectives=[
                  c
                  for c in (
                      "all-gather",
                      "all-to-all",
                      "collective-permute",
                      "reduce-scatter",
                  )
                  if c in hlo
              ],
              all_reduce="all-reduce" in hlo,
          )
      ),
      flush=True,
  )


if __name__ == "__main__":
  main()
