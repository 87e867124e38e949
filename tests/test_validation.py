"""Bad inputs: one table, one line a row, run against every function it fits.

Each row of `CASES` is ``(argument, bad value, exception, regex, functions)``;
it runs against each of its functions eagerly, while tracing under
`jax.jit` (array values traced, the others bound with `functools.partial`)
and through `per_shard` (run-time values given at call time, static options
bound before wrapping). The message must match the regex (by default: it
starts with the argument's name). `test_the_table_baseline_is_valid` shows
that the unchanged call is fine, so each row tests one thing.

Below the table: the box rules' constructors, the deterministic core
(TransMix's weights too), the cases of issue 17 that are not a bad argument
(narrow label dtypes, traced out-of-range labels), and the count of argument
checks in one call.
"""

import functools
import re
from typing import NamedTuple
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import mix_params
import cutmix_jax
from cutmix_jax import boxes

B, H, W, K = 4, 8, 6, 5
IMAGES = jnp.zeros((B, H, W, 3), jnp.float32)
LABELS = jnp.arange(B, dtype=jnp.int32)
KEY = jax.random.key(0)
NAN, INF = float("nan"), float("inf")

CUT = ("cutmix", "mixup_or_cutmix")
ALPHA = ("cutmix", "mixup")
PROB = ("cutmix", "mixup", "mixup_or_cutmix", "resizemix")
ALL = (*PROB, "one_of")
CUTS = (*CUT, "resizemix", "one_of")  # the functions that cut boxes
AXES = (*CUT, "resizemix")
ONE_OF = ("one_of",)
# one_of's choices in every row but its own: two methods that cut.
CHOICES = ((0.5, cutmix_jax.cutmix), (0.3, cutmix_jax.resizemix))
# Options that are numbers at run time: per_shard takes them at call time.
RUNTIME = {
    "alpha",
    "prob",
    "label_smoothing",
    "mixup_alpha",
    "cutmix_alpha",
    "switch_prob",
    "scale",
}
DATA = ("rng", "images", "labels")
KNOWN = ("eager", "per_shard")  # where the data's values are known


class Case(NamedTuple):
  arg: str
  value: object
  error: type
  regex: str | None = None  # None: the message starts with ``arg``
  fns: tuple[str, ...] = ALL
  also: dict | None = None  # other arguments of the same call
  hows: tuple[str, ...] = ("eager", "jit", "per_shard")


def _cutmix10(*args, **kwargs):  # a function, but not one of the library's
  return cutmix_jax.cutmix(*args, **kwargs)


def unexpected(name, replaced_by=""):
  """0.2's keywords are named, with what replaces each (the CHANGELOG's)."""
  hint = (
      rf".*0\.3 replaced it with {re.escape(replaced_by)}"
      if replaced_by
      else ""
  )
  return rf"^{name}: .*unexpected keyword argument '{name}'{hint}"


