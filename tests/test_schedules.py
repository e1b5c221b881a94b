"""Learning-rate schedules: values at chosen steps by hand, PyTorch parity, apply(), errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mathflow.errors import MathflowError
from mathflow.nn import Parameter
from mathflow.optim import (
    SCHEDULES,
    SGD,
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
    WarmupSchedule,
    build_schedule,
)


def test_registry_names():
    assert {"constant", "step", "exponential", "cosine", "warmup"} <= set(SCHEDULES.names())
    assert SCHEDULES.get("cosine") is CosineSchedule
    with pytest.raises(MathflowError, match="did you mean 'cosine'"):
        SCHEDULES.get("cosin")


def test_constant():
    s = ConstantSchedule()
    assert [s.lr_at(t, 0.1) for t in (0, 1, 1000)] == [0.1, 0.1, 0.1]


def test_step_by_hand():
    s = StepSchedule(step_size=3, gamma=0.5)
    # 0.1 for t = 0, 1, 2; 0.05 for 3, 4, 5; 0.025 for 6, 7, 8
    got = [s.lr_at(t, 0.1) for t in (0, 2, 3, 5, 6, 8, 9)]
    assert got == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125], rel=1e-15)


def test_exponential_by_hand():
    s = ExponentialSchedule(gamma=0.9)
    assert [s.lr_at(t, 0.1) for t in (0, 1, 2, 3)] == pytest.approx([0.1, 0.09, 0.081, 0.0729], rel=1e-14)


def test_cosine_by_hand():
    s = CosineSchedule(t_max=10, eta_min=0.01)
    # η_min + (η₀ − η_min)(1 + cos(πt/T))/2 with η₀ = 0.1, η_min = 0.01, T = 10
    assert s.lr_at(0, 0.1) == pytest.approx(0.1, rel=1e-15)
    assert s.lr_at(5, 0.1) == pytest.approx(0.055, rel=1e-14)  # cos(π/2) = 0
    assert s.lr_at(10, 0.1) == pytest.approx(0.01, rel=1e-14)  # cos(π) = −1
    assert s.lr_at(2, 0.1) == pytest.approx(0.01 + 0.09 * (1 + math.cos(0.2 * math.pi)) / 2, rel=1e-14)
    assert s.lr_at(25, 0.1) == pytest.approx(0.01, rel=1e-14)  # stays at η_min after T


def test_warmup_then_constant():
    s = WarmupSchedule(warmup_steps=4)
    # η₀ (t + 1)/4 for t < 4, then η₀
    got = [s.lr_at(t, 0.1) for t in range(6)]
    assert got == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rel=1e-14)


def test_warmup_wraps_another_schedule_which_starts_at_its_step_zero():
    s = WarmupSchedule(warmup_steps=2, after=CosineSchedule(t_max=10, eta_min=0.01))
    assert s.lr_at(0, 0.1) == pytest.approx(0.05)
    assert s.lr_at(1, 0.1) == pytest.approx(0.1)
    assert s.lr_at(2, 0.1) == pytest.approx(0.1)  # cosine at its step 0
    assert s.lr_at(7, 0.1) == pytest.approx(0.055)  # cosine at its step 5


def test_warmup_accepts_names_and_dicts():
    by_dict = WarmupSchedule(3, after={"name": "step", "step_size": 2, "gamma": 0.1})
    assert by_dict.lr_at(3, 1.0) == 1.0 and by_dict.lr_at(5, 1.0) == pytest.approx(0.1)
    assert isinstance(WarmupSchedule(3, after="constant").after, ConstantSchedule)
    assert WarmupSchedule(0, after={"name": "exponential", "gamma": 0.5}).lr_at(1, 1.0) == 0.5


def test_config_round_trip():
    schedules = [
        ConstantSchedule(),
        StepSchedule(4, 0.3),
        ExponentialSchedule(0.95),
        CosineSchedule(20, 0.001),
        WarmupSchedule(5, after=CosineSchedule(20)),
    ]
    for s in schedules:
        rebuilt = build_schedule(s.config())
        assert type(rebuilt) is type(s)
        assert [rebuilt.lr_at(t, 0.1) for t in range(30)] == [s.lr_at(t, 0.1) for t in range(30)]


def test_lr_at_is_pure():
    s = ExponentialSchedule(0.5)
    assert [s.lr_at(3, 1.0) for _ in range(3)] == [0.125] * 3


def test_apply_sets_optimizer_lr_from_base_lr():
    opt = SGD([Parameter(np.ones(2))], lr=0.2)
    s = StepSchedule(step_size=1, gamma=0.5)
    assert s.apply(opt, 0) == 0.2 and opt.lr == 0.2
    assert s.apply(opt, 2) == pytest.approx(0.05) and opt.lr == pytest.approx(0.05)
    # applying again does not compound: it is always computed from base_lr
    s.apply(opt, 2)
    assert opt.lr == pytest.approx(0.05) and opt.base_lr == 0.2


def test_apply_changes_the_next_update():
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=1.0)
    ExponentialSchedule(0.5).apply(opt, 1)
    p.grad = Parameter(np.array([1.0])).detach()
    opt.step()
    assert float(p.data[0]) == pytest.approx(0.5)


@pytest.mark.torch
def test_match_torch_schedulers():
    torch = pytest.importorskip("torch")

    def torch_lrs(make, steps):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(torch, opt)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    cases = [
        (StepSchedule(3, 0.5), lambda t, o: t.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 12),
        (ExponentialSchedule(0.9), lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, gamma=0.9), 12),
        (
            CosineSchedule(10, 0.01),
            lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
            11,
        ),
    ]
    for ours, make, steps in cases:
        expected = torch_lrs(make, steps)
        got = [ours.lr_at(t, 0.1) for t in range(steps)]
        np.testing.assert_allclose(got, expected, rtol=1e-9)


BAD = [
    (lambda: StepSchedule(0), "step: step_size must be a positive integer, got 0"),
    (lambda: StepSchedule(2.5), "step_size must be a positive integer, got 2.5"),
    (lambda: StepSchedule(2, gamma=0.0), "gamma must be > 0"),
    (lambda: ExponentialSchedule(-0.5), "exponential: gamma must be > 0"),
    (lambda: CosineSchedule(0), "cosine: t_max must be a positive integer"),
    (lambda: CosineSchedule(10, eta_min=-0.1), "eta_min must be >= 0"),
    (lambda: WarmupSchedule(-1), "warmup: warmup_steps must be a non-negative integer"),
    (lambda: WarmupSchedule(True), "warmup_steps must be a non-negative integer, got True"),
    (
        lambda: WarmupSchedule(2, after="linear"),
        "warmup: after is not one of constant, step, exponential, cosine, got 'linear'",
    ),
    (lambda: build_schedule({"step_size": 3}), "a schedule needs a 'name'"),
    (lambda: build_schedule({"name": "step", "size": 3}), "step: missing a required argument: 'step_size'"),
    (lambda: build_schedule(3), "cannot make a schedule from 3"),
    (lambda: ConstantSchedule().lr_at(-1, 0.1), "step must be an integer >= 0, got -1"),
    (lambda: CosineSchedule(5).lr_at(1.5, 0.1), "step must be an integer >= 0, got 1.5"),
]


@pytest.mark.parametrize("make,message", BAD)
def test_bad_parameters_raise_clear_errors(make, message):
    with pytest.raises(MathflowError, match=message):
        make()


def test_numpy_integer_steps_are_accepted():
    assert StepSchedule(np.int64(2)).lr_at(np.int64(2), 1.0) == pytest.approx(0.1)
