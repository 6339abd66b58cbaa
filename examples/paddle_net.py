"""The ported half of the demo twin: `torch_net.TorchNet` rewritten in PaddlePaddle.

Layer names match the torch model one for one. `PaddleNet(buggy=True)` plants a classic porting
slip in exactly one layer, `BUGGY_LAYER`: its LeakyReLU is built without the original's slope
argument, so it silently uses the framework default (0.01 instead of 0.2).
"""

from __future__ import annotations

import paddle
from paddle import nn

IN_FEATURES = 16
HIDDEN = 32
CLASSES = 4
DEPTH = 2
NEGATIVE_SLOPE = 0.2

BUGGY_BLOCK = 1
BUGGY_LAYER = f"blocks.{BUGGY_BLOCK}.act"  # dotted path of the planted bug, the same in both models


class Block(nn.Layer):
    """Pre-norm residual MLP block: x + fc2(act(fc1(norm(x))))."""

    def __init__(self, hidden: int, buggy: bool = False) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, 2 * hidden)
        self.act = nn.LeakyReLU() if buggy else nn.LeakyReLU(NEGATIVE_SLOPE)
        self.fc2 = nn.Linear(2 * hidden, hidden)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class PaddleNet(nn.Layer):
    """embed -> DEPTH residual blocks -> final norm -> classification head."""

    def __init__(
        self,
        in_features: int = IN_FEATURES,
        hidden: int = HIDDEN,
        classes: int = CLASSES,
        depth: int = DEPTH,
        buggy: bool = False,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, hidden)
        self.blocks = nn.LayerList(Block(hidden, buggy=buggy and i == BUGGY_BLOCK) for i in range(depth))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))
