"""The layer library: one module per layer (or small group of layers).

Nothing here names a layer: :data:`mathflow.nn.LAYERS` imports every module of this package on
its first look-up, which registers the layers, and :mod:`mathflow.nn` serves each by its class
name (``nn.Dense``). A new layer is a new module.
"""
