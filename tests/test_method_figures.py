"""The methods guide's figures of ResizeMix and TransMix are drawn.

`experiments.method_figures` draws them with matplotlib, which the library's
tests do not need: this file stays off the Makefile's ``LIBRARY_TESTS``.
"""

from experiments import method_figures


def test_method_figures_are_written(tmp_path):
  import matplotlib.pyplot as plt

  plt.switch_backend("Agg")
  for name, draw in (
      ("resizemix.png", method_figures.resizemix_figure),
      ("transmix.png", method_figures.transmix_figure),
  ):
    path = tmp_path / name
    plt.close(draw(str(path)))
    image = plt.imread(path)
    # A real picture: large, and not one flat colour.
    assert image.shape[0] > 300 and image.shape[1] > 600, image.shape
    assert image[..., :3].std() > 0.05
