"""Requirement 6: bad inputs raise at trace time, naming the argument."""

import functools

import jax
from jax.experimental import checkify
import jax.numpy as jnp
import numpy as np
import pytest

import cutmix_jax

B, H, W, K = 4, 8, 6, 5
IMAGES = jnp.zeros((B, H, W, 3), jnp.float32)
LABELS = jnp.arange(B, dtype=jnp.int32)
KEY = jax.random.key(0)

# (case id, function, overrides of (rng, images, labels), kwargs, error, arg)
CASES = [
    (
        "images_rank2",
        "cutmix",
        dict(images=jnp.zeros((B, H))),
        {},
        ValueError,
        "images",
    ),
    (
        "images_rank1_mixup",
        "mixup",
        dict(images=jnp.zeros((B,))),
        {},
        ValueError,
        "images",
    ),
    (
        "images_key_dtype",
        "cutmix",
        dict(images=jax.random.split(KEY, (B, H, W))),
        {},
        TypeError,
        "images",
    ),
    (
        "labels_batch_mismatch",
        "cutmix",
        dict(labels=jnp.arange(B + 1)),
        {},
        ValueError,
        "labels",
    ),
    (
        "labels_batch_mismatch_float",
        "mixup",
        dict(labels=jnp.zeros((B - 1, K))),
        {},
        ValueError,
        "labels",
    ),
    (
        "int_labels_without_num_classes",
        "cutmix",
        {},
        dict(num_classes=None),
        ValueError,
        "num_classes",
    ),
    (
        "float_labels_wrong_classes",
        "cutmix",
        dict(labels=jnp.zeros((B, K + 1))),
        {},
        ValueError,
        "labels",
    ),
    (
        "float_labels_wrong_rank",
        "cutmix",
        dict(labels=jnp.zeros((B,))),
        {},
        ValueError,
        "labels",
    ),
    (
        "float_labels_rank3",
        "mixup_or_cutmix",
        dict(labels=jnp.zeros((B, K, 1))),
        {},
        ValueError,
        "labels",
    ),
    (
        "int_labels_rank2",
        "cutmix",
        dict(labels=jnp.zeros((B, K), jnp.int32)),
        {},
        ValueError,
        "labels",
    ),
    (
        "bool_labels",
        "cutmix",
        dict(labels=jnp.ones((B,), bool)),
        {},
        TypeError,
        "labels",
    ),
    (
        "num_classes_zero",
        "cutmix",
        {},
        dict(num_classes=0),
        ValueError,
        "num_classes",
    ),
    (
        "rng_float_array",
        "cutmix",
        dict(rng=jnp.zeros((2,), jnp.float32)),
        {},
        TypeError,
        "rng",
    ),
    ("rng_python_int", "mixup", dict(rng=0), {}, TypeError, "rng"),
    (
        "rng_key_array",
        "cutmix",
        dict(rng=jax.random.split(KEY, 2)),
        {},
        ValueError,
        "rng",
    ),
    (
        "rng_uint32_wrong_shape",
        "mixup_or_cutmix",
        dict(rng=jnp.zeros((3,), jnp.uint32)),
        {},
        TypeError,
        "rng",
    ),
    ("alpha_zero", "cutmix", {}, dict(alpha=0.0), ValueError, "alpha"),
    ("alpha_negative", "mixup", {}, dict(alpha=-1.0), ValueError, "alpha"),
    (
        "alpha_not_scalar",
        "cutmix",
        {},
        dict(alpha=jnp.ones(2)),
        TypeError,
        "alpha",
    ),
    ("prob_negative", "cutmix", {}, dict(prob=-0.1), ValueError, "prob"),
    ("prob_above_one", "mixup", {}, dict(prob=1.5), ValueError, "prob"),
    (
        "prob_above_one_combined",
        "mixup_or_cutmix",
        {},
        dict(prob=1.01),
        ValueError,
        "prob",
    ),
    (
        "switch_prob",
        "mixup_or_cutmix",
        {},
        dict(switch_prob=2.0),
        ValueError,
        "switch_prob",
    ),
    ("mode_unknown", "cutmix", {}, dict(mode="global"), ValueError, "mode"),
    ("mode_unknown_mixup", "mixup", {}, dict(mode="Batch"), ValueError, "mode"),
    (
        "label_smoothing_one",
        "cutmix",
        {},
        dict(label_smoothing=1.0),
        ValueError,
        "label_smoothing",
    ),
    (
        "label_smoothing_negative",
        "mixup",
        {},
        dict(label_smoothing=-0.1),
        ValueError,
        "label_smoothing",
    ),
    (
        "minmax_lo_zero",
        "cutmix",
        {},
        dict(minmax=(0.0, 0.5)),
        ValueError,
        "minmax",
    ),
    (
        "minmax_lo_eq_hi",
        "cutmix",
        {},
        dict(minmax=(0.5, 0.5)),
        ValueError,
        "minmax",
    ),
    (
        "minmax_reversed",
        "mixup_or_cutmix",
        {},
        dict(minmax=(0.6, 0.4)),
        ValueError,
        "minmax",
    ),
    (
        "minmax_hi_above_one",
        "cutmix",
        {},
        dict(minmax=(0.2, 1.2)),
        ValueError,
        "minmax",
    ),
    ("minmax_not_pair", "cutmix", {}, dict(minmax=0.5), TypeError, "minmax"),
    (
        "spatial_axes_out_of_range",
        "cutmix",
        {},
        dict(spatial_axes=(1, 4)),
        ValueError,
        "spatial_axes",
    ),
    (
        "spatial_axes_negative_out_of_range",
        "cutmix",
        {},
        dict(spatial_axes=(-5, 2)),
        ValueError,
        "spatial_axes",
    ),
    (
        "spatial_axes_batch_axis",
        "cutmix",
        {},
        dict(spatial_axes=(0, 1)),
        ValueError,
        "spatial_axes",
    ),
    (
        "spatial_axes_batch_axis_negative",
        "mixup_or_cutmix",
        {},
        dict(spatial_axes=(-4, 2)),
        ValueError,
        "spatial_axes",
    ),
    (
        "spatial_axes_equal",
        "cutmix",
        {},
        dict(spatial_axes=(1, 1)),
        ValueError,
        "spatial_axes",
    ),
    (
        "spatial_axes_equal_modulo",
        "cutmix",
        {},
        dict(spatial_axes=(2, -2)),
        ValueError,
        "spatial_axes",
    ),
    (
        "spatial_axes_four",
        "cutmix",
        dict(images=jnp.zeros((B, 2, H, W, 3))),
        dict(spatial_axes=(1, 2, 3, 4)),
        ValueError,
        "spatial_axes",
    ),
    (
        "axes_four",
        "cutmix",
        dict(images=jnp.zeros((B, 2, H, W, 3))),
        dict(axes=(1, 2, 3, 4)),
        ValueError,
        "axes",
    ),
    ("axes_empty", "cutmix", {}, dict(axes=()), ValueError, "axes"),
    ("axes_out_of_range", "cutmix", {}, dict(axes=(4,)), ValueError, "axes"),
    (
        "axes_repeated",
        "mixup_or_cutmix",
        {},
        dict(axes=(1, -3)),
        ValueError,
        "axes",
    ),
    ("axes_batch", "cutmix", {}, dict(axes=(0, 1, 2)), ValueError, "axes"),
    (
        "axes_and_spatial_axes_disagree",
        "cutmix",
        {},
        dict(axes=(1, 2), spatial_axes=(2, 3)),
        ValueError,
        "axes, spatial_axes",
    ),
    (
        "images_rank2_default_axes",
        "cutmix",
        dict(images=jnp.zeros((B, H))),
        {},
        ValueError,
        "images",
    ),
    (
        "patch_size_not_dividing",
        "cutmix",
        {},
        dict(patch_size=(3, 3)),
        ValueError,
        "patch_size",
    ),
    (
        "patch_size_with_box_size",
        "cutmix",
        {},
        dict(patch_size=2, box_size=2),
        ValueError,
        "patch_size, box_size",
    ),
    (
        "patch_size_with_input_size",
        "cutmix",
        {},
        dict(patch_size=2, input_size=(16, 12)),
        ValueError,
        "input_size, patch_size",
    ),
    (
        "patch_size_zero",
        "mixup_or_cutmix",
        {},
        dict(patch_size=0),
        ValueError,
        "patch_size",
    ),
    (
        "box_size_too_tall",
        "cutmix",
        {},
        dict(box_size=H + 1),
        ValueError,
        "box_size",
    ),
    (
        "box_size_too_wide",
        "cutmix",
        {},
        dict(box_size=(2, W + 1)),
        ValueError,
        "box_size",
    ),
    ("box_size_zero", "cutmix", {}, dict(box_size=0), ValueError, "box_size"),
    (
        "center_std_zero",
        "cutmix",
        {},
        dict(center_std=0.0),
        ValueError,
        "center_std",
    ),
    (
        "label_mode_unknown",
        "cutmix",
        {},
        dict(label_mode="soft"),
        ValueError,
        "label_mode",
    ),
    (
        "label_mode_unknown_combined",
        "mixup_or_cutmix",
        {},
        dict(label_mode="area "),
        ValueError,
        "label_mode",
    ),
    (
        "both_alphas_zero",
        "mixup_or_cutmix",
        {},
        dict(mixup_alpha=0, cutmix_alpha=0.0),
        ValueError,
        "mixup_alpha",
    ),
    (
        "mixup_alpha_negative",
        "mixup_or_cutmix",
        {},
        dict(mixup_alpha=-0.5),
        ValueError,
        "mixup_alpha",
    ),
    (
        "cutmix_alpha_negative",
        "mixup_or_cutmix",
        {},
        dict(cutmix_alpha=-1),
        ValueError,
        "cutmix_alpha",
    ),
    # 0.2: every kind of bad scalar, and the options that cannot go together.
    (
        "images_empty_batch",
        "cutmix",
        dict(images=jnp.zeros((0, H, W, 3))),
        dict(labels_override=True),
        ValueError,
        "images",
    ),
    (
        "images_key_dtype_mixup",
        "mixup",
        dict(images=jax.random.split(KEY, (B, H, W))),
        {},
        TypeError,
        "images",
    ),
    (
        "images_bool_mixup",
        "mixup",
        dict(images=jnp.zeros((B, H, W, 1), bool)),
        {},
        TypeError,
        "images",
    ),
    (
        "images_bool_combined",
        "mixup_or_cutmix",
        dict(images=jnp.zeros((B, H, W, 1), bool)),
        {},
        TypeError,
        "images",
    ),
    ("alpha_string", "cutmix", {}, dict(alpha="1.0"), TypeError, "alpha"),
    ("alpha_bool", "mixup", {}, dict(alpha=True), TypeError, "alpha"),
    ("alpha_inf", "cutmix", {}, dict(alpha=float("inf")), ValueError, "alpha"),
    (
        "alpha_inf_mixup",
        "mixup",
        {},
        dict(alpha=float("inf")),
        ValueError,
        "alpha",
    ),
    ("alpha_nan", "mixup", {}, dict(alpha=float("nan")), ValueError, "alpha"),
    (
        "alpha_overflows_float32",
        "cutmix",
        {},
        dict(alpha=1e39),
        ValueError,
        "alpha",
    ),
    (
        "mixup_alpha_inf",
        "mixup_or_cutmix",
        {},
        dict(mixup_alpha=float("inf")),
        ValueError,
        "mixup_alpha",
    ),
    ("prob_string", "cutmix", {}, dict(prob="0.5"), TypeError, "prob"),
    ("prob_nan", "mixup", {}, dict(prob=float("nan")), ValueError, "prob"),
    (
        "label_smoothing_string",
        "mixup_or_cutmix",
        {},
        dict(label_smoothing="0.1"),
        TypeError,
        "label_smoothing",
    ),
    (
        "label_smoothing_inf",
        "cutmix",
        {},
        dict(label_smoothing=float("inf")),
        ValueError,
        "label_smoothing",
    ),
    (
        "center_std_inf",
        "cutmix",
        {},
        dict(center_std=float("inf")),
        ValueError,
        "center_std",
    ),
    (
        "center_std_string",
        "cutmix",
        {},
        dict(center_std="0.2"),
        TypeError,
        "center_std",
    ),
    (
        "minmax_nan",
        "cutmix",
        {},
        dict(minmax=(float("nan"), 0.5)),
        ValueError,
        "minmax",
    ),
    (
        "minmax_no_side_to_draw",
        "cutmix",
        {},
        dict(minmax=(0.5, 0.55)),
        ValueError,
        "minmax",
    ),
    (
        "minmax_with_box_size",
        "cutmix",
        {},
        dict(minmax=(0.2, 0.8), box_size=2),
        ValueError,
        "minmax, box_size",
    ),
    (
        "minmax_with_center_std",
        "cutmix",
        {},
        dict(minmax=(0.2, 0.8), center_std=0.2),
        ValueError,
        "minmax, center_std",
    ),
    (
        "box_size_three_sides",
        "cutmix",
        {},
        dict(box_size=(2, 2, 2)),
        ValueError,
        "box_size",
    ),
    ("box_size_float", "cutmix", {}, dict(box_size=2.5), TypeError, "box_size"),
    (
        "num_classes_bool",
        "cutmix",
        {},
        dict(num_classes=True),
        ValueError,
        "num_classes",
    ),
    (
        "spatial_axes_float",
        "cutmix",
        {},
        dict(spatial_axes=(1.0, 2.0)),
        TypeError,
        "spatial_axes",
    ),
    (
        "input_size_three_sides",
        "cutmix",
        {},
        dict(input_size=(32, 32, 3)),
        ValueError,
        "input_size",
    ),
    (
        "input_size_zero",
        "cutmix",
        {},
        dict(input_size=(0, 32)),
        ValueError,
        "input_size",
    ),
]


