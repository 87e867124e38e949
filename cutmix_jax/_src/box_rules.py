"""The rules that draw CutMix boxes: the paper's, its ablations, timm's, and two wrappers.

A rule is a small frozen dataclass (hashable, so it can be a static argument
of `jax.jit`) with two methods: ``validate(size, where)`` refuses, at trace
time, cut axes on which the rule could never paste anything, and
``draw(key, shape, size, alpha)`` returns ``int32[*shape, 2k]`` boxes (see
`boxes`). A new rule is one such class and one constructor below; the public
names are in `cutmix_jax.boxes`.
"""

import dataclasses

import jax
import jax.numpy as jnp

from cutmix_jax._src import arguments
from cutmix_jax._src import boxes
from cutmix_jax._src import sampling


class BoxRule:
  """How `cutmix` draws boxes; make one with a constructor of `cutmix_jax.boxes`."""

  # Whether the box's size comes from ``lam ~ Beta(alpha, alpha)``.
  uses_alpha = True

  def validate(self, size: tuple[int, ...], where: str) -> None:
    """Refuses a size on which the rule could never paste anything."""

  def draw(self, key, shape, size, alpha) -> jax.Array:
    raise NotImplementedError


def _refuse(rule, where: str, why: str):
  raise ValueError(f"box: {rule} can never paste anything on {where}: {why}.")


def _check_paper_sides(rule, size, where) -> None:
  # A side of floor(n r) pastes only once its half, side // 2, is >= 1,
  # which needs n >= 3 (n = 2 would need lam = 0 exactly).
  if min(size) < 3:
    _refuse(rule, where, "the paper's box needs at least 3 cells per axis")


@dataclasses.dataclass(frozen=True)
class _Paper(BoxRule):

  def validate(self, size, where):
    _check_paper_sides(self, size, where)

  def draw(self, key, shape, size, alpha):
    side_key, place_key = jax.random.split(key)
    center = jax.random.randint(
        place_key, tuple(shape) + (len(size),), 0, jnp.asarray(size)
    )
    lam = sampling.sample_lambda(side_key, alpha, shape)
    return boxes.box_from_center(center, boxes.cut_sides(lam, size), size)

  def __repr__(self):
    return "boxes.paper()"


@dataclasses.dataclass(frozen=True)
class _GaussianCenter(BoxRule):
  std: float

  def validate(self, size, where):
    _check_paper_sides(self, size, where)

  def draw(self, key, shape, size, alpha):
    side_key, place_key = jax.random.split(key)
    z = jax.random.normal(place_key, tuple(shape) + (len(size),), jnp.float32)
    sides = jnp.asarray(size, jnp.float32)
    center = jnp.clip(jnp.floor(sides * (0.5 + self.std * z)), 0, sides - 1)
    lam = sampling.sample_lambda(side_key, alpha, shape)
    return boxes.box_from_center(center, boxes.cut_sides(lam, size), size)

  def __repr__(self):
    return f"boxes.gaussian_center({self.std})"


@dataclasses.dataclass(frozen=True)
class _FixedSize(BoxRule):
  sides: int | tuple[int, ...]
  uses_alpha = False

  def _per_axis(self, size):
    if isinstance(self.sides, int):
      return (self.sides,) * len(size)
    return self.sides

  def validate(self, size, where):
    sides = self._per_axis(size)
    if len(sides) != len(size):
      raise ValueError(
          f"box: {self} has {len(sides)} sides for {len(size)} cut axes "
          f"({where})."
      )
    if any(s > n for s, n in zip(sides, size)):
      raise ValueError(f"box: {self} is larger than the {where}.")
    if min(sides) < 2:
      _refuse(self, where, "a side of 1 loses its only cell to the side // 2")

  def draw(self, key, shape, size, alpha):
    del alpha
    center = jax.random.randint(
        key, tuple(shape) + (len(size),), 0, jnp.asarray(size)
    )
    return boxes.box_from_center(
        center, jnp.asarray(self._per_axis(size)), size
    )

  def __repr__(self):
    return f"boxes.fixed_size({self.sides})"


