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

from mathflow.optim.adagrad import Adagrad
from mathflow.optim.adam import Adam, AdamW
from mathflow.optim.clip import clip_grad_norm, clip_grad_value, global_grad_norm
from mathflow.optim.optimizer import OPTIMIZERS, Optimizer
from mathflow.optim.rmsprop import RMSProp, RMSprop
from mathflow.optim.schedules import (
    SCHEDULES,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    Schedule,
    StepSchedule,
    WarmupSchedule,
    build_schedule,
)
from mathflow.optim.sgd import SGD, GradientDescent, Momentum, Nesterov

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "ConstantSchedule",
    "CosineSchedule",
    "ExponentialSchedule",
    "GradientDescent",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSProp",
    "RMSprop",
    "Schedule",
    "StepSchedule",
    "WarmupSchedule",
    "build_schedule",
    "clip_grad_norm",
    "clip_grad_value",
    "global_grad_norm",
]
