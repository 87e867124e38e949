"""The box rules of `cutmix`: hashable, so they are static for `jax.jit`."""

import abc
import dataclasses

import jax
import jax.numpy as jnp

from cutmix_jax._src import arguments
from cutmix_jax._src import boxes
from cutmix_jax._src import checks
from cutmix_jax._src import sampling

Sides = int | tuple[int, ...]  # one side for every cut axis, or one per axis


class BoxRule(abc.ABC):
  """How `cutmix` draws boxes; make one with a constructor of `cutmix_jax.boxes`."""

  uses_alpha = True  # the box's size comes from lam ~ Beta(alpha, alpha)

  @abc.abstractmethod
  def validate(self, size: tuple[int, ...], where: str) -> None:
    """Refuses a size on which the rule could never paste anything."""

  @abc.abstractmethod
  def draw(self, key, shape, size, alpha) -> jax.Array:
    """``int32[*shape, 2k]`` boxes on cut axes of ``size``."""

  def _require(self, ok, where: str, why: str, expected: str = "can paste"):
    if not ok:
      expected = f"a rule that {expected} on {where}"
      checks.refuse("box", expected, f"{self}, which {why}")

  def __repr__(self) -> str:
    fields = dataclasses.fields(self)  # type: ignore[arg-type]
    values = (getattr(self, f.name) for f in fields if f.repr)
    args = ", ".join(repr(v) for v in values if v is not None)  # None: unset
    name = getattr(self, "_name", None)  # a user's own rule has none
    return f"boxes.{name}({args})" if name else f"{type(self).__name__}({args})"


def _per_axis(sides, size) -> tuple[int, ...]:
  return (sides,) * len(size) if isinstance(sides, int) else tuple(sides)


@dataclasses.dataclass(frozen=True, repr=False)
class _Centred(BoxRule):
  """The paper's sides, or ``sides``; centres uniform or, with ``std``,
  Gaussian around the middle."""

  sides: Sides | None = None  # None: the paper's, from lam
  std: float | None = None

  @property
  def uses_alpha(self):  # type: ignore[override]
    return self.sides is None

  def validate(self, size, where):
    if self.sides is None:
      # The box pastes once side // 2 >= 1: n >= 3 (n = 2 needs lam = 0).
      self._require(min(size) >= 3, where, "needs at least 3 cells per axis")
      return
    sides = _per_axis(self.sides, size)
    fits = len(sides) == len(size) and all(s <= n for s, n in zip(sides, size))
    why = "is larger or has another number of sides"
    self._require(fits, where, why, "fits")
    self._require(min(sides) >= 2, where, "loses a side of 1 to the side // 2")

  def draw(self, key, shape, size, alpha):
    sides: jax.Array | tuple[int, ...]
    if self.sides is None:
      side_key, key = jax.random.split(key)
      lam = sampling.sample_lambda(side_key, alpha, shape)
      sides = boxes.cut_sides(lam, size)
    else:
      sides = _per_axis(self.sides, size)
    shape = (*shape, len(size))
    if self.std is None:
      n = boxes.per_axis(size, shape)
      center = jax.random.randint(key, shape, 0, n, jnp.int32)
    else:
      z = jax.random.normal(key, shape, jnp.float32)
      n = boxes.per_axis(size, shape, jnp.float32)
      center = jnp.clip(jnp.floor(n * (0.5 + self.std * z)), 0, n - 1)
    return boxes.box_from_center(center, sides, size)

  def __repr__(self) -> str:
    sides = "" if self.sides is None else repr(self.sides)
    rule = f"boxes.{'fixed_size' if sides else 'paper'}({sides})"
    if self.std is None:
      return rule
    return f"boxes.gaussian_center({self.std!r}{', ' + rule if sides else ''})"


@dataclasses.dataclass(frozen=True, repr=False)
class _MinMax(BoxRule):
  lo: float
  hi: float
  uses_alpha = False
  _name = "minmax"

  def _bounds(self, size):
    return [int(n * self.lo) for n in size], [int(n * self.hi) for n in size]

  def validate(self, size, where):
    lo, hi = self._bounds(size)
    why = "leaves no box side to draw (int(lo * n) = int(hi * n))"
    self._require(all(a < b for a, b in zip(lo, hi)), where, why)
    self._require(min(hi) >= 2, where, "draws sides of 0 only")

  def draw(self, key, shape, size, alpha):
    side_key, place_key = jax.random.split(key)
    shape = (*shape, len(size))
    lo, hi = (boxes.per_axis(b, shape) for b in self._bounds(size))
    sides = jax.random.randint(side_key, shape, lo, hi, jnp.int32)
    return boxes.place(place_key, sides, size)


