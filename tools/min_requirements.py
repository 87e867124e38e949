"""Prints the requirements of `make test-min`: the declared floors, pinned.

Reads cutmix-jax's installed metadata (`make install` keeps it in step with
pyproject.toml) and prints one requirement a line: each core dependency pinned
to its `>=` floor, jaxlib pinned with jax (jax names its jaxlib), and the
`test` extra as declared, so pip picks the newest test tools that go with the
floors.
"""

from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import Requirement


def pin_floors(requires: Iterable[str]) -> list[str]:
  """Pins the core requirements to their floors; keeps the test extra's.

  Args:
    requires: requirement strings as a distribution's metadata lists them
      (``"jax>=0.6"``, ``"pytest>=8; extra == 'test'"``).

  Returns:
    pip requirement strings: ``"jax==0.6"``, ``"jaxlib==0.6"``,
    ``"pytest>=8"``; requirements of other extras are left out.

  Raises:
    ValueError: if a core requirement has no single ``>=`` floor to pin.
  """
  lines = []
  for text in requires:
    req = Requirement(text)
    if req.marker is None:
      floors = [s.version for s in req.specifier if s.operator == ">="]
      if len(floors) != 1:
        raise ValueError(
            f"requires: expected one '>=' floor on {req.name}, got "
            f"{str(req.specifier)!r}."
        )
      lines.append(f"{req.name}=={floors[0]}")
      if req.name == "jax":
        lines.append(f"jaxlib=={floors[0]}")
    elif req.marker.evaluate({"extra": "test"}):
      req.marker = None
      lines.append(str(req))
  return lines


if __name__ == "__main__":
  print("\n".join(pin_floors(metadata.requires("cutmix-jax") or ())))
