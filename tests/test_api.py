"""Requirement 7: the public API's shape (names, argument kinds), as dm_pix does.

The rule, which the whole API follows:

* random functions take the PRNG key first, as a parameter named ``rng``;
* a function's leading parameters are its *data*: positional-or-keyword and
  without a default (arrays, params, static sizes such as ``height``);
* everything after the data is an *option*: keyword-only, with a default;
* the only options that may also be passed positionally are the paper's
  ``alpha`` (``cutmix(rng, images, labels, 1.0)``) and ``soft_labels``'s
  ``num_classes`` (``soft_labels(labels, 10)``), both right after the data;
* for ``cutmix`` and ``mixup`` everything after ``alpha`` is keyword-only;
* nothing takes ``*args`` or ``**kwargs``.
"""

import inspect

import pytest

import cutmix_jax

RANDOM = ("cutmix", "mixup", "mixup_or_cutmix", "sample_cutmix_params",
          "sample_mixup_params", "sample_mixup_or_cutmix_params")
POSITIONAL_OPTIONS = {
    "cutmix": ("alpha",),
    "mixup": ("alpha",),
    "sample_cutmix_params": ("alpha",),
    "sample_mixup_params": ("alpha",),
    "soft_labels": ("num_classes",),
}
FUNCTIONS = sorted(n for n in cutmix_jax.__all__ if n != "MixParams")
P = inspect.Parameter


def test_all_matches_exports():
  exported = {n for n, v in vars(cutmix_jax).items()
              if not n.startswith("_") and not inspect.ismodule(v)}
  assert set(cutmix_jax.__all__) == exported
  assert len(cutmix_jax.__all__) == len(set(cutmix_jax.__all__))
  assert list(cutmix_jax.__all__) == sorted(cutmix_jax.__all__)
  for name in cutmix_jax.__all__:
    assert getattr(cutmix_jax, name).__doc__, name


def test_all_is_complete():
  expected = {
      "MixParams", "blend", "box_area", "box_from_center", "box_from_lambda",
      "box_mask", "check_labels_in_range", "cut_and_paste", "cutmix",
      "label_weights", "mix_images", "mix_labels", "mixup", "mixup_or_cutmix",
      "pasted_fraction", "per_shard", "rescale_boxes", "sample_cutmix_params",
      "sample_mixup_or_cutmix_params", "sample_mixup_params", "soft_labels"}
  assert set(cutmix_jax.__all__) == expected


def test_mix_params_fields():
  assert cutmix_jax.MixParams._fields == (
      "box", "lam", "partner", "applied", "is_cutmix")


@pytest.mark.parametrize("name", RANDOM)
def test_random_functions_take_rng_first(name):
  params = list(inspect.signature(getattr(cutmix_jax, name)).parameters.values())
  assert params[0].name == "rng"
  assert params[0].kind == P.POSITIONAL_OR_KEYWORD
  assert params[0].default is P.empty


def test_only_random_functions_take_rng():
  for name in FUNCTIONS:
    takes_rng = "rng" in inspect.signature(getattr(cutmix_jax, name)).parameters
    assert takes_rng == (name in RANDOM), name


@pytest.mark.parametrize("name", ["cutmix", "mixup"])
def test_everything_after_alpha_is_keyword_only(name):
  names = list(inspect.signature(getattr(cutmix_jax, name)).parameters)
  sig = inspect.signature(getattr(cutmix_jax, name)).parameters
  assert names[:4] == ["rng", "images", "labels", "alpha"]
  assert all(sig[n].kind == P.KEYWORD_ONLY for n in names[4:])
  assert {"num_classes", "mode", "prob", "label_smoothing", "axis_name",
          "return_params"} <= set(names[4:])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_options_after_data_are_keyword_only(name):
  params = list(inspect.signature(getattr(cutmix_jax, name)).parameters.values())
  allowed = POSITIONAL_OPTIONS.get(name, ())
  seen_option = False
  for p in params:
    assert p.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD), (name, p)
    if p.kind == P.KEYWORD_ONLY:
      assert p.default is not P.empty, (name, p.name)
      continue
    assert p.kind == P.POSITIONAL_OR_KEYWORD, (name, p)
    if p.default is P.empty:
      # Data: never after an option.
      assert not seen_option, (name, p.name)
    else:
      assert p.name in allowed, (
          f"{name}: option {p.name!r} must be keyword-only")
      seen_option = True
  positional_options = [p.name for p in params
                        if p.kind == P.POSITIONAL_OR_KEYWORD
                        and p.default is not P.empty]
  assert positional_options == list(allowed), name


def test_rule_would_catch_a_positional_option():
  """The rule is not vacuous: a made-up signature that breaks it fails it."""

  def bad(rng, images, labels, alpha=1.0, mode="batch"):  # pylint: disable=unused-argument
    pass

  params = list(inspect.signature(bad).parameters.values())
  offenders = [p.name for p in params if p.kind == P.POSITIONAL_OR_KEYWORD
               and p.default is not P.empty
               and p.name not in POSITIONAL_OPTIONS["cutmix"]]
  assert offenders == ["mode"]


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
      if p.kind == P.KEYWORD_ONLY and p.name not in ("mixup_alpha",):
        defaults.setdefault(p.name, set()).add(repr(p.default))
  for option in ("mode", "prob", "label_smoothing", "axis_name",
                 "return_params", "spatial_axes", "minmax", "label_mode",
                 "num_classes"):
    assert len(defaults[option]) == 1, (option, defaults[option])