# fmt: off
CASES = [
    # rng
    Case("rng", jnp.zeros((2,), jnp.float32), TypeError),
    Case("rng", 0, TypeError),
    Case("rng", jax.random.split(KEY, 2), ValueError),
    Case("rng", jnp.zeros((3,), jnp.uint32), TypeError),
    # images
    Case("images", jnp.zeros((B,)), ValueError),
    Case("images", jnp.zeros((B, H)), ValueError, fns=CUTS),
    Case("images", jax.random.split(KEY, (B, H, W)), TypeError),
    Case("images", jnp.zeros((B, H, W, 1), bool), TypeError, fns=("mixup", "mixup_or_cutmix")),
    Case("images", jnp.zeros((0, H, W, 3)), ValueError),
    Case("images", "images", TypeError, r"^images: expected an array, got str"),
    Case("images", [[1.0, 2.0], [3.0]], TypeError, r"^images: expected a rectangular array, got \[\[1\.0"),  # noqa: E501
    # Issue 17, 15: a batch dict.
    Case("images", {"image": IMAGES, "label": LABELS}, TypeError, r"^images: expected an array, got dict"),  # noqa: E501
    # Issue 17, 14: channels-first with the default axes.
    Case("images", jnp.zeros((8, 3, 32, 32)), ValueError, r"^images\b.*axes=\(2, 3\)", CUTS),
    # Issue 17, 11: an empty or oversized cut axis, under images.
    Case("images", jnp.zeros((B, 0, W, 3)), ValueError, r"^images\b.*\(4, 0, 6, 3\)", CUTS),
    Case("images", jax.ShapeDtypeStruct((2, 50000, 50000, 1), jnp.uint8), ValueError, r"^(images|axes)\b.*50000", CUTS),  # noqa: E501
    # Issue 17, 4: a cut axis of 2 cells can never paste anything.
    Case("images", jnp.zeros((B, 2, W, 3)), ValueError, r"^box\b", CUT),
    Case("images", jnp.zeros((B, 2, H, W, 3)), ValueError, r"^box\b", CUT, {"axes": (1, 2, 3)}),
    # ResizeMix pastes on 2 cells, not on 1.
    Case("images", jnp.zeros((B, 1, W, 3)), ValueError, r"^images\b.*2 or more cells", ("resizemix",)),  # noqa: E501
    # labels
    # NumPy's int64 beyond int32, before JAX would wrap it (x64 off).
    Case("images", np.full((B, H, W, 3), 2**40, np.int64), ValueError, r"^images\b.*1099511627776", hows=KNOWN),  # noqa: E501
    Case("labels", jnp.arange(B + 1), ValueError),
    Case("labels", jnp.zeros((B - 1, K)), ValueError),
    Case("labels", jnp.zeros((B, K + 1)), ValueError),
    Case("labels", jnp.zeros((B,)), ValueError),
    Case("labels", jnp.zeros((B, K, 1)), ValueError),
    Case("labels", jnp.zeros((B, K), jnp.int32), ValueError),
    Case("labels", jnp.ones((B,), bool), TypeError),
    Case("labels", {"label": LABELS}, TypeError, r"^labels: expected an array, got dict"),
    # Known labels out of range (traced ones: see below).
    Case("labels", np.array([0, 1, 2, K]), ValueError, r"^labels\b.*\[0, 5\)", hows=KNOWN),
    Case("labels", jnp.array([0, -1, 2, 3]), ValueError, r"^labels\b.*\[0, 5\)", hows=KNOWN),
    Case("labels", np.array([0, 1, 2, 99], np.uint8), ValueError, hows=KNOWN),
    # Beyond int32, before JAX would wrap them to a valid class.
    Case("labels", np.array([0, 1, 2, 2**32], np.int64), ValueError, r"^labels\b.*4294967296", hows=KNOWN),  # noqa: E501
    Case("labels", [0, 1, 2, 2**40], ValueError, r"^labels\b", hows=("eager",)),
    # num_classes
    Case("num_classes", None, ValueError),
    Case("num_classes", 0, ValueError),
    Case("num_classes", True, TypeError),
    Case("num_classes", 2.0, TypeError),
    Case("num_classes", 2**31, ValueError),  # not JAX's overflow of the labels
    # alpha (mixup_or_cutmix has two alphas of its own)
    Case("alpha", 0.0, ValueError, fns=ALPHA),
    Case("alpha", -1.0, ValueError, fns=ALPHA),
    Case("alpha", INF, ValueError, fns=ALPHA),
    Case("alpha", NAN, ValueError, fns=ALPHA),
    Case("alpha", 1e39, ValueError, fns=ALPHA),
    Case("alpha", jnp.float32(-1.0), ValueError, fns=ALPHA),
    Case("alpha", np.float32(NAN), ValueError, fns=ALPHA),
    Case("alpha", "1.0", TypeError, fns=ALPHA),
    Case("alpha", True, TypeError, fns=ALPHA),
    Case("alpha", jnp.ones(2), TypeError, fns=ALPHA),
    Case("mixup_alpha", -0.5, ValueError, fns=("mixup_or_cutmix",)),
    Case("mixup_alpha", INF, ValueError, fns=("mixup_or_cutmix",)),
    Case("cutmix_alpha", -1, ValueError, fns=("mixup_or_cutmix",)),
    Case("cutmix_alpha", jnp.float32(INF), ValueError, fns=("mixup_or_cutmix",)),
    Case("mixup_alpha", 0.0, ValueError, r"mixup_alpha.*cutmix_alpha|cutmix_alpha.*mixup_alpha", ("mixup_or_cutmix",), {"cutmix_alpha": 0}),  # noqa: E501
    # prob, switch_prob, label_smoothing
    Case("prob", -0.1, ValueError, fns=PROB),
    Case("prob", 1.5, ValueError, fns=PROB),
    Case("prob", NAN, ValueError, fns=PROB),
    Case("prob", "0.5", TypeError, fns=PROB),
    Case("switch_prob", 2.0, ValueError, fns=("mixup_or_cutmix",)),
    Case("label_smoothing", 1.0, ValueError),
    Case("label_smoothing", 0.99999999, ValueError),  # 1.0 as a float32
    Case("label_smoothing", -0.5, ValueError),
    Case("label_smoothing", INF, ValueError),
    Case("label_smoothing", "0.1", TypeError),
    # axis_name outside shard_map (or a typo): not JAX's unbound-axis NameError.
    Case("axis_name", "data", ValueError, r"^axis_name\b.*shard_map", hows=("eager", "jit")),
    # mode, label_mode
    Case("mode", "global", ValueError),
    Case("mode", "Batch", ValueError),
    Case("label_mode", "soft", ValueError, fns=CUT),
    Case("label_mode", "area ", ValueError, fns=CUT),
    # axes
    Case("axes", (1, 4), ValueError, fns=AXES),
    Case("axes", (-5, 2), ValueError, fns=AXES),
    Case("axes", (0, 1), ValueError, fns=AXES),
    Case("axes", (-4, 2), ValueError, fns=AXES),
    Case("axes", (1, 1), ValueError, fns=AXES),
    Case("axes", (2, -2), ValueError, fns=AXES),
    Case("axes", (), ValueError, fns=AXES),
    Case("axes", (1.0, 2.0), TypeError, fns=AXES),
    Case("axes", (1, 2, 3, 4), ValueError, fns=AXES, also={"images": jnp.zeros((B, 2, H, W, 3))}),
    Case("axes", (1, 4), ValueError, fns=("mixup_or_cutmix",), also={"cutmix_alpha": 0}),
    # box: not a rule, or a rule that cannot paste on these cut axes
    Case("box", "paper", TypeError, fns=CUT),
    Case("box", (0.2, 0.8), TypeError, fns=CUT),
    Case("box", boxes.minmax(0.5, 0.55), ValueError, fns=CUT),
    Case("box", boxes.fixed_size(H + 1), ValueError, fns=CUT),
    Case("box", boxes.fixed_size((2, W + 1)), ValueError, fns=CUT),
    Case("box", boxes.fixed_size((2, 2, 2)), ValueError, fns=CUT),
    Case("box", boxes.fixed_size(1), ValueError, fns=CUT),  # issue 17, 4
    Case("box", boxes.on_patch_grid(3), ValueError, fns=CUT),
    Case("box", boxes.on_patch_grid(16), ValueError, fns=CUT, also={"images": jnp.zeros((B, 32, 32, 3))}),  # noqa: E501
    Case("box", boxes.at_resolution((32, 32, 3)), ValueError, fns=CUT),
    # scale (ResizeMix): a pair (lo, hi) in [0, 1]; a known array is read as one.
    Case("scale", (0.8, 0.1), ValueError, fns=("resizemix",)),
    Case("scale", (-0.1, 0.5), ValueError, fns=("resizemix",)),
    Case("scale", (0.2, 1.5), ValueError, fns=("resizemix",)),
    Case("scale", 0.5, TypeError, fns=("resizemix",)),
    Case("scale", (0.1, 0.2, 0.3), TypeError, fns=("resizemix",)),
    Case("scale", np.array([0.6, 0.5]), ValueError, fns=("resizemix",)),
    Case("scale", jnp.array([0.2, 1.5]), ValueError, fns=("resizemix",)),
    # choices (one_of): (probability, fn) pairs of the library's functions.
    Case("choices", ((1.5, cutmix_jax.cutmix),), ValueError, fns=ONE_OF),
    Case("choices", ((-0.1, cutmix_jax.cutmix),), ValueError, fns=ONE_OF),
    Case("choices", ((NAN, cutmix_jax.cutmix),), ValueError, fns=ONE_OF),
    Case("choices", ((0.6, cutmix_jax.cutmix), (0.6, cutmix_jax.mixup)), ValueError, fns=ONE_OF),
    Case("choices", ((0.5, "cutmix"),), TypeError, fns=ONE_OF),
    Case("choices", ((0.5, _cutmix10),), TypeError, fns=ONE_OF),
    Case("choices", ((0.5, jnp.sum),), TypeError, fns=ONE_OF),
    # Options every method shares are one_of's own.
    Case("choices", ((0.5, functools.partial(cutmix_jax.cutmix, num_classes=10)),), TypeError, fns=ONE_OF),  # noqa: E501
    Case("choices", ((0.5, functools.partial(cutmix_jax.cutmix, mode="elem")),), TypeError, fns=ONE_OF),  # noqa: E501
    Case("choices", ((0.5, functools.partial(cutmix_jax.mixup, label_smoothing=0.1)),), TypeError, fns=ONE_OF),  # noqa: E501
    # An unknown keyword is a TypeError, as in a direct call.
    Case("choices", ((0.5, functools.partial(cutmix_jax.cutmix, beta=1.0)),), TypeError, fns=ONE_OF),  # noqa: E501
    Case("choices", ((0.5, functools.partial(cutmix_jax.cutmix, box_size=4)),), TypeError, fns=ONE_OF),  # noqa: E501
    Case("choices", ((0.5, cutmix_jax.with_params(cutmix_jax.cutmix)),), TypeError, fns=ONE_OF),
    Case("choices", (), TypeError, fns=ONE_OF),
    Case("choices", ((0.5,),), TypeError, fns=ONE_OF),
    Case("choices", (0.5, cutmix_jax.cutmix), TypeError, fns=ONE_OF),
    Case("choices", None, TypeError, fns=ONE_OF),
    Case("choices", ((0.5, functools.partial(cutmix_jax.cutmix, axes=(1, 2))), (0.5, functools.partial(cutmix_jax.resizemix, axes=(2, 3)))), ValueError, r"^choices\b.*same axes", ONE_OF),  # noqa: E501
    # Removed in 0.3 (the CHANGELOG says what replaces each).
    Case("spatial_axes", (1, 2), TypeError, unexpected("spatial_axes", "axes="), CUT),
    Case("return_params", True, TypeError, unexpected("return_params", "with_params(fn)")),
    Case("minmax", (0.2, 0.8), TypeError, unexpected("minmax", "box=boxes.minmax(lo, hi)"), CUT),
    Case("center_std", 0.1, TypeError, unexpected("center_std"), CUT),
    Case("box_size", 2, TypeError, unexpected("box_size"), CUT),
    Case("patch_size", 2, TypeError, unexpected("patch_size"), CUT),
    Case("input_size", (16, 12), TypeError, unexpected("input_size"), CUT),
]
# fmt: on


