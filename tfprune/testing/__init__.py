"""Testing utilities for tfprune (not imported by ``import tfprune``).

* :mod:`tfprune.testing.random_models`: random Functional Keras models built
  from the layers tfprune supports, drawn from a seed or from a list of
  choices drawn by hypothesis (imported only when that strategy is asked for).
* :mod:`tfprune.testing.properties`: the property every such model must
  satisfy: ``slim`` equals the masked model, the input model is untouched
  and the parameters drop, or a clear tfprune error names the layer.

Used by ``tests/graph/test_random_graphs.py`` and
``benchmarks/random_graphs.py``.
"""
