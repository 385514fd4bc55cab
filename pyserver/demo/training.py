"""Real (tiny) training on iris, so the demo's metrics and checkpoints are genuine."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .iris import SPECIES, IrisRow
from .models import SimpleNet

Epoch = dict[str, float]
TORCH_VERSION = torch.__version__.split("+")[0]  # "2.13.0+cpu" -> "2.13.0"


@dataclass
class TrainedNet:
    model: SimpleNet
    history: list[Epoch]  # epoch, train_loss, val_loss, val_accuracy
    mean: list[float]
    std: list[float]


def _arrays(rows: list[IrisRow]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    features = np.array([row[:4] for row in rows], dtype=np.float64)
    labels = np.array([SPECIES.index(row[4]) for row in rows], dtype=np.int64)
    return features, labels


def train_simple_net(
    train: list[IrisRow], val: list[IrisRow], *, hidden: int, epochs: int, lr: float, seed: int
) -> TrainedNet:
    torch.manual_seed(seed)
    x_train, y_train = _arrays(train)
    x_val, y_val = _arrays(val)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    xt = torch.tensor((x_train - mean) / std, dtype=torch.float32)
    xv = torch.tensor((x_val - mean) / std, dtype=torch.float32)
    yt, yv = torch.tensor(y_train), torch.tensor(y_val)
    model = SimpleNet(hidden=hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    history: list[Epoch] = []
    for epoch in range(1, epochs + 1):
        model.train()
        optimizer.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(xv)
            val_loss = float(loss_fn(logits, yv))
            accuracy = float((logits.argmax(dim=1) == yv).float().mean())
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(loss.item(), 4),
                "val_loss": round(val_loss, 4),
                "val_accuracy": round(accuracy, 4),
            }
        )
    return TrainedNet(model, history, mean.round(4).tolist(), std.round(4).tolist())


def fit_logistic_regression(rows: list[IrisRow], *, steps: int = 300) -> dict[str, Any]:
    """Multinomial logistic regression by gradient descent: the weights people pickle."""
    x, y = _arrays(rows)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    onehot = np.eye(len(SPECIES))[y]
    weights = np.zeros((x.shape[1], len(SPECIES)))
    bias = np.zeros(len(SPECIES))
    for _ in range(steps):
        logits = x @ weights + bias
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        weights -= 0.5 * x.T @ (probs - onehot) / len(x)
        bias -= 0.5 * (probs - onehot).mean(axis=0)
    accuracy = float(((x @ weights + bias).argmax(axis=1) == y).mean())
    return {
        "type": "logistic_regression",
        "weights": weights.round(6),
        "bias": bias.round(6),
        "classes": list(SPECIES),
        "feature_names": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        "train_accuracy": round(accuracy, 4),
    }


def synthetic_history(epochs: int, *, seed: int, final_accuracy: float) -> list[Epoch]:
    """Plausible learning curves for the runs that are only listed, not trained here."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    history: list[Epoch] = []
    for epoch in range(1, epochs + 1):
        progress = 1 - math.exp(-epoch / (epochs / 4))
        train_loss = 1.1 * (1 - progress) + 0.08 + rng.uniform(-0.02, 0.02)
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(train_loss, 4),
                "val_loss": round(train_loss + 0.05 + rng.uniform(-0.02, 0.03), 4),
                "val_accuracy": round(
                    min(1.0, 0.34 + (final_accuracy - 0.34) * progress + rng.uniform(-0.02, 0.02)),
                    4,
                ),
            }
        )
    return history