def _id(case: Case) -> str:
  value = case.value
  if isinstance(value, (jax.Array, np.ndarray)):
    value = f"{value.dtype}{list(value.shape)}"
  elif isinstance(value, jax.ShapeDtypeStruct):
    value = f"{value.dtype}{list(value.shape)}"
  elif isinstance(value, dict):
    value = "dict"
  # Without addresses: every xdist worker must collect the same ids.
  value = re.sub(r" at 0x[0-9a-f]+", "", str(value))
  return f"{case.arg}={value}"[:60]


def _call_args(fn_name: str, case: Case):
  """``(rng, images, labels)`` and the options of one call."""
  args = dict(rng=KEY, images=IMAGES, labels=LABELS, num_classes=K)
  if fn_name == "one_of":
    args["choices"] = CHOICES
  args.update(case.also or {})
  args[case.arg] = case.value
  images = args["images"]
  if case.arg != "labels" and hasattr(images, "shape") and images.shape[0] != B:
    args["labels"] = jnp.arange(images.shape[0]) % K
  data = tuple(args.pop(a) for a in DATA)
  return data, args


SINGLE_DEVICE = jax.make_mesh((1,), ("data",), devices=jax.devices()[:1])


def run(fn_name: str, how: str, data, options, *, traced_per_shard=False):
  """Calls ``fn_name`` one way; ``traced_per_shard``: trace per_shard's call."""
  fn = getattr(cutmix_jax, fn_name)
  if how == "eager":
    return fn(*data, **options)
  if how == "jit":
    # The data are traced; options are bound (a known value stays known).
    # Data that jit cannot trace (a string, a Python int) are bound too.
    traced = {
        k: v
        for k, v in zip(DATA, data)
        if all(
            isinstance(x, (jax.Array, np.ndarray, jax.ShapeDtypeStruct))
            for x in jax.tree.leaves(v)
        )
    }
    bound = {k: v for k, v in zip(DATA, data) if k not in traced}
    return jax.jit(functools.partial(fn, **bound, **options)).trace(**traced)
  assert how == "per_shard"
  at_call = {k: v for k, v in options.items() if k in RUNTIME}
  bound = {k: v for k, v in options.items() if k not in at_call}
  mix = cutmix_jax.per_shard(functools.partial(fn, **bound), SINGLE_DEVICE)
  if traced_per_shard:
    return jax.jit(mix).trace(*data, **at_call)
  return mix(*data, **at_call)


def _rows():
  for case in CASES:
    for fn_name in case.fns:
      for how in case.hows:
        if how == "per_shard" and fn_name != case.fns[0]:
          continue  # per_shard checks through the same rules: one function
        if how != "jit" and isinstance(case.value, jax.ShapeDtypeStruct):
          continue  # too large to build: traced only
        yield pytest.param(
            case, fn_name, how, id=f"{fn_name}-{how}-{_id(case)}"
        )


@pytest.mark.parametrize("case, fn_name, how", list(_rows()))
def test_bad_argument_is_refused_naming_it(case, fn_name, how):
  data, options = _call_args(fn_name, case)
  regex = case.regex or rf"^{re.escape(case.arg)}\b"
  with pytest.raises(case.error) as info:
    run(fn_name, how, data, options)
  assert re.search(
      regex, str(info.value), flags=re.S
  ), f"{type(info.value).__name__}: {info.value}\ndoes not match {regex!r}"


@pytest.mark.parametrize("how", ["eager", "jit", "per_shard"])
@pytest.mark.parametrize("fn_name", ALL)
def test_the_table_baseline_is_valid(fn_name, how):
  """The calls of the table without the bad value run (each row tests one thing).

  per_shard's is traced: its checks all run at trace time but the known
  labels', which pass with these labels in the eager row (the same check) and
  in test_sharding's eager per_shard calls. (Eagerly, per_shard dispatches
  every operation on its own: seconds a call.)
  """
  data, options = _call_args(fn_name, Case("num_classes", K, TypeError))
  out = run(fn_name, how, data, options, traced_per_shard=True)
  if how == "eager":
    mixed, soft = out
    assert mixed.shape == IMAGES.shape and soft.shape == (B, K)


def test_the_channels_first_check_leaves_explicit_axes_alone():
  """NCHW with axes=(2, 3) is fine; so is an NHWC batch of 3 rows of 32 wide.

  (A check of shapes: `jax.eval_shape` runs it without computing.)
  """
  nchw = jnp.zeros((8, 3, 32, 32))
  labels = jnp.arange(8) % K

  def shape(fn, images, **kw):
    mixed, _ = jax.eval_shape(
        lambda: fn(KEY, images, labels, num_classes=K, **kw)
    )
    return mixed.shape

  for fn in (cutmix_jax.cutmix, cutmix_jax.mixup_or_cutmix):
    assert shape(fn, nchw, axes=(2, 3)) == nchw.shape
    assert shape(fn, nchw, axes=(1, 2)) == nchw.shape
  # Not rank 4, or axis 1 wider than 4: not channels-first-looking.
  shape(cutmix_jax.cutmix, jnp.zeros((8, 5, 32, 32)))
  shape(cutmix_jax.cutmix, jnp.zeros((8, 3, 32)))
  # ... while the default axes on NCHW are refused (the table's row).
  with pytest.raises(ValueError, match=r"^images\b.*axes=\(2, 3\)"):
    shape(cutmix_jax.cutmix, nchw)


def test_a_missing_or_extra_positional_argument_is_named():
  with pytest.raises(TypeError, match=r"^cutmix: .*4 positional .*got 5"):
    cutmix_jax.cutmix(KEY, IMAGES, LABELS, 1.0, K)
  with pytest.raises(
      TypeError, match=r"^labels: expected an argument of mixup"
  ):
    cutmix_jax.mixup(KEY, IMAGES)


def test_a_traced_static_option_says_to_mark_it_static():
  for name, value in (("num_classes", K), ("axes", (1, 2))):
    fn = jax.jit(
        lambda v, name=name: cutmix_jax.cutmix(
            KEY, IMAGES, LABELS, **{"num_classes": K, name: v}
        )
    )
    with pytest.raises(TypeError, match=rf"^{name}:.*static_argnames"):
      fn(value if name == "num_classes" else jnp.asarray(value))


