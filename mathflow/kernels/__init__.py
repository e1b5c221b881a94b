"""Raw-array kernels: the fast loops behind the differentiable primitives.

These functions take and return backend arrays (numpy or cupy), never Tensors, and know
nothing about the autodiff graph. ``mathflow.kernels.cpu`` holds the convolution and pooling
kernels, written against the array module of their inputs so that they run on either backend.
``mathflow.kernels.cuda`` is the registry of the CUDA kernels that the ops and optimizers own
(their sources live next to their NumPy code); it compiles each once per device through CuPy.
"""
