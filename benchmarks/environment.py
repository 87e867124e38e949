"""Where the numbers were measured: versions, device, CPU, date."""

import datetime
import importlib.metadata
import os
import platform

import jax


def _cpu_name() -> str:
  """The CPU model from /proc/cpuinfo (Linux), else what platform says."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def load_average() -> tuple[float, float, float] | None:
  """The 1, 5 and 15-minute load averages (``None`` where the OS has none).

  On a shared machine the load says how much of the CPU the run had.
  """
  try:
    return tuple(round(v, 2) for v in os.getloadavg())
  except (AttributeError, OSError):
    return None


def describe() -> dict:
  """A JSON-able description of this machine and software."""
  device = jax.devices()[0]
  return {
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"
      ),
      "jax": jax.__version__,
      "jaxlib": _version("jaxlib"),
      "backend": jax.default_backend(),
      "device": getattr(device, "device_kind", str(device)),
      "device_count": jax.device_count(),
      "cpu": _cpu_name(),
      "cpu_count": os.cpu_count(),
      "load_average": load_average(),
      "python": platform.python_version(),
      "platform": platform.platform(),
      "keras": _version("keras"),
      "torch": _version("torch"),
      "timm": _version("timm"),
      "numpy": _version("numpy"),
  }


def summary(env: dict) -> str:
  """One line for the table's caption."""
  return (
      f"{env['date'][:10]}, JAX {env['jax']} on {env['backend']} "
      f"({env['device']}, {env['device_count']} device(s)), "
      f"CPU {env['cpu']} x{env['cpu_count']}"
  )


def load_summary(start, end) -> str:
  """``"load average 9.1 at the start, 10.3 at the end"`` (1-minute values)."""
  if start is None or end is None:
    return "load average unknown"
  return f"load average {start[0]:.1f} at the start, {end[0]:.1f} at the end"