# ------------------------------------------------------------- box rules

# (constructor, arguments, exception, regex)
# fmt: off
RULE_CASES = [
    (boxes.gaussian_center, (0.0,), ValueError, r"^std\b"),
    (boxes.gaussian_center, (INF,), ValueError, r"^std\b"),
    (boxes.gaussian_center, ("0.2",), TypeError, r"^std\b"),
    (boxes.gaussian_center, (jnp.ones(2),), TypeError, r"^std\b"),
    (boxes.gaussian_center, (0.1, boxes.minmax(0.2, 0.8)), TypeError, r"^rule\b"),
    (boxes.gaussian_center, (0.1, boxes.gaussian_center(0.2)), TypeError, r"^rule\b"),
    (boxes.fixed_size, (0,), ValueError, r"^size\b"),
    (boxes.fixed_size, (2.5,), TypeError, r"^size\b"),
    (boxes.fixed_size, ((2, 2, 2, 2),), ValueError, r"^size\b"),
    (boxes.fixed_size, ((65536, 65536),), ValueError, r"^size\b.*2\*\*31"),  # int32 areas
    (boxes.minmax, (0.0, 0.5), ValueError, r"\blo\b"),
    (boxes.minmax, (0.5, 0.5), ValueError, r"\blo\b"),
    (boxes.minmax, (0.2, 1.2), ValueError, r"\bhi\b"),
    (boxes.minmax, (NAN, 0.5), ValueError, r"^lo\b"),
    (boxes.minmax, ("0.2", 0.8), TypeError, r"^lo\b"),
    (boxes.minmax, (0.2, jnp.ones(2)), TypeError, r"^hi\b"),
    (boxes.minmax, (0.8, 0.2), ValueError, r"^lo, hi: .*0 < lo < hi"),
    (boxes.on_patch_grid, (0,), ValueError, r"^patch_size\b"),
    (boxes.on_patch_grid, (16, "paper"), TypeError, r"^rule\b"),
    (boxes.at_resolution, ((0, 32),), ValueError, r"^input_size\b"),
    (boxes.at_resolution, ((32, 32), 3), TypeError, r"^rule\b"),
]
# fmt: on


@pytest.mark.parametrize(
    "make, args, error, regex",
    RULE_CASES,
    ids=[f"{c[0].__name__}{c[1]}" for c in RULE_CASES],
)
def test_box_rule_constructors_check_their_arguments(make, args, error, regex):
  with pytest.raises(error) as info:
    make(*args)
  assert re.search(regex, str(info.value)), str(info.value)


def test_box_rules_are_hashable_static_values():
  rules = [
      boxes.paper(),
      boxes.gaussian_center(0.1),
      boxes.fixed_size(4),
      boxes.fixed_size((4, 2)),
      boxes.gaussian_center(0.1, boxes.fixed_size(4)),
      boxes.minmax(0.2, 0.8),
      boxes.on_patch_grid(2),
      boxes.on_patch_grid((4, 2), boxes.minmax(0.2, 0.8)),
      boxes.at_resolution((32, 24)),
  ]
  assert len({hash(r) for r in rules}) == len(rules)
  assert boxes.minmax(0.2, 0.8) == boxes.minmax(0.2, 0.8)
  # Numbers known at trace time of any kind (as in 0.2) make the same rule;
  # traced ones cannot make a static value.
  assert boxes.minmax(jnp.float32(0.25), np.float64(0.75)) == boxes.minmax(
      0.25, 0.75
  )
  assert boxes.gaussian_center(jnp.float32(0.25)) == boxes.gaussian_center(0.25)
  # Sides as NumPy arrays (a part of np.shape), as 0.2 took them.
  assert boxes.fixed_size(np.array([4, 2])) == boxes.fixed_size((4, 2))
  assert boxes.on_patch_grid(np.array([2, 2])) == boxes.on_patch_grid((2, 2))
  # One side for every cut axis, as fixed_size and on_patch_grid read one.
  mix = cutmix_jax.with_params(cutmix_jax.cutmix)
  one, each = (
      mix(KEY, IMAGES, LABELS, num_classes=K, box=box, mode="elem")[2]
      for box in (boxes.at_resolution(32), boxes.at_resolution((32, 32)))
  )
  jax.tree.map(np.testing.assert_array_equal, one, each)
  size = np.asarray(IMAGES.shape)[1:3]
  assert cutmix_jax.pasted_fraction([0, 0, 2, 2], size) == 4 / (H * W)
  for make in (boxes.gaussian_center, lambda v: boxes.minmax(v, 0.9)):
    # Not "static_argnames=('std',)": the jitted function need not have it.
    with pytest.raises(
        TypeError, match=r"known at trace time.*the argument it comes from"
    ):
      jax.jit(make)(0.25)
  traces = []

  def step(rng, x, y, box):
    traces.append(box)
    return cutmix_jax.cutmix(rng, x, y, num_classes=K, box=box)

  step = jax.jit(step, static_argnames="box")
  step(KEY, IMAGES, LABELS, box=boxes.fixed_size(4))
  step(KEY, IMAGES, LABELS, box=boxes.fixed_size(4))
  step(KEY, IMAGES, LABELS, box=boxes.fixed_size(2))
  assert len(traces) == 2


# ----------------------------------------------------- deterministic core


def _params(batch=B, k=2):
  return mix_params(
      np.zeros((batch, 2 * k), np.int32),
      np.ones(batch),
      np.arange(batch)[::-1],
      applied=np.zeros(batch, bool),
  )


P = _params()


def _transmix(attention, **kwargs):
  """TransMix's weights for 6 rows on a 4 x 4 grid of 16 tokens (16 x 12
  images, patches 4 x 3)."""
  kwargs = {"image_size": (16, 12), "patch_size": (4, 3), **kwargs}
  return cutmix_jax.transmix_weights(attention, _params(6), **kwargs)


