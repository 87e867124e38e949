"""How cutmix_jax compares: speed and correctness, side by side, in one run.

Run ``make bench`` (installs the peers first) or ``python -m benchmarks``
(``--help`` for the flags; ``--quick`` for a one-minute smoke run). Sections:

* ``speed``: every contender on the same batch, interleaved round-robin,
  as a multiple of the floor (a jitted program that reads the batch twice and
  writes it once): cutmix_jax in every mode and dtype, MixUp, a research-code
  JAX CutMix (`benchmarks.naive`), Keras 3's ``CutMix`` under ``jax.jit`` and
  timm's ``Mixup`` on CPU PyTorch (each peer only if installed).
* ``compile``: trace and compile time of a ``cutmix`` call.
* ``correctness``: per contender, the largest gap between a label weight and
  the pixel fraction actually pasted, and whether the dtype was kept.
* ``scaling``: time / floor against image side and batch size
  (``results/scaling.png``).
* ``train_step``: the trainer's jitted step with CutMix against the same step
  without it: time ratio, XLA cost analysis, compile time, and the trace count
  across alpha/prob values.

Results go to ``benchmarks/results/``: ``latest.md`` (the tables printed on
stdout), ``latest.json`` (environment, arguments and every sample) and
``scaling.png``. On a GPU or TPU machine the same command measures that
device: JAX picks the accelerator by default (timm stays on CPU PyTorch).
"""
