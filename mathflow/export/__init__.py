"""Export a trained model as one inference program, for NumPy serving and for ONNX.

Data flow::

    layer.export(builder)  →  ProgramBuilder  →  Program  ─┬→  runtime (NumPy interpreter; the MLflow pyfunc)
                                                            └→  onnx.to_onnx (ONNX opset 17 model)

A :class:`Program` is a straight-line list of primitive ops (ONNX opset 17 semantics) over the input
``"input"`` and named constants; :mod:`mathflow.export.runtime` runs it with NumPy alone and
:mod:`mathflow.export.onnx` converts it node by node.
"""

from mathflow.export.program import Program, ProgramBuilder

__all__ = ["Program", "ProgramBuilder"]