# (call, exception, regex)
# fmt: off
CORE_CASES = {
    "paste_batch": (lambda: cutmix_jax.cut_and_paste(IMAGES[:2], P), ValueError, r"^(images|params)\b"),  # noqa: E501
    "paste_axes": (lambda: cutmix_jax.cut_and_paste(IMAGES, P, axes=(0, 3)), ValueError, r"^axes\b"),  # noqa: E501
    "paste_box_axes": (lambda: cutmix_jax.cut_and_paste(IMAGES, P, axes=(1, 2, 3)), ValueError, r"^params\b.*box"),  # noqa: E501
    "paste_dict": (lambda: cutmix_jax.cut_and_paste({"x": IMAGES}, P), TypeError, r"^images: expected an array, got dict"),  # noqa: E501
    # Issue 17, 7: hand-built MixParams.
    "params_tuple": (lambda: cutmix_jax.cut_and_paste(IMAGES, tuple(P)), TypeError, r"^params\b"),
    "params_dict": (lambda: cutmix_jax.blend(IMAGES, P._asdict()), TypeError, r"^params\b"),
    "params_lam_column": (lambda: cutmix_jax.mix_labels(LABELS, P._replace(lam=jnp.ones((B, 1))), num_classes=K), ValueError, r"^params\b.*\blam\b"),  # noqa: E501
    "params_partner_7": (lambda: cutmix_jax.mix_labels(LABELS, P._replace(partner=jnp.array([7, 0, 1, 2])), num_classes=K), ValueError, r"^params\b.*\bpartner\b"),  # noqa: E501
    "params_lam_above_1": (lambda: cutmix_jax.mix_labels(LABELS, P._replace(lam=jnp.full(B, 1.5)), num_classes=K), ValueError, r"^params\b.*\blam\b"),  # noqa: E501
    "params_lam_nan": (lambda: cutmix_jax.blend(IMAGES, P._replace(lam=jnp.full(B, NAN))), ValueError, r"^params\b.*\blam\b"),  # noqa: E501
    "params_partner_2_32": (lambda: cutmix_jax.blend(IMAGES, P._replace(partner=np.array([2**32 + 1, 0, 1, 2]))), ValueError, r"^params\b.*\bpartner\b"),  # noqa: E501
    "params_partner_scalar": (lambda: cutmix_jax.blend(IMAGES, P._replace(partner=9)), ValueError, r"^params\b.*\bpartner\b.*\[9\]"),  # noqa: E501
    "params_partner_neg": (lambda: cutmix_jax.blend(IMAGES, P._replace(partner=jnp.array([-1, 0, 1, 2]))), ValueError, r"^params\b.*\bpartner\b"),  # noqa: E501
    "params_short_box": (lambda: cutmix_jax.cut_and_paste(IMAGES, P._replace(box=P.box[:-1])), ValueError, r"^params\b.*\bbox\b"),  # noqa: E501
    "params_short_applied": (lambda: cutmix_jax.blend(IMAGES, P._replace(applied=P.applied[:-1])), ValueError, r"^params\b.*\bapplied\b"),  # noqa: E501
    "params_float_partner": (lambda: cutmix_jax.blend(IMAGES, P._replace(partner=jnp.zeros(B))), TypeError, r"^params\b.*\bpartner\b"),  # noqa: E501
    "params_complex_lam": (lambda: cutmix_jax.blend(IMAGES, P._replace(lam=jnp.ones(B, jnp.complex64))), TypeError, r"^params\b.*\blam\b"),  # noqa: E501
    "params_string_field": (lambda: cutmix_jax.blend(IMAGES, P._replace(lam="x")), TypeError, r"^params\b.*\blam\b"),  # noqa: E501
    "params_float_box": (lambda: cutmix_jax.cut_and_paste(IMAGES, P._replace(box=jnp.zeros((B, 4)))), TypeError, r"^params\b.*\bbox\b"),  # noqa: E501
    "params_no_box_to_paste": (lambda: cutmix_jax.cut_and_paste(IMAGES, P._replace(box=None)), TypeError, r"^params\b.*\bbox\b"),  # noqa: E501
    "blend_bool": (lambda: cutmix_jax.blend(IMAGES > 0, P), TypeError, r"^images\b"),
    "blend_batch": (lambda: cutmix_jax.blend(IMAGES[:3], P), ValueError, r"^(images|params)\b"),
    "mix_labels_batch": (lambda: cutmix_jax.mix_labels(LABELS[:3], P, num_classes=K), ValueError, r"^(labels|params)\b"),  # noqa: E501
    "mix_labels_known_range": (lambda: cutmix_jax.mix_labels(jnp.array([0, 1, 2, K]), P, num_classes=K), ValueError, r"^labels\b"),  # noqa: E501
    "mix_labels_no_classes": (lambda: cutmix_jax.mix_labels(LABELS, P), ValueError, r"^num_classes\b"),  # noqa: E501
    "mix_labels_smoothing": (lambda: cutmix_jax.mix_labels(LABELS, P, num_classes=K, label_smoothing=1.5), ValueError, r"^label_smoothing\b"),  # noqa: E501
    "fraction_float_box": (lambda: cutmix_jax.pasted_fraction(jnp.zeros((2, 4)), (H, W)), TypeError, r"^box\b"),  # noqa: E501
    "fraction_box_axes": (lambda: cutmix_jax.pasted_fraction(jnp.zeros((2, 4), jnp.int32), (H, W, 3)), ValueError, r"^box\b"),  # noqa: E501
    "fraction_size_zero": (lambda: cutmix_jax.pasted_fraction(jnp.zeros((2, 4), jnp.int32), (0, W)), ValueError, r"^size\b"),  # noqa: E501
    "loss_float_labels": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B, K)), jnp.zeros((B, K)), P), TypeError, r"^labels\b"),  # noqa: E501
    # Issue 17, 10: logits of rank 1 and 3 alike; batches match params.
    "loss_logits_rank1": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B,)), LABELS, P), ValueError, r"^logits\b"),  # noqa: E501
    "loss_logits_rank3": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B, K, 1)), LABELS, P), ValueError, r"^logits\b"),  # noqa: E501
    "loss_int_logits": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B, K), jnp.int32), LABELS, P), TypeError, r"^logits\b"),  # noqa: E501
    "loss_labels_batch": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B, K)), LABELS[:3], P), ValueError, r"^labels\b.*to match (params|logits)"),  # noqa: E501
    "loss_logits_batch": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B - 1, K)), LABELS, P), ValueError, r"^(logits|labels|params)\b"),  # noqa: E501
    "loss_known_range": (lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B, K)), jnp.array([0, 1, 2, K]), P), ValueError, r"^labels\b"),  # noqa: E501
    "per_shard_mesh": (lambda: cutmix_jax.per_shard(cutmix_jax.cutmix, "mesh"), TypeError, r"^mesh\b"),  # noqa: E501
    "per_shard_axis": (lambda: cutmix_jax.per_shard(cutmix_jax.cutmix, SINGLE_DEVICE, axis_name="batch"), ValueError, r"^axis_name\b.*'data'"),  # noqa: E501
    "per_shard_axes": (lambda: cutmix_jax.per_shard(cutmix_jax.cutmix, SINGLE_DEVICE, axis_name=("data", "data")), ValueError, r"^axis_name\b.*tuple"),  # noqa: E501
    "per_shard_fn": (lambda: cutmix_jax.per_shard("cutmix", SINGLE_DEVICE), TypeError, r"^mix_fn\b"),  # noqa: E501
    "with_params_fn": (lambda: cutmix_jax.with_params("cutmix"), TypeError, r"^fn\b.*resizemix, one_of"),  # noqa: E501
    # A token count that is not the grid's (16 tokens; with the class token).
    "transmix_tokens": (lambda: _transmix(np.ones((6, 17), np.float32)), ValueError, r"^attention\b.*16 tokens"),  # noqa: E501
    "transmix_tokens_jit": (lambda: jax.jit(_transmix)(jnp.ones((6, 17))), ValueError, r"^attention\b.*16 tokens"),  # noqa: E501
    "transmix_heads_tokens": (lambda: _transmix(np.ones((6, 2, 12), np.float32)), ValueError, r"^attention\b"),  # noqa: E501
    "transmix_int": (lambda: _transmix(np.ones((6, 16), np.int32)), TypeError, r"^attention\b"),
    "transmix_rank1": (lambda: _transmix(np.ones((6,), np.float32)), ValueError, r"^attention\b"),
    "transmix_patch": (lambda: _transmix(np.ones((6, 16), np.float32), patch_size=5), ValueError, r"^patch_size\b"),  # noqa: E501
    "transmix_batch": (lambda: _transmix(np.ones((5, 16), np.float32)), ValueError, r"^params\b"),
    "transmix_image_size": (lambda: cutmix_jax.transmix_weights(jnp.ones((B, 16)), P, image_size=(32, 32, 3), patch_size=8), ValueError, r"^image_size\b"),  # noqa: E501
    # with_params and one_of see a per_shard wrapper, not the function inside.
    "with_params_of_per_shard": (lambda: cutmix_jax.with_params(cutmix_jax.per_shard(cutmix_jax.cutmix, SINGLE_DEVICE)), TypeError, r"^fn\b.*per_shard\(with_params"),  # noqa: E501
    # ... nor jax.jit's or any functools.wraps wrapper, which copies them.
    "with_params_of_jit": (lambda: cutmix_jax.with_params(jax.jit(cutmix_jax.cutmix)), TypeError, r"^fn\b.*jax.jit\(with_params"),  # noqa: E501
    "with_params_twice": (lambda: cutmix_jax.with_params(cutmix_jax.with_params(cutmix_jax.cutmix)), TypeError, r"^fn\b.*with_params\(cutmix\)"),  # noqa: E501
    "one_of_jit": (lambda: cutmix_jax.one_of(KEY, IMAGES, LABELS, [(1.0, jax.jit(cutmix_jax.cutmix))], num_classes=K), TypeError, r"^choices\b"),  # noqa: E501
    "one_of_per_shard": (lambda: cutmix_jax.one_of(KEY, IMAGES, LABELS, [(1.0, cutmix_jax.per_shard(cutmix_jax.cutmix, SINGLE_DEVICE))], num_classes=K), TypeError, r"^choices\b.*a wrapper"),  # noqa: E501
}
# fmt: on


