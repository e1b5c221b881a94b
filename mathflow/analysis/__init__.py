"""Calculus applied to trained models: backprop checked against finite differences
(``mathflow gradcheck``) and the curvature of the training loss at a run's weights
(``mathflow analyze RUN_ID --hessian``).

Both work on :class:`~mathflow.analysis.objective.ModelObjective`, the training objective
L(w) = loss(model(x; w), y) + Σ penalties(w) of one fixed batch, in float64.
"""

from mathflow.analysis.objective import ModelObjective

__all__ = ["ModelObjective"]
