"""The reference half of the demo twin: a small MLP classifier with LayerNorm, in PyTorch.

`paddle_net.PaddleNet` mirrors it attribute for attribute, so padiff can pair the layers by name.
"""

from __future__ import annotations

import torch
from torch import nn

IN_FEATURES = 16
HIDDEN = 32
CLASSES = 4
DEPTH = 2
NEGATIVE_SLOPE = 0.2  # LeakyReLU slope chosen by the original authors (the framework default is 0.01)


class Block(nn.Module):
    """Pre-norm residual MLP block: x + fc2(act(fc1(norm(x))))."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.fc2 = nn.Linear(2 * hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class TorchNet(nn.Module):
    """embed -> DEPTH residual blocks -> final norm -> classification head."""

    def __init__(
        self, in_features: int = IN_FEATURES, hidden: int = HIDDEN, classes: int = CLASSES, depth: int = DEPTH
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, hidden)
        self.blocks = nn.ModuleList(Block(hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