@pytest.mark.parametrize("name", sorted(CORE_CASES))
def test_core_bad_input_is_refused_naming_it(name):
  call, error, regex = CORE_CASES[name]
  with pytest.raises(error) as info:
    call()
  assert re.search(regex, str(info.value), flags=re.S), str(info.value)


def test_mixed_cross_entropy_messages_never_mention_images():
  for call in (
      lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B, K)), LABELS[:3], P),
      lambda: cutmix_jax.mixed_cross_entropy(jnp.zeros((B - 1, K)), LABELS, P),
  ):
    with pytest.raises(ValueError) as info:
      call()
    assert "images" not in str(info.value)


def test_axes_as_numpy_arrays_are_the_same_axes():
  """As a tuple, a NumPy array (a 0-d one too) names the same cut axes."""
  mix = cutmix_jax.with_params(cutmix_jax.cutmix)
  clips = jnp.zeros((B, 6, H, W, 3))
  for given, axes in ((np.array(1), (1,)), (np.array([2, 3]), (2, 3))):
    got = mix(KEY, clips, LABELS, num_classes=K, axes=given)[2]
    want = mix(KEY, clips, LABELS, num_classes=K, axes=axes)[2]
    np.testing.assert_array_equal(got.box, want.box)


def test_hand_built_params_fields_are_converted_like_arrays():
  """Issue 17, 7: lists and numpy arrays are accepted, as any array argument."""
  images = jnp.stack([jnp.zeros((4, 4, 1)), jnp.ones((4, 4, 1))])
  listed = cutmix_jax.MixParams(
      box=[[0, 0, 2, 2], [0, 0, 0, 0]],
      lam=[0.75, 1.0],
      partner=[1, 0],
      applied=[True, False],
      is_cutmix=[True, True],
  )
  out = np.asarray(cutmix_jax.cut_and_paste(images, listed))[..., 0]
  expected = np.zeros((2, 4, 4))
  expected[0, :2, :2] = 1
  expected[1] = 1
  np.testing.assert_array_equal(out, expected)
  soft = cutmix_jax.mix_labels(np.array([0, 1]), listed, num_classes=2)
  np.testing.assert_allclose(soft, [[0.75, 0.25], [0, 1]])
  blended = cutmix_jax.blend(images, listed._replace(is_cutmix=[False] * 2))
  np.testing.assert_allclose(np.asarray(blended)[0], 0.25)
  # As 0.2 took them: 0/1 for bools, one value (or box) for every row, and
  # no box where nothing reads it (MixUp's params).
  short = cutmix_jax.MixParams(
      box=np.array([0, 0, 2, 2]),
      lam=0.75,
      partner=[1, 0],
      applied=np.array([1, 0]),
      is_cutmix=1.0,
  )
  np.testing.assert_array_equal(
      np.asarray(cutmix_jax.cut_and_paste(images, short))[..., 0], expected
  )
  mixup = short._replace(box=None, is_cutmix=0)
  np.testing.assert_allclose(
      np.asarray(cutmix_jax.blend(images, mixup))[0], 0.25
  )
  np.testing.assert_allclose(
      cutmix_jax.mix_labels(np.array([0, 1]), mixup, num_classes=2), soft
  )
  loss = cutmix_jax.mixed_cross_entropy(jnp.zeros((2, 2)), [0, 1], mixup)
  np.testing.assert_allclose(loss, np.log(2), rtol=1e-6)
  # Under jit a list arrives as a list of tracers: the same arrays.
  jitted = jax.jit(cutmix_jax.cut_and_paste)(images, listed)
  np.testing.assert_array_equal(np.asarray(jitted)[..., 0], expected)
  mix = jax.jit(functools.partial(cutmix_jax.mix_labels, num_classes=2))
  np.testing.assert_allclose(mix([0, 1], listed), soft)


# ------------------------------------------- labels: dtypes, range, empty


@pytest.mark.parametrize(
    "dtype, num_classes",
    [
        (np.uint8, 256),
        (np.int8, 200),
        (np.int16, 40000),
        (np.uint16, 70000),
        (np.int32, 3),
    ],
)
def test_every_integer_label_dtype_is_valid(dtype, num_classes):
  """Issue 17, 8: valid labels of a narrow dtype pass, eagerly and under jit."""
  labels = np.array([0, 1, 0, 1], dtype)
  for fn in (cutmix_jax.cutmix, cutmix_jax.mixup, cutmix_jax.mixup_or_cutmix):
    _, soft = fn(KEY, IMAGES, labels, num_classes=num_classes)
    assert soft.shape == (B, num_classes)
    np.testing.assert_allclose(np.asarray(soft).sum(-1), 1.0, atol=1e-5)
    assert np.asarray(soft)[:, 2:].max() == 0
  loss = cutmix_jax.mixed_cross_entropy(jnp.zeros((B, num_classes)), labels, P)
  np.testing.assert_allclose(loss, np.log(num_classes), rtol=1e-5)
  # The largest class the dtype can hold is valid too.
  top_class = min(num_classes - 1, int(np.iinfo(dtype).max))
  top = np.array([0, top_class, 1, 0]).astype(dtype)
  soft = cutmix_jax.mix_labels(top, P, num_classes=num_classes)
  assert np.asarray(soft)[1, top_class] == 1


