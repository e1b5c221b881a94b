"""Optimizers, learning-rate schedules and gradient clipping.

opt = OPTIMIZERS.create("adam", params=model.parameters(), lr=1e-3)
schedule = SCHEDULES.create("cosine", t_max=100)
for epoch in range(100):
    schedule.apply(opt, epoch)
    ...            # loss.backward()
    clip_grad_norm(opt.params, 1.0)
    opt.step()
    opt.zero_grad()
"""

from mathflow.optim.clip import clip_grad_norm, clip_grad_value, global_grad_norm
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer
from mathflow.optim.schedules import SCHEDULES, Schedule, build_schedule

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "Optimizer",
    "Schedule",
    "build_schedule",
    "clip_grad_norm",
    "clip_grad_value",
    "global_grad_norm",
]


def _components() -> dict[str, object]:
    """Every registered optimizer and schedule by its Python name (aliases such as ``SGD`` included)."""
    return {**OPTIMIZERS.public_names(), **SCHEDULES.public_names()}


def __getattr__(name: str) -> object:
    """Any registered optimizer or schedule by its Python name (``optim.Adam``), so a component
    added as a new module is public without being listed anywhere."""
    try:
        return _components()[name]
    except KeyError:
        raise AttributeError(f"module 'mathflow.optim' has no attribute {name!r}") from None


def __dir__() -> list[str]:
    return sorted({*globals(), *_components()})
