"""Every public function is annotated, parameters and return type alike.

The package ships ``py.typed``, so a user's type checker reads these
annotations; mypy (`make lint`) checks that they hold inside the package.
"""

import inspect

import pytest

import cutmix_jax

PUBLIC_FUNCTIONS = sorted(
    name
    for name in cutmix_jax.__all__
    if inspect.isfunction(getattr(cutmix_jax, name))
)


def unannotated(fn) -> list[str]:
  """What ``fn`` leaves unannotated: parameter names, then ``"return"``."""
  signature = inspect.signature(fn)
  missing = [
      name
      for name, parameter in signature.parameters.items()
      if parameter.annotation is inspect.Parameter.empty
  ]
  if signature.return_annotation is inspect.Signature.empty:
    missing.append("return")
  return missing


def test_every_public_name_is_a_function_a_class_or_the_box_rules():
  for name in cutmix_jax.__all__:
    obj = getattr(cutmix_jax, name)
    if inspect.ismodule(obj):
      assert name == "boxes", name
    else:
      assert inspect.isfunction(obj) or inspect.isclass(obj), name
  assert "cutmix" in PUBLIC_FUNCTIONS


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n in vars(cutmix_jax.boxes)
        if inspect.isfunction(getattr(cutmix_jax.boxes, n))
    ),
)
def test_box_rule_constructor_is_fully_annotated(name):
  assert unannotated(getattr(cutmix_jax.boxes, name)) == []


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_is_fully_annotated(name):
  assert (
      unannotated(getattr(cutmix_jax, name)) == []
  ), f"cutmix_jax.{name}: annotate these (ArrayLike in, jax.Array out)"


def test_the_check_finds_what_is_missing():
  def half_annotated(x: int, y, *, z: float = 0.0):
    del y, z
    return x

  def annotated(x: int) -> int:
    return x

  assert unannotated(half_annotated) == ["y", "return"]
  assert unannotated(annotated) == []
