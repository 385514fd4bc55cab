"""The network the demo runs train.

It lives in an importable module because `torch.save(model)` pickles the class by
reference (`pyserver.demo.models.SimpleNet`): whoever loads the whole-module
checkpoint needs this class importable, as on Azure ML.
"""

from __future__ import annotations

import torch
from torch import nn


class SimpleNet(nn.Module):
    def __init__(self, in_features: int = 4, hidden: int = 16, num_classes: int = 3) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.relu(self.fc1(x)))
        return out