def _call_kwargs(fn_name, kwargs):
  del fn_name
  kwargs = dict(kwargs)
  kwargs.pop("labels_override", None)
  kwargs.setdefault("num_classes", K)
  return kwargs


def _args(overrides):
  args = dict(rng=KEY, images=IMAGES, labels=LABELS)
  args.update(overrides)
  if args["images"].shape[0] != B and "labels" not in overrides:
    args["labels"] = jnp.arange(args["images"].shape[0]) % K
  return args["rng"], args["images"], args["labels"]


@pytest.mark.parametrize(
    "fn_name, overrides, kwargs, error, arg",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_input_raises_eagerly_naming_argument(
    fn_name, overrides, kwargs, error, arg
):
  fn = getattr(cutmix_jax, fn_name)
  with pytest.raises(error, match=rf"\b{arg}\b"):
    fn(*_args(overrides), **_call_kwargs(fn_name, kwargs))


# Cases whose bad value is an array travel through jit as traced arguments;
# the others are bound statically with functools.partial. Either way the
# error is raised while tracing, before anything is compiled or run.
@pytest.mark.parametrize(
    "fn_name, overrides, kwargs, error, arg",
    [c[1:] for c in CASES if c[0] != "rng_python_int"],
    ids=[c[0] for c in CASES if c[0] != "rng_python_int"],
)
def test_bad_input_raises_at_trace_time_under_jit(
    fn_name, overrides, kwargs, error, arg
):
  fn = getattr(cutmix_jax, fn_name)
  array_kwargs = {k: v for k, v in kwargs.items() if isinstance(v, jax.Array)}
  static_kwargs = {k: v for k, v in kwargs.items() if k not in array_kwargs}
  jitted = jax.jit(
      functools.partial(fn, **_call_kwargs(fn_name, static_kwargs))
  )
  with pytest.raises(error, match=rf"\b{arg}\b"):
    jitted.trace(*_args(overrides), **array_kwargs)
  with pytest.raises(error, match=rf"\b{arg}\b"):
    jitted(*_args(overrides), **array_kwargs)


def test_good_inputs_trace_fine():
  """The baseline of the table above is valid (so each case tests one thing)."""
  for fn_name in ("cutmix", "mixup", "mixup_or_cutmix"):
    fn = getattr(cutmix_jax, fn_name)
    jax.jit(functools.partial(fn, num_classes=K)).trace(KEY, IMAGES, LABELS)
  # Raw uint32[2] keys and float one-hot labels without num_classes are fine.
  jax.jit(cutmix_jax.cutmix).trace(
      jax.random.PRNGKey(0), IMAGES, jax.nn.one_hot(LABELS, K)
  )
  # Traced alpha, prob and smoothing are not value-checked (no host sync).
  jax.jit(functools.partial(cutmix_jax.cutmix, num_classes=K)).trace(
      KEY, IMAGES, LABELS, jnp.float32(-1.0), prob=jnp.float32(2.0)
  )


def _params():
  return cutmix_jax.sample_cutmix_params(KEY, B, (H, W), box_size=2)


SAMPLER_CASES = [
    (
        "cutmix_batch_size_zero",
        lambda: cutmix_jax.sample_cutmix_params(KEY, 0, (H, W)),
        ValueError,
        "batch_size",
    ),
    (
        "cutmix_batch_size_float",
        lambda: cutmix_jax.sample_cutmix_params(KEY, 4.0, (H, W)),
        TypeError,
        "batch_size",
    ),
    (
        "cutmix_size_zero",
        lambda: cutmix_jax.sample_cutmix_params(KEY, B, (0, W)),
        ValueError,
        "size",
    ),
    (
        "cutmix_size_four_axes",
        lambda: cutmix_jax.sample_cutmix_params(KEY, B, (2, 2, 2, 2)),
        ValueError,
        "size",
    ),
    (
        "cutmix_area_too_large",
        lambda: cutmix_jax.sample_cutmix_params(KEY, B, (60000, 60000)),
        ValueError,
        "size",
    ),
    (
        "cutmix_alpha",
        lambda: cutmix_jax.sample_cutmix_params(KEY, B, (H, W), -1.0),
        ValueError,
        "alpha",
    ),
    (
        "cutmix_alpha_known_array",
        lambda: cutmix_jax.sample_cutmix_params(
            KEY, B, (H, W), jnp.float32(-1.0)
        ),
        ValueError,
        "alpha",
    ),
    (
        "cutmix_mode",
        lambda: cutmix_jax.sample_cutmix_params(KEY, B, (H, W), mode="x"),
        ValueError,
        "mode",
    ),
    (
        "cutmix_rng",
        lambda: cutmix_jax.sample_cutmix_params(jnp.zeros(2), B, (H, W)),
        TypeError,
        "rng",
    ),
    (
        "mixup_batch_size",
        lambda: cutmix_jax.sample_mixup_params(KEY, -3),
        ValueError,
        "batch_size",
    ),
    (
        "mixup_prob",
        lambda: cutmix_jax.sample_mixup_params(KEY, B, prob=3.0),
        ValueError,
        "prob",
    ),
    (
        "mixup_alpha_known_nan",
        lambda: cutmix_jax.sample_mixup_params(KEY, B, np.float32("nan")),
        ValueError,
        "alpha",
    ),
    (
        "combined_both_zero",
        lambda: cutmix_jax.sample_mixup_or_cutmix_params(
            KEY, B, (H, W), mixup_alpha=0.0, cutmix_alpha=0
        ),
        ValueError,
        "cutmix_alpha",
    ),
    (
        "combined_alpha_known_inf",
        lambda: cutmix_jax.sample_mixup_or_cutmix_params(
            KEY, B, (H, W), cutmix_alpha=jnp.float32(np.inf)
        ),
        ValueError,
        "cutmix_alpha",
    ),
    (
        "paste_batch_mismatch",
        lambda: cutmix_jax.cut_and_paste(IMAGES[:2], _params()),
        ValueError,
        "images",
    ),
    (
        "paste_spatial_axes",
        lambda: cutmix_jax.cut_and_paste(
            IMAGES, _params(), spatial_axes=(0, 3)
        ),
        ValueError,
        "spatial_axes",
    ),
    (
        "paste_params_type",
        lambda: cutmix_jax.cut_and_paste(IMAGES, tuple(_params())),
        TypeError,
        "params",
    ),
    (
        "blend_batch_mismatch",
        lambda: cutmix_jax.blend(IMAGES[:3], _params()),
        ValueError,
        "images",
    ),
    (
        "blend_bool",
        lambda: cutmix_jax.blend(IMAGES > 0, _params()),
        TypeError,
        "images",
    ),
    (
        "mix_images_bool",
        lambda: cutmix_jax.mix_images(IMAGES > 0, _params()),
        TypeError,
        "images",
    ),
    (
        "mix_labels_mismatch",
        lambda: cutmix_jax.mix_labels(LABELS[:3], _params(), num_classes=K),
        ValueError,
        "labels",
    ),
    (
        "mix_labels_out_of_range",
        lambda: cutmix_jax.mix_labels(
            jnp.array([0, 1, 2, K]), _params(), num_classes=K
        ),
        ValueError,
        "labels",
    ),
    (
        "soft_labels_no_classes",
        lambda: cutmix_jax.soft_labels(LABELS),
        ValueError,
        "num_classes",
    ),
    (
        "soft_labels_smoothing",
        lambda: cutmix_jax.soft_labels(LABELS, K, label_smoothing=1.5),
        ValueError,
        "label_smoothing",
    ),
    (
        "soft_labels_negative",
        lambda: cutmix_jax.soft_labels(np.array([-1, 0]), K),
        ValueError,
        "labels",
    ),
    (
        "label_weights_mode",
        lambda: cutmix_jax.label_weights(_params(), (H, W), label_mode="x"),
        ValueError,
        "label_mode",
    ),
    (
        "label_weights_size",
        lambda: cutmix_jax.label_weights(_params(), (H, W, 3)),
        ValueError,
        "box",
    ),
    (
        "box_mask_float_box",
        lambda: cutmix_jax.box_mask(jnp.zeros((2, 4)), (H, W)),
        TypeError,
        "box",
    ),
    (
        "rescale_boxes_axes",
        lambda: cutmix_jax.rescale_boxes(
            jnp.zeros((2, 4), jnp.int32), (H, W), (H,)
        ),
        ValueError,
        "source_size, target_size",
    ),
    (
        "box_from_center_axes",
        lambda: cutmix_jax.box_from_center([1, 2, 3], [2, 2], (H, W)),
        ValueError,
        "center",
    ),
    (
        "cross_entropy_float_labels",
        lambda: cutmix_jax.mixed_cross_entropy(
            jnp.zeros((B, K)), jnp.zeros((B, K)), _params()
        ),
        TypeError,
        "labels",
    ),
    (
        "cross_entropy_logits_rank",
        lambda: cutmix_jax.mixed_cross_entropy(
            jnp.zeros((B,)), LABELS, _params()
        ),
        ValueError,
        "logits",
    ),
    (
        "check_labels_in_range_traced_classes",
        lambda: jax.jit(cutmix_jax.check_labels_in_range)(LABELS, K),
        TypeError,
        "num_classes",
    ),
]


@pytest.mark.parametrize(
    "call, error, arg",
    [c[1:] for c in SAMPLER_CASES],
    ids=[c[0] for c in SAMPLER_CASES],
)
def test_samplers_and_core_reject_bad_input(call, error, arg):
  with pytest.raises(error, match=rf"\b{arg}\b"):
    call()


@pytest.fixture(scope="module")
def checked_in_range():
  def body(labels):
    cutmix_jax.check_labels_in_range(labels, K)
    return labels * 2

  return jax.jit(checkify.checkify(body))


def test_check_labels_in_range_passes_good_labels(checked_in_range):
  err, out = checked_in_range(jnp.array([0, 1, K - 1, 2]))
  assert err.get() is None
  err.throw()  # no error
  np.testing.assert_array_equal(out, [0, 2, 2 * (K - 1), 4])


@pytest.mark.parametrize("bad", [[0, K, 1, 2], [-1, 0, 1, 2]])
def test_check_labels_in_range_catches_out_of_range(checked_in_range, bad):
  err, _ = checked_in_range(jnp.array(bad))
  message = err.get()
  assert message is not None and "labels" in message
  assert f"[0, {K})" in message
  with pytest.raises(checkify.JaxRuntimeError, match="labels"):
    err.throw()
