"""Markdown tables and the JSON record, from the measured results."""

from collections.abc import Sequence
import dataclasses
import json
import math

from benchmarks import timing
from benchmarks.correctness import Check
from benchmarks.speed import Row
from benchmarks.workload import Batch


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  """A GitHub pipe table; the first column left-aligned, the rest right."""
  align = [":--"] + ["--:"] * (len(header) - 1)
  lines = [header, align] + [list(r) for r in rows]
  return "\n".join(
      "| " + " | ".join(str(c) for c in line) + " |" for line in lines
  )


def ms(seconds: float | None) -> str:
  if seconds is None:
    return "—"
  return f"{seconds * 1e3:.3g}" if seconds < 1e-2 else f"{seconds * 1e3:.1f}"


def ratio(value: float | None) -> str:
  return "—" if value is None or math.isnan(value) else f"{value:.2f}x"


def ratio_with_band(row: Row) -> str:
  """``1.02x (0.98–1.05)``: the median paired ratio and its interquartile band."""
  if not row.ratios:
    return row.status
  lo, hi = timing.spread(row.ratios)
  return f"{row.ratio:.2f}x ({lo:.2f}–{hi:.2f})"


def speed_table(results: dict[str, list[Row]], dtypes: Sequence[str]) -> str:
  """One row per contender, per dtype its median time and ratio to the floor."""
  names = list(dict.fromkeys(r.name for rows in results.values() for r in rows))
  header = ["implementation"]
  for dtype in dtypes:
    header += [f"{dtype} ms", f"{dtype} / floor"]
  body = []
  for name in names:
    line = [name]
    for dtype in dtypes:
      row = next((r for r in results.get(dtype, []) if r.name == name), None)
      if row is None:
        line += ["—", "—"]
      elif row.status != "ok":
        line += [row.status, "—"]
      else:
        line += [ms(row.median_s), ratio_with_band(row)]
    body.append(line)
  return table(header, body)


def correctness_table(checks: list[Check], dtypes: Sequence[str]) -> str:
  """Per contender: label error and foreign pixels, and the dtype each input came back as."""
  names = list(dict.fromkeys(c.name for c in checks))
  header = [
      "implementation",
      "max abs(label − pasted fraction)",
      "foreign pixels",
  ] + [f"{d} in → out" for d in dtypes]
  body = []
  for name in names:
    mine = {c.dtype: c for c in checks if c.name == name}
    ran = [c for c in mine.values() if c.status == "ok"]
    if not ran:
      reason = next(iter(mine.values())).status
      body.append([name, reason, "—"] + ["—"] * len(dtypes))
      continue
    errors = [c.label_error for c in ran if c.label_error is not None]
    error = f"{max(errors):.2g}" if errors else "n/a (blend)"
    worst = max(ran, key=lambda c: c.label_error or 0.0)
    if errors and len({round(e, 6) for e in errors}) > 1:
      error += f" ({worst.dtype})"
    foreign = max(c.foreign_pixels for c in ran)
    cells = []
    for dtype in dtypes:
      c = mine.get(dtype)
      if c is None:
        cells.append("—")
      elif c.status != "ok":
        cells.append(c.status)
      else:
        cells.append(c.out_dtype + (" ✓" if c.dtype_kept else " ✗"))
    if not errors:
      shown = "blend"  # MixUp makes new values by design
    else:
      shown = f"{foreign:.0%}" if foreign else "0"
    body.append([name, error, shown] + cells)
  return table(header, body)


def _jsonable(value):
  if dataclasses.is_dataclass(value):
    out = {
        f.name: _jsonable(getattr(value, f.name))
        for f in dataclasses.fields(value)
    }
    for prop in ("median_s", "ratio", "dtype_kept", "shape", "nbytes"):
      if hasattr(value, prop):
        out[prop] = _jsonable(getattr(value, prop))
    return out
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, float) and math.isnan(value):
    return None
  return value


def write_json(record: dict, path) -> None:
  """The whole record (environment, arguments, every sample) as JSON."""
  with open(path, "w") as f:
    json.dump(_jsonable(record), f, indent=1)
    f.write("\n")


def batch_title(batch: Batch) -> str:
  return f"{batch.batch}x{batch.side}x{batch.side}x{batch.channels}"
