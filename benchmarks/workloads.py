"""The benchmark workloads, built identically in mathflow and in PyTorch.

Each workload is a model, a batch of random inputs with integer labels, cross-entropy loss and
Adam (lr 1e-3), all float32. The PyTorch model receives a copy of mathflow's initial weights so
both sides do the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    sample_shape: tuple[int, ...]
    batch: int
    classes: int
    build_mathflow: Callable[[], Any]
    build_torch: Callable[[Any], Any]


def _mlp_mathflow(sizes: list[int]) -> Callable[[], Any]:
    def build() -> Any:
        from mathflow import nn

        layers = []
        for units in sizes[1:-1]:
            layers.append(nn.Dense(units, activation="relu"))
        layers.append(nn.Dense(sizes[-1]))
        model = nn.Sequential(*layers)
        model.build((sizes[0],))
        return model

    return build


def _mlp_torch(sizes: list[int]) -> Callable[[Any], Any]:
    def build(reference: Any) -> Any:
        import torch

        modules: list[Any] = []
        for i in range(len(sizes) - 1):
            modules.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                modules.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*modules)
        weights = [p for p in reference.parameters()]
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for layer, (w, b) in zip(linears, zip(weights[0::2], weights[1::2])):
                layer.weight.copy_(torch.from_numpy(w.numpy().T.copy()))
                layer.bias.copy_(torch.from_numpy(b.numpy().copy()))
        return model

    return build


def _lenet_mathflow() -> Any:
    from mathflow import nn

    model = nn.Sequential(
        nn.Conv2D(8, 5, padding=2, activation="relu"),
        nn.MaxPool2D(2),
        nn.Conv2D(16, 5, activation="relu"),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(128, activation="relu"),
        nn.Dense(10),
    )
    model.build((1, 28, 28))
    return model


def _lenet_torch(reference: Any) -> Any:
    import torch

    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5, padding=2),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 5),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 5 * 5, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )
    params = [p.numpy() for p in reference.parameters()]
    targets = [
        model[0].weight,
        model[0].bias,
        model[3].weight,
        model[3].bias,
        model[7].weight,
        model[7].bias,
        model[9].weight,
        model[9].bias,
    ]
    with torch.no_grad():
        for target, value in zip(targets, params):
            value = value.T if value.ndim == 2 else value  # dense weights are (in, out) in mathflow
            target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model


WORKLOADS: dict[str, Workload] = {
    "mlp-small": Workload("mlp-small", (64,), 32, 10, _mlp_mathflow([64, 128, 64, 10]), _mlp_torch([64, 128, 64, 10])),
    "mlp-large": Workload(
        "mlp-large", (784,), 256, 10, _mlp_mathflow([784, 1024, 1024, 10]), _mlp_torch([784, 1024, 1024, 10])
    ),
    "lenet": Workload("lenet", (1, 28, 28), 64, 10, _lenet_mathflow, _lenet_torch),
}