@dataclasses.dataclass(frozen=True)
class _MinMax(BoxRule):
  lo: float
  hi: float
  uses_alpha = False

  def _bounds(self, size):
    return [int(n * self.lo) for n in size], [int(n * self.hi) for n in size]

  def validate(self, size, where):
    lo, hi = self._bounds(size)
    if any(a >= b for a, b in zip(lo, hi)):
      raise ValueError(
          f"box: {self} leaves no box side to draw on {where} (int(lo * n) "
          f"= int(hi * n))."
      )
    if min(hi) < 2:
      _refuse(self, where, "its largest sides are 0")

  def draw(self, key, shape, size, alpha):
    # timm's cutmix_minmax: sides uniform in [int(lo n), int(hi n)), the box
    # placed fully inside, every position equally likely.
    del alpha
    side_key, place_key = jax.random.split(key)
    lo, hi = self._bounds(size)
    sides = jax.random.randint(
        side_key, tuple(shape) + (len(size),), jnp.asarray(lo), jnp.asarray(hi)
    )
    limit = jnp.asarray(size, jnp.int32) - sides + 1
    start = jax.random.randint(place_key, sides.shape, 0, limit)
    return jnp.concatenate([start, start + sides], axis=-1)

  def __repr__(self):
    return f"boxes.minmax({self.lo}, {self.hi})"


