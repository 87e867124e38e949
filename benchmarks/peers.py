"""The implementations a user would otherwise pick, each loaded only if installed.

* Keras 3 ``keras.layers.CutMix`` on the JAX backend, called the way a JAX
  user has to: ``stateless_call`` under ``jax.jit``, with the layer's seed
  state fed from a JAX key so the call is a pure function.
* timm's ``Mixup`` (PyTorch on CPU) in ``batch`` and ``elem`` mode. timm's
  package imports torchvision, which fails beside the CPU torch build these
  machines install, so its ``timm/data/mixup.py`` file is loaded on its own
  (it needs only torch and NumPy).

Every loader returns ``(thing, None)`` or ``(None, reason)``; the reason is
what the table prints, e.g. ``"not installed"``.
"""

import functools
import importlib.metadata
import importlib.util
import os
import pathlib


@functools.cache
def load_keras():
  """The ``keras`` module on the JAX backend, or the reason it cannot load."""
  if importlib.util.find_spec("keras") is None:
    return None, "not installed"
  # The backend is chosen once, at first import: say JAX before that.
  os.environ.setdefault("KERAS_BACKEND", "jax")
  try:
    import keras
  except Exception as e:
    return None, f"import failed: {type(e).__name__}"
  if keras.backend.backend() != "jax":
    return None, f"keras backend is {keras.backend.backend()}, not jax"
  return keras, None


@functools.cache
def load_timm_mixup():
  """timm's ``timm.data.mixup`` module (with torch), or why it cannot load."""
  if importlib.util.find_spec("torch") is None:
    return None, "not installed (torch)"
  spec = importlib.util.find_spec("timm")
  if spec is None or not spec.submodule_search_locations:
    return None, "not installed"
  path = (
      pathlib.Path(list(spec.submodule_search_locations)[0])
      / "data"
      / "mixup.py"
  )
  if not path.exists():
    return None, f"not installed ({path.name} missing)"
  try:
    module_spec = importlib.util.spec_from_file_location(
        "timm_data_mixup", path
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
  except Exception as e:
    return None, f"import failed: {type(e).__name__}"
  return module, None


def timm_version() -> str | None:
  """timm's version from its metadata, without importing the package."""
  try:
    return importlib.metadata.version("timm")
  except importlib.metadata.PackageNotFoundError:
    return None


def keras_cutmix_fn(keras, num_classes: int):
  """Keras's CutMix as a pure JAX function ``(rng, images, labels) -> (images, labels)``.

  The layer keeps its randomness in a seed-generator variable; the stateless
  call takes that state as an input, so the key's raw data is passed in as
  the state and the updated state is dropped.
  """
  import jax

  layer = keras.layers.CutMix(seed=0)
  layer.build((None, None, None, None))

  def cutmix(rng, images, labels):
    state = [jax.random.key_data(rng).astype("uint32").reshape(-1)[:2]]
    onehot = jax.nn.one_hot(labels, num_classes)
    out, _ = layer.stateless_call(
        [], state, {"images": images, "labels": onehot}, training=True
    )
    return out["images"], out["labels"]

  return cutmix
