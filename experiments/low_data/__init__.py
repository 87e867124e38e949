"""Does CutMix help on little data? The trainer over methods and seeds.

``make study`` runs `experiments.low_data.main`; see its docstring.
"""