@dataclasses.dataclass(frozen=True)
class _OnPatchGrid(BoxRule):
  patch_size: int | tuple[int, ...]
  rule: BoxRule

  def _patch(self, size):
    if isinstance(self.patch_size, int):
      return (self.patch_size,) * len(size)
    return self.patch_size

  @property
  def uses_alpha(self):
    return self.rule.uses_alpha

  def validate(self, size, where):
    patch = self._patch(size)
    if len(patch) != len(size) or any(n % p for n, p in zip(size, patch)):
      raise ValueError(
          f"box: {self} needs one patch side per cut axis, each dividing "
          f"its axis; got {where}."
      )
    grid = tuple(n // p for n, p in zip(size, patch))
    self.rule.validate(grid, f"a patch grid of {grid} cells ({where})")

  def draw(self, key, shape, size, alpha):
    patch = self._patch(size)
    grid = tuple(n // p for n, p in zip(size, patch))
    box = self.rule.draw(key, shape, grid, alpha)
    return box * jnp.asarray(tuple(patch) * 2, jnp.int32)

  def __repr__(self):
    return f"boxes.on_patch_grid({self.patch_size}, {self.rule})"


@dataclasses.dataclass(frozen=True)
class _AtResolution(BoxRule):
  input_size: tuple[int, ...]
  rule: BoxRule

  @property
  def uses_alpha(self):
    return self.rule.uses_alpha

  def validate(self, size, where):
    if len(self.input_size) != len(size):
      raise ValueError(
          f"box: {self} has {len(self.input_size)} sides for {len(size)} cut "
          f"axes ({where})."
      )
    self.rule.validate(self.input_size, f"input size {self.input_size}")

  def draw(self, key, shape, size, alpha):
    box = self.rule.draw(key, shape, self.input_size, alpha)
    return boxes.rescale(box, self.input_size, size)

  def __repr__(self):
    return f"boxes.at_resolution({self.input_size}, {self.rule})"


# The constructors: the public names of `cutmix_jax.boxes`.


def paper() -> BoxRule:
  """The paper's box (the default): its side from ``lam ~ Beta(alpha, alpha)``.

  For images ``r = sqrt(1 - lam)``, ``cut = floor(n r)`` on each axis, the
  centre uniform on each axis, the box ``[c - cut // 2, c + cut // 2)``
  clipped to the image. Over ``k`` cut axes the ratio is ``(1 - lam)^(1/k)``.
  The label weight is then recomputed from the clipped box, so it is the
  exact pasted fraction. Needs at least 3 cells on each cut axis.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> images, labels = jnp.zeros((4, 32, 32, 3)), jnp.arange(4)
    >>> mixed, soft = cutmix_jax.cutmix(
    ...     jax.random.key(0), images, labels, 1.0, num_classes=4,
    ...     box=cutmix_jax.boxes.paper())
  """
  return _Paper()


def gaussian_center(std: float) -> BoxRule:
  """The paper's centre-Gaussian ablation: centres near the middle.

  Each centre is ``floor(n (0.5 + std z))`` with ``z ~ N(0, 1)``, clipped to
  the axis; the sides are the paper's.

  Args:
    std: the standard deviation in units of the axis' length, > 0 (static).

  Raises:
    ValueError, TypeError: for a ``std`` that is not a positive number.
  """
  return _GaussianCenter(arguments.check("std", std))


def fixed_size(size: int | tuple[int, ...]) -> BoxRule:
  """The paper's fixed-size ablation: boxes of a given size, centred uniformly.

  The box is placed and clipped as the paper's boxes are (an odd side loses
  an element to ``side // 2``); ``alpha`` is unused.

  Args:
    size: one side for every cut axis, or one per axis, >= 2 (static), e.g.
      ``16`` on CIFAR.

  Raises:
    ValueError, TypeError: for sides that are not positive ints.
  """
  return _FixedSize(arguments.check("size", size, rule="sides"))


def minmax(lo: float, hi: float) -> BoxRule:
  """timm's ``cutmix_minmax``: sides uniform in ``[int(lo n), int(hi n))``.

  The box is placed fully inside the array, every position equally likely;
  ``alpha`` is unused.

  Args:
    lo: the smallest side as a fraction of each axis.
    hi: the largest, with ``0 < lo < hi <= 1``.

  Raises:
    ValueError, TypeError: for bounds outside ``0 < lo < hi <= 1``.
  """
  return _MinMax(*arguments.check("minmax", (lo, hi)))


def on_patch_grid(
    patch_size: int | tuple[int, ...], rule: BoxRule | None = None
) -> BoxRule:
  """Boxes on a ViT's patch grid: every token comes whole from one image.

  ``rule`` draws on the grid (each cut axis divided by its patch side) and
  the box is scaled up by the patch, so its edges fall on patch boundaries.
  The label weight is still the exact pasted fraction.

  Args:
    patch_size: one side for every cut axis, or one per axis, each dividing
      its axis (static), e.g. ``16``.
    rule: the rule on the grid; the paper's by default.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> import cutmix_jax
    >>> mixed, _, params = cutmix_jax.with_params(cutmix_jax.cutmix)(
    ...     jax.random.key(0), jnp.zeros((4, 64, 64, 3)), jnp.arange(4),
    ...     num_classes=4, box=cutmix_jax.boxes.on_patch_grid(16))
    >>> bool((params.box % 16 == 0).all())
    True
  """
  rule = arguments.check("rule", rule, rule="box", size=None)
  return _OnPatchGrid(arguments.check("patch_size", patch_size), rule)


def at_resolution(
    input_size: tuple[int, ...], rule: BoxRule | None = None
) -> BoxRule:
  """Feature-level CutMix (the paper's variant): boxes drawn at another size.

  ``rule`` draws at ``input_size`` (say the input images' ``(H, W)`` when
  `cutmix` mixes a feature map), and each bound is mapped to the array's own
  size and rounded. The label weight is the pasted fraction at the array's
  size.

  Args:
    input_size: the sizes of the cut axes the boxes are drawn at (static).
    rule: the rule at that size; the paper's by default.
  """
  rule = arguments.check("rule", rule, rule="box", size=None)
  return _AtResolution(arguments.check("input_size", input_size), rule)