def test_empty_labels_are_valid():
  """Issue 17, 8: no labels at all is no error (0.2 crashed reading them)."""
  empty = _params(batch=0)
  for dtype in (jnp.int32, jnp.uint8):
    soft = cutmix_jax.mix_labels(jnp.zeros((0,), dtype), empty, num_classes=3)
    assert soft.shape == (0, 3) and soft.dtype == jnp.float32


# Compiled once for the three bad labels below.
_MIX_LABELS_JIT = jax.jit(
    functools.partial(cutmix_jax.mix_labels, num_classes=K)
)
_LOSS_JIT = jax.jit(cutmix_jax.mixed_cross_entropy)
_RANDOM_JIT = {
    fn: jax.jit(functools.partial(fn, num_classes=K, mode="elem"))
    for fn in (cutmix_jax.cutmix, cutmix_jax.mixup)
}


@pytest.mark.parametrize("bad", [-1, K, 100])
def test_traced_out_of_range_labels_give_nan_never_another_class(bad):
  """Issue 17, 3: rows that read a bad label are NaN; the rest are right."""
  labels = jnp.array([0, 1, bad, 3])
  # Row 0 takes from row 2 (bad); row 3 is not mixed.
  params = mix_params(
      np.zeros((B, 4)),
      [0.75, 0.5, 0.6, 1.0],
      [2, 0, 1, 3],
      applied=[True, True, True, False],
  )
  soft = np.asarray(_MIX_LABELS_JIT(labels, params))
  assert np.isnan(soft[[0, 2]]).all(axis=-1).all(), soft
  np.testing.assert_allclose(soft[1], [0.5, 0.5, 0, 0, 0])
  np.testing.assert_allclose(soft[3], [0, 0, 0, 1, 0])
  logits = jnp.asarray(np.random.default_rng(0).normal(size=(B, K)))
  loss = np.asarray(_LOSS_JIT(logits.astype(jnp.float32), labels, params))
  assert np.isnan(loss[[0, 2]]).all() and np.isfinite(loss[[1, 3]]).all()
  # The whole random functions, traced: the bad label's rows are NaN.
  for fn in _RANDOM_JIT.values():
    _, soft = fn(KEY, IMAGES, labels)
    assert np.isnan(np.asarray(soft)[2]).all()


# ------------------------------------------------ each argument once


def _patch_everywhere(target, replacement):
  """Patches ``target`` under every name a cutmix_jax module holds it by."""
  import sys

  patches = [
      mock.patch.object(module, attr, replacement)
      for name, module in list(sys.modules.items())
      if name == "cutmix_jax" or name.startswith("cutmix_jax.")
      for attr, value in list(vars(module).items())
      if value is target
  ]
  return patches


def _check_calls(fn, *args, **kwargs):
  """``{argument name: number of checks}`` over one eager call of ``fn``.

  Every check goes through ``cutmix_jax._src.arguments.check(arg, value,
  ...)``; it is wrapped wherever a module holds it (``check = arguments.check``
  aliases included) and the calls are counted by argument name.
  """
  from cutmix_jax._src import arguments

  counts = {}
  original = arguments.check

  def counted(arg, *a, **kw):
    counts[arg] = counts.get(arg, 0) + 1
    return original(arg, *a, **kw)

  patches = _patch_everywhere(original, counted)
  assert patches, "nothing holds arguments.check"
  for p in patches:
    p.start()
  try:
    fn(*args, **kwargs)
  finally:
    for p in patches:
      p.stop()
  return counts


RANDOM_ARGS = {
    "rng",
    "images",
    "labels",
    "num_classes",
    "mode",
    "prob",
    "label_smoothing",
}
# fmt: off
COUNT_CASES = {
    "cutmix": (cutmix_jax.cutmix, (KEY, IMAGES, LABELS, 1.0), dict(num_classes=K), RANDOM_ARGS | {"alpha", "axes", "box", "label_mode"}),  # noqa: E501
    "cutmix_options": (cutmix_jax.cutmix, (KEY, IMAGES, LABELS), dict(num_classes=K, mode="elem", prob=0.5, label_smoothing=0.1, axes=(1, 2), box=boxes.minmax(0.2, 0.8), label_mode="complete"), RANDOM_ARGS | {"alpha", "axes", "box", "label_mode"}),  # noqa: E501
    "mixup": (cutmix_jax.mixup, (KEY, IMAGES, LABELS, 0.4), dict(num_classes=K), RANDOM_ARGS | {"alpha"}),  # noqa: E501
    "mixup_or_cutmix": (cutmix_jax.mixup_or_cutmix, (KEY, IMAGES, LABELS), dict(num_classes=K), RANDOM_ARGS | {"mixup_alpha", "cutmix_alpha", "switch_prob", "axes", "box", "label_mode"}),  # noqa: E501
    "with_params": (cutmix_jax.with_params(cutmix_jax.cutmix), (KEY, IMAGES, LABELS), dict(num_classes=K), RANDOM_ARGS | {"alpha", "axes", "box", "label_mode"}),  # noqa: E501
    "cut_and_paste": (cutmix_jax.cut_and_paste, (IMAGES, P), {}, {"images", "params", "axes"}),
    "blend": (cutmix_jax.blend, (IMAGES, P), {}, {"images", "params"}),
    "mix_labels": (cutmix_jax.mix_labels, (LABELS, P), dict(num_classes=K), {"labels", "params", "num_classes", "label_smoothing"}),  # noqa: E501
    "mixed_cross_entropy": (cutmix_jax.mixed_cross_entropy, (jnp.zeros((B, K)), LABELS, P), {}, {"logits", "labels", "params", "label_smoothing"}),  # noqa: E501
    "pasted_fraction": (cutmix_jax.pasted_fraction, (P.box, (H, W)), {}, {"box", "size"}),
    "resizemix": (cutmix_jax.resizemix, (KEY, IMAGES, LABELS, (0.2, 0.6)), dict(num_classes=K), RANDOM_ARGS | {"scale", "axes"}),  # noqa: E501
    # One choice: each choice's options are arguments of their own.
    "one_of": (cutmix_jax.one_of, (KEY, IMAGES, LABELS, [(1.0, cutmix_jax.cutmix)]), dict(num_classes=K), RANDOM_ARGS | {"choices", "alpha", "axes", "box", "label_mode"}),  # noqa: E501
    "transmix_weights": (cutmix_jax.transmix_weights, (jnp.ones((B, 16)), P), dict(image_size=(32, 32), patch_size=8), {"attention", "params", "image_size", "patch_size"}),  # noqa: E501
}
# fmt: on


@pytest.mark.parametrize("name", sorted(COUNT_CASES))
def test_each_argument_is_checked_exactly_once(name):
  """Issue 17: one check per argument per call (0.2: 161 checks a cutmix)."""
  fn, args, kwargs, expected = COUNT_CASES[name]
  counts = _check_calls(fn, *args, **kwargs)
  twice = {arg: n for arg, n in counts.items() if n != 1}
  assert not twice, f"checked more than once: {twice} (all: {counts})"
  assert expected <= set(counts), f"never checked: {expected - set(counts)}"


