"""Requirement 7: the public API's shape (names, argument kinds), as dm_pix does.

The rule, which the whole API follows (0.3):

* random functions take the PRNG key first, as a parameter named ``rng``;
* a function's leading parameters are its *data*: positional-or-keyword and
  without a default (arrays, params, static sizes such as ``height``);
* everything after the data is an *option*: keyword-only, with a default;
* the only options that may also be passed positionally are the paper's
  ``alpha`` (``cutmix(rng, images, labels, 1.0)``) and ResizeMix's
  ``scale``, right after the data;
* for ``cutmix`` and ``mixup`` everything after ``alpha`` is keyword-only;
* nothing takes ``*args`` or ``**kwargs``.

`api_violations` is that rule as code; it is applied to every public function
and, to show it has teeth, to signatures that break it.
"""

import inspect
import os

import pytest

import cutmix_jax

RANDOM = ("cutmix", "mixup", "mixup_or_cutmix", "resizemix", "one_of")
POSITIONAL_OPTIONS = {
    "cutmix": ("alpha",),
    "mixup": ("alpha",),
    "resizemix": ("scale",),
}
FUNCTIONS = sorted(
    n for n in cutmix_jax.__all__ if inspect.isfunction(getattr(cutmix_jax, n))
)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
P = inspect.Parameter
# 0.2 names that 0.3 removed or made private (the CHANGELOG says what
# replaces each); none may come back by accident.
REMOVED = (
    "sample_cutmix_params",
    "sample_mixup_params",
    "sample_mixup_or_cutmix_params",
    "box_area",
    "box_from_center",
    "box_from_lambda",
    "rescale_boxes",
    "box_mask",
    "label_weights",
    "soft_labels",
    "check_labels_in_range",
    "mix_images",
)


def test_all_matches_exports():
  exported = {n for n in vars(cutmix_jax) if not n.startswith("_")}
  assert set(cutmix_jax.__all__) == exported
  assert len(cutmix_jax.__all__) == len(set(cutmix_jax.__all__))
  for name in cutmix_jax.__all__:
    assert getattr(cutmix_jax, name).__doc__, name


def test_the_surface_is_small():
  """Issue 17: at most 16 public names; the random functions stay in it."""
  assert len(cutmix_jax.__all__) <= 16, cutmix_jax.__all__
  assert {"cutmix", "mixup", "mixup_or_cutmix", "with_params", "boxes"} <= set(
      cutmix_jax.__all__
  )
  assert cutmix_jax.__version__.startswith("0.3")
  for name in REMOVED:
    assert not hasattr(cutmix_jax, name), name


def test_cutmix_has_at_most_12_parameters_and_no_0_2_flags():
  params = inspect.signature(cutmix_jax.cutmix).parameters
  assert len(params) <= 12, list(params)
  for gone in (
      "spatial_axes",
      "return_params",
      "minmax",
      "center_std",
      "box_size",
      "patch_size",
      "input_size",
  ):
    for name in RANDOM:
      assert gone not in inspect.signature(getattr(cutmix_jax, name)).parameters


def test_the_box_rules_are_one_namespace():
  rules = {n for n in vars(cutmix_jax.boxes) if not n.startswith("_")}
  assert {
      "paper",
      "gaussian_center",
      "fixed_size",
      "minmax",
      "on_patch_grid",
      "at_resolution",
  } <= rules
  for name in rules:
    assert getattr(cutmix_jax.boxes, name).__doc__, name


@pytest.mark.parametrize("shows_fields", [True, False])
def test_a_box_rule_of_your_own_plugs_in(shows_fields):
  """As the CHANGELOG says: a frozen dataclass with `validate` and `draw`
  (``repr=False`` too, as the library's own rules are declared)."""
  import dataclasses

  import jax
  import jax.numpy as jnp
  import numpy as np

  @dataclasses.dataclass(frozen=True, repr=shows_fields)
  class Corner(cutmix_jax.boxes.BoxRule):
    side: int = 2

    def validate(self, size, where):
      if min(size) < self.side:
        raise ValueError(f"box: {self.side} does not fit {where}")

    def draw(self, key, shape, size, alpha):
      box = jnp.array([0] * len(size) + [self.side] * len(size), jnp.int32)
      return jnp.broadcast_to(box, (*shape, 2 * len(size)))

  assert "Corner(" in repr(Corner())
  images, labels = jnp.zeros((4, 8, 8, 1)), jnp.arange(4)
  mix = cutmix_jax.with_params(cutmix_jax.cutmix)
  jitted = jax.jit(mix, static_argnames=("num_classes", "box"))
  for fn in (mix, jitted):
    _, soft, params = fn(
        jax.random.key(0), images, labels, num_classes=4, box=Corner()
    )
    applied = np.asarray(params.applied)
    assert applied.any()
    assert (np.asarray(params.box)[applied] == [0, 0, 2, 2]).all()
    np.testing.assert_allclose(np.asarray(params.lam)[applied], 1 - 4 / 64)
  grid = cutmix_jax.boxes.on_patch_grid(4, Corner(1))
  params = mix(jax.random.key(0), images, labels, num_classes=4, box=grid)[2]
  assert set(np.asarray(params.box).ravel()) <= {0, 4}
  with pytest.raises(ValueError, match="does not fit"):
    cutmix_jax.cutmix(
        jax.random.key(0), images, labels, num_classes=4, box=Corner(9)
    )