@dataclasses.dataclass(frozen=True, repr=False)
class _Rescaled(BoxRule):
  """``rule`` draws at ``sides``, or on the grid of patches of ``sides``."""

  sides: Sides
  rule: BoxRule
  on_grid: bool = dataclasses.field(default=False, repr=False)

  @property
  def _name(self):
    return "on_patch_grid" if self.on_grid else "at_resolution"

  @property
  def uses_alpha(self):  # type: ignore[override]
    return self.rule.uses_alpha

  def _draw_size(self, size):
    sides = _per_axis(self.sides, size)
    return tuple(n // p for n, p in zip(size, sides)) if self.on_grid else sides

  def validate(self, size, where):
    sides, draw_size = _per_axis(self.sides, size), self._draw_size(size)
    fits = len(sides) == len(size)
    if self.on_grid:
      fits = fits and not any(n % p for n, p in zip(size, sides))
      why = "needs one patch side per cut axis, each dividing its axis"
      self._require(fits, where, why, "fits")
      where = f"a patch grid of {draw_size} cells ({where})"
    else:
      self._require(fits, where, "has another number of sides", "fits")
      where = f"input size {draw_size}"
    self.rule.validate(draw_size, where)

  def draw(self, key, shape, size, alpha):
    # On the grid the scale is the patch side, exact: edges fall on patches.
    draw_size = self._draw_size(size)
    box = self.rule.draw(key, shape, draw_size, alpha)
    return boxes.rescale(box, draw_size, size)


def paper() -> BoxRule:
  """The paper's box (the default): its side from ``lam ~ Beta(alpha, alpha)``.

  Each side is ``floor(n (1 - lam)^(1/k))`` over ``k`` cut axes, the box ``[c -
  side // 2, c + side // 2)`` clipped, the centre ``c`` uniform; the label
  weight is the exact pasted fraction. Needs 3 or more cells per cut axis.
  """
  return _Centred()


def gaussian_center(std: float, rule: BoxRule | None = None) -> BoxRule:
  """The paper's centre-Gaussian ablation: ``rule``'s sides, centres near the middle.

  Args:
    std: the spread of each centre ``floor(n (0.5 + std z))`` (``z ~ N(0, 1)``,
      clipped) as a fraction of the axis, > 0 (static).
    rule: whose sides: `paper` (the default) or a `fixed_size` rule.

  Raises:
    TypeError, ValueError: for a ``std`` that is not a positive number, or
      another ``rule``.
  """
  std = arguments.check("std", std)
  rule = arguments.check("rule", rule, rule="box", size=None)
  if not (isinstance(rule, _Centred) and rule.std is None):
    expected = "boxes.paper() or boxes.fixed_size(size)"
    checks.refuse("rule", expected, repr(rule), TypeError)
  return _Centred(rule.sides, std)


def fixed_size(size: Sides) -> BoxRule:
  """The paper's fixed-size ablation: boxes of a given size, centred uniformly.

  Clipped as the paper's (an odd side loses one cell); ``alpha`` is unused.

  Args:
    size: one side for every cut axis, or one per axis, >= 2 (static).

  Raises:
    TypeError, ValueError: for sides that are not positive ints.
  """
  return _Centred(arguments.check("size", size, rule="sides"))


def minmax(lo: float, hi: float) -> BoxRule:
  """timm's ``cutmix_minmax``: sides uniform in ``[int(lo n), int(hi n))``.

  Placed fully inside, every position equally likely; ``alpha`` is unused.

  Args:
    lo: the smallest side as a fraction of each axis.
    hi: the largest, with ``0 < lo < hi <= 1``.

  Raises:
    TypeError, ValueError: for bounds outside ``0 < lo < hi <= 1``.
  """
  return _MinMax(*arguments.check("lo, hi", (lo, hi), rule="minmax"))


def on_patch_grid(patch_size: Sides, rule: BoxRule | None = None) -> BoxRule:
  """Boxes on a ViT's patch grid: every token comes whole from one image.

  Args:
    patch_size: one side for every cut axis, or one per axis, each dividing
      its axis (static), e.g. ``16``.
    rule: the rule drawing on the grid (each axis divided by its patch side);
      the paper's by default.

  Raises:
    TypeError, ValueError: for sides that are not positive ints, or a ``rule``
      that is not a `BoxRule`.
  """
  rule = arguments.check("rule", rule, rule="box", size=None)
  patch_size = arguments.check("patch_size", patch_size, rule="sides")
  return _Rescaled(patch_size, rule, on_grid=True)


def at_resolution(input_size: Sides, rule: BoxRule | None = None) -> BoxRule:
  """Feature-level CutMix (the paper's variant): boxes drawn at another size.

  ``rule`` draws at ``input_size``; each bound is mapped to the array's size
  and rounded, and the label weight is the pasted fraction at that size.

  Args:
    input_size: the size the boxes are drawn at, one for every cut axis or
      one per axis (static), e.g. the images' ``(H, W)`` when `cutmix` mixes
      a feature map.
    rule: the rule at that size; the paper's by default.

  Raises:
    TypeError, ValueError: for sizes that are not positive ints, or a ``rule``
      that is not a `BoxRule`.
  """
  rule = arguments.check("rule", rule, rule="box", size=None)
  input_size = arguments.check("input_size", input_size, rule="sides")
  return _Rescaled(input_size, rule)
