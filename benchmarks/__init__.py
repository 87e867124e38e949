"""How cutmix_jax compares: speed and correctness, side by side, in one run.

Run ``make bench`` (installs the peers first) or ``python -m benchmarks``
(``--help`` for the flags; ``--quick`` for a short smoke run). Sections:

* ``acceptance``: issue 10's criteria (train step within noise of the step
  without mixing, its compile under +10%, a standalone ``cutmix`` compile
  under 1.5 s) and each call's time / floor at every size and dtype
  (`benchmarks.acceptance`); always printed first.
* ``speed``: every contender on the same batch, interleaved round-robin,
  as a multiple of the floor (a jitted program that reads the batch twice and
  writes it once): cutmix_jax in every mode and dtype, MixUp, a research-code
  JAX CutMix (`benchmarks.naive`), Keras 3's ``CutMix`` under ``jax.jit`` and
  timm's ``Mixup`` on CPU PyTorch (each peer only if installed).
* ``compile``: trace and compile time of a ``cutmix`` call, cold (JAX's
  caches emptied) and warm, wall and CPU seconds.
* ``correctness``: per contender, the largest gap between a label weight and
  the pixel fraction actually pasted, and whether the dtype was kept.
* ``scaling``: time / floor against image side and batch size
  (``results/scaling.png``).
* ``train_step``: the trainer's jitted step with CutMix against the same step
  without it: time ratio, XLA cost analysis, compile time, and the trace count
  across alpha/prob values.

``--baseline=REV`` (e.g. ``d9d76eb``, the 0.1 library) imports the library as
it was at that git revision beside the current one (`benchmarks.baseline`)
and adds its rows, ``cutmix batch [d9d76eb]``, to the speed, compile and
train-step sections: before and after in one process, as paired ratios.

Results go to ``benchmarks/results/``: ``latest.md`` (the tables printed on
stdout), ``latest.json`` (environment, arguments and every sample) and
``scaling.png``. On a GPU or TPU machine the same command measures that
device: JAX picks the accelerator by default (timm stays on CPU PyTorch).
"""