def test_every_public_name_is_in_the_readme_api_table():
  """A new public function cannot ship undocumented."""
  readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
  api = readme[readme.index("## API") :]
  api = api[: api.index("\n## ", 1)]
  missing = [n for n in cutmix_jax.__all__ if f"`{n}" not in api]
  assert not missing, f"not in README's API section: {missing}"


def test_mix_params_fields():
  assert cutmix_jax.MixParams._fields[:5] == (
      "box",
      "lam",
      "partner",
      "applied",
      "is_cutmix",
  )


@pytest.mark.parametrize("name", RANDOM)
def test_random_functions_take_rng_first(name):
  params = list(
      inspect.signature(getattr(cutmix_jax, name)).parameters.values()
  )
  assert params[0].name == "rng"
  assert params[0].kind == P.POSITIONAL_OR_KEYWORD
  assert params[0].default is P.empty


def test_only_random_functions_take_rng():
  for name in FUNCTIONS:
    takes_rng = "rng" in inspect.signature(getattr(cutmix_jax, name)).parameters
    assert takes_rng == (name in RANDOM), name


@pytest.mark.parametrize("name", ["cutmix", "mixup"])
def test_everything_after_alpha_is_keyword_only(name):
  sig = inspect.signature(getattr(cutmix_jax, name)).parameters
  names = list(sig)
  assert names[:4] == ["rng", "images", "labels", "alpha"]
  assert all(sig[n].kind == P.KEYWORD_ONLY for n in names[4:])
  assert {
      "num_classes",
      "mode",
      "prob",
      "label_smoothing",
      "axis_name",
  } <= set(names[4:])


def api_violations(fn, positional_options=()) -> list[str]:
  """How ``fn``'s signature breaks the rule in the module docs (empty: it keeps it)."""
  params = list(inspect.signature(fn).parameters.values())
  problems = []
  seen_option = False
  for p in params:
    if p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD):
      problems.append(f"takes *{p.name}")
    elif p.kind == P.KEYWORD_ONLY:
      if p.default is P.empty:
        problems.append(f"keyword-only {p.name!r} has no default")
    elif p.kind != P.POSITIONAL_OR_KEYWORD:
      problems.append(f"{p.name!r} is {p.kind.description}")
    elif p.default is P.empty:
      if seen_option:
        problems.append(f"data {p.name!r} comes after an option")
    else:
      seen_option = True
      if p.name not in positional_options:
        problems.append(f"option {p.name!r} must be keyword-only")
  positional = [
      p.name
      for p in params
      if p.kind == P.POSITIONAL_OR_KEYWORD and p.default is not P.empty
  ]
  if positional != list(positional_options):
    problems.append(
        f"positional options {positional}, expected "
        f"{list(positional_options)}"
    )
  return problems


@pytest.mark.parametrize("name", FUNCTIONS)
def test_options_after_data_are_keyword_only(name):
  fn = getattr(cutmix_jax, name)
  assert api_violations(fn, POSITIONAL_OPTIONS.get(name, ())) == []


def _positional_mode(rng, images, labels, alpha=1.0, mode="batch"):
  del rng, images, labels, alpha, mode


def _variadic(rng, images, *args, alpha=1.0):
  del rng, images, args, alpha


def _data_after_option(rng, alpha=1.0, *, images):
  del rng, alpha, images


@pytest.mark.parametrize(
    "bad, expected",
    [
        (_positional_mode, "option 'mode' must be keyword-only"),
        (_variadic, "takes *args"),
        (_data_after_option, "keyword-only 'images' has no default"),
    ],
)
def test_the_api_rule_rejects_signatures_that_break_it(bad, expected):
  """The same check as above finds each kind of break (it is not vacuous)."""
  assert expected in api_violations(bad, ("alpha",))


def test_shared_option_names_and_defaults_agree():
  """The same option has the same default in every function that takes it.

  (`per_shard` is the exception: its ``axis_name`` names the mesh axis,
  ``"data"`` by default, where the mixing functions default to no axis.)
  """
  defaults = {}
  for name in FUNCTIONS:
    if name == "per_shard":
      continue
    for p in inspect.signature(getattr(cutmix_jax, name)).parameters.values():
      if p.kind == P.KEYWORD_ONLY:
        defaults.setdefault(p.name, set()).add(repr(p.default))
  for option in (
      "mode",
      "prob",
      "label_smoothing",
      "axis_name",
      "axes",
      "box",
      "label_mode",
      "num_classes",
  ):
    assert len(defaults[option]) == 1, (option, defaults[option])


def test_with_params_returns_the_params_of_a_partial_too():
  import functools

  import jax
  import jax.numpy as jnp

  images, labels = jnp.zeros((4, 8, 6, 3)), jnp.arange(4)
  plain = cutmix_jax.cutmix(jax.random.key(0), images, labels, num_classes=4)
  for fn in (
      cutmix_jax.cutmix,
      functools.partial(cutmix_jax.cutmix, num_classes=4),
  ):
    out = (
        cutmix_jax.with_params(fn)(
            jax.random.key(0), images, labels, num_classes=4
        )
        if fn is cutmix_jax.cutmix
        else cutmix_jax.with_params(fn)(jax.random.key(0), images, labels)
    )
    assert len(out) == 3 and isinstance(out[2], cutmix_jax.MixParams)
    # The same draw as the plain call: the params are a view, not a change.
    for a, b in zip(out[:2], plain):
      assert (jnp.asarray(a) == jnp.asarray(b)).all()