def test_the_count_sees_a_second_check():
  """The counter is not blind: a wrapper that checks again is caught."""
  from cutmix_jax._src import arguments

  def checks_twice(images):
    arguments.check("images", images)
    return cutmix_jax.blend(images, P)

  assert _check_calls(checks_twice, IMAGES)["images"] == 2


PUBLIC_FUNCTIONS = (
    "cutmix",
    "mixup",
    "mixup_or_cutmix",
    "cut_and_paste",
    "blend",
    "mix_labels",
    "pasted_fraction",
    "mixed_cross_entropy",
    "resizemix",
    "transmix_weights",
)


def _calls_into_public(call):
  """The public functions that ``call(originals)`` reaches, under any name."""
  originals = {n: getattr(cutmix_jax, n) for n in PUBLIC_FUNCTIONS}
  seen = []
  patches = []
  for public, fn in originals.items():

    def spy(*a, public=public, fn=fn, **k):
      seen.append(public)
      return fn(*a, **k)

    patches += _patch_everywhere(fn, spy)
  for p in patches:
    p.start()
  try:
    call(originals)
  finally:
    for p in patches:
      p.stop()
  return seen


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_no_public_function_calls_another(name):
  args = {
      "cutmix": (KEY, IMAGES, LABELS),
      "mixup": (KEY, IMAGES, LABELS),
      "mixup_or_cutmix": (KEY, IMAGES, LABELS),
      "cut_and_paste": (IMAGES, P),
      "blend": (IMAGES, P),
      "mix_labels": (LABELS, P),
      "pasted_fraction": (P.box, (H, W)),
      "mixed_cross_entropy": (jnp.zeros((B, K)), LABELS, P),
      "resizemix": (KEY, IMAGES, LABELS),
      "transmix_weights": (jnp.ones((B, 16)), P),
  }[name]
  kwargs = {
      "transmix_weights": dict(image_size=(32, 32), patch_size=8),
      "blend": {},
      "cut_and_paste": {},
      "pasted_fraction": {},
      "mixed_cross_entropy": {},
  }.get(name, dict(num_classes=K))
  seen = _calls_into_public(lambda fns: fns[name](*args, **kwargs))
  assert seen == [], f"{name} calls the public {seen}"
  # The patching is not blind: calling through the package is seen.
  assert _calls_into_public(lambda fns: cutmix_jax.blend(IMAGES, P)) == [
      "blend"
  ]


# ------------------------------------------ accepted: what 0.2 accepted too


def test_an_alpha_free_box_rule_takes_any_alpha():
  """``alpha`` is unused by minmax and fixed_size, so 0 or -1 is no error."""
  for alpha in (0.0, -1.0):
    for box in (boxes.minmax(0.4, 0.8), boxes.fixed_size(4)):
      mix = cutmix_jax.with_params(cutmix_jax.cutmix)
      _, soft, params = mix(KEY, IMAGES, LABELS, alpha, num_classes=K, box=box)
      assert np.asarray(params.applied).any()
      np.testing.assert_allclose(np.asarray(soft).sum(-1), 1.0, atol=1e-6)
  with pytest.raises(TypeError, match=r"^alpha\b"):
    cutmix_jax.cutmix(KEY, IMAGES, LABELS, "0", num_classes=K, box=box)


def test_axes_may_be_a_single_int():
  spectrograms = jnp.arange(4 * 20 * 6, dtype=jnp.float32).reshape(4, 20, 6)
  for fn in (cutmix_jax.cutmix, cutmix_jax.resizemix):
    mix = cutmix_jax.with_params(fn)
    by_int = mix(KEY, spectrograms, LABELS, num_classes=K, axes=1)
    by_tuple = mix(KEY, spectrograms, LABELS, num_classes=K, axes=(1,))
    jax.tree.map(np.testing.assert_array_equal, by_int, by_tuple)


@pytest.mark.parametrize("shape", [(8, 4, 4, 512), (8, 2, 2, 64), (8, 3, 3, 3)])
def test_small_nhwc_feature_maps_are_not_taken_for_nchw(shape):
  """Issue 17, 14 refuses NCHW-looking batches; a 4x4x512 map is NHWC."""
  maps = jnp.zeros(shape)
  box = boxes.at_resolution((32, 32))
  mixed, _ = cutmix_jax.cutmix(KEY, maps, jnp.arange(8), num_classes=8, box=box)
  assert mixed.shape == shape


@pytest.mark.parametrize("bad", [NAN, INF, 1.5, -0.5])
def test_a_traced_bad_smoothing_or_probability_mixes_nothing_wrong(bad):
  """A traced bad label_smoothing smooths nothing; a bad share reads as 0."""
  bad = jnp.float32(bad)
  smooth = jax.jit(
      lambda e: cutmix_jax.cutmix(
          KEY, IMAGES, LABELS, num_classes=K, label_smoothing=e
      )
  )
  plain = cutmix_jax.cutmix(KEY, IMAGES, LABELS, num_classes=K)
  np.testing.assert_array_equal(smooth(bad)[1], plain[1])
  loss = jax.jit(
      lambda e: cutmix_jax.mixed_cross_entropy(
          jnp.zeros((B, K)), LABELS, P, label_smoothing=e
      )
  )
  np.testing.assert_allclose(loss(bad), np.log(K), rtol=1e-6)
  mix = jax.jit(
      lambda q, key: cutmix_jax.with_params(cutmix_jax.mixup_or_cutmix)(
          key, IMAGES, LABELS, num_classes=K, mode="elem", switch_prob=q
      )
  )
  for seed in range(8):
    params = mix(bad, jax.random.key(seed))[2]
    cut = np.asarray(params.is_cutmix)
    assert cut.all() if bad > 1 else not cut.any(), (bad, cut)


def test_degenerate_inputs_keep_the_documented_shapes_and_values():
  """A None-only one_of has MixUp's boxes of 4, CutMix off the boxes of its
  axes; no attention keeps lam."""
  mix = cutmix_jax.with_params(cutmix_jax.one_of)
  params = mix(KEY, IMAGES, LABELS, [(1.0, None)], num_classes=K)[2]
  assert params.box.shape == (B, 4)
  mask = jnp.zeros((B, H, W), bool)
  assert cutmix_jax.cut_and_paste(mask, params).shape == mask.shape
  # CutMix off (a Python 0) draws no box, yet the boxes fit the axes given.
  off = cutmix_jax.with_params(cutmix_jax.mixup_or_cutmix)
  series = jnp.zeros((B, 10, 3))
  params = off(KEY, series, LABELS, num_classes=K, cutmix_alpha=0.0, axes=(1,))[
      2
  ]
  assert params.box.shape == (B, 2)
  mask = jnp.zeros((B, 10), bool)
  assert cutmix_jax.cut_and_paste(mask, params, axes=(1,)).shape == mask.shape
  cut = cutmix_jax.with_params(cutmix_jax.cutmix)
  images = jnp.zeros((B, 32, 32, 3))
  grid = boxes.on_patch_grid(8)
  params = cut(KEY, images, LABELS, num_classes=K, box=grid, mode="elem")[2]
  weights = cutmix_jax.transmix_weights(
      jnp.zeros((B, 16)), params, image_size=(32, 32), patch_size=8
  )
  np.testing.assert_array_equal(weights, params.lam)
