"""Twins that store the same weights in other shapes: fused q/k/v and gate/up projections against
separate ones, and output heads that keep their weight [out, in] (as paddleformers' LMHead) or are tied
to the embedding.

Each block exists in a *split* form (q_proj, k_proj, v_proj; gate_proj, up_proj) and a *fused* form
(qkv_proj; up_gate_proj) in both frameworks, defined once against the kit. The fused attention holds, per
kv head, that kv head's query heads, then its k, then its v (paddleformers' layout: ``groups=KV_HEADS``),
or with ``grouped=False`` all q, then all k, then all v; the fused MLP holds [gate | up].
"""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit

__all__ = ["HEADS", "KV_HEADS", "HEAD_DIM", "HIDDEN", "fused_block", "split_block", "head_lm", "out_in_head"]

HEADS, KV_HEADS, HEAD_DIM = 4, 2, 4
HIDDEN = HEADS * HEAD_DIM  # 16
FFN = 24


def _permute(k: Any) -> Any:
    """[b, s, h, d] <-> [b, h, s, d] in either framework."""
    if k.name == "torch":
        return lambda t: t.permute(0, 2, 1, 3)
    return lambda t: t.transpose([0, 2, 1, 3])


@functools.cache
def _block_class(framework: str) -> type:
    k = kit(framework)
    permute = _permute(k)

    def attend(q: Any, key: Any, v: Any) -> Any:
        """q [b, s, HEADS, d], key/v [b, s, KV_HEADS, d] -> [b, s, HIDDEN]; query head h uses kv head h // G."""
        groups = HEADS // KV_HEADS
        q, key, v = (
            permute(q),
            permute(key.repeat_interleave(groups, 2)),
            permute(v.repeat_interleave(groups, 2)),
        )
        weights = k.F.softmax(q @ k.swap_last(key) * HEAD_DIM**-0.5, -1)
        out = permute(weights @ v)
        return out.reshape([out.shape[0], out.shape[1], HIDDEN])

    class SplitAttention(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.q_proj = k.nn.Linear(HIDDEN, HEADS * HEAD_DIM)
            self.k_proj = k.nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM)
            self.v_proj = k.nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM)
            self.o_proj = k.nn.Linear(HIDDEN, HIDDEN)

        def forward(self, x: Any) -> Any:
            b, s = x.shape[0], x.shape[1]
            q = self.q_proj(x).reshape([b, s, HEADS, HEAD_DIM])
            key = self.k_proj(x).reshape([b, s, KV_HEADS, HEAD_DIM])
            v = self.v_proj(x).reshape([b, s, KV_HEADS, HEAD_DIM])
            return self.o_proj(attend(q, key, v))

    class FusedAttention(k.Layer):
        def __init__(self, grouped: bool) -> None:
            super().__init__()
            self.qkv_proj = k.nn.Linear(HIDDEN, (HEADS + 2 * KV_HEADS) * HEAD_DIM)
            self.o_proj = k.nn.Linear(HIDDEN, HIDDEN)
            self.grouped = grouped

        def forward(self, x: Any) -> Any:
            b, s = x.shape[0], x.shape[1]
            mix = self.qkv_proj(x)
            if self.grouped:
                per_kv = (HEADS // KV_HEADS) * HEAD_DIM
                mix = mix.reshape([b, s, KV_HEADS, per_kv + 2 * HEAD_DIM])
                q, key, v = (
                    mix[..., :per_kv],
                    mix[..., per_kv : per_kv + HEAD_DIM],
                    mix[..., per_kv + HEAD_DIM :],
                )
            else:
                kv = KV_HEADS * HEAD_DIM
                q, key, v = mix[..., :HIDDEN], mix[..., HIDDEN : HIDDEN + kv], mix[..., HIDDEN + kv :]
            q = q.reshape([b, s, HEADS, HEAD_DIM])
            key, v = key.reshape([b, s, KV_HEADS, HEAD_DIM]), v.reshape([b, s, KV_HEADS, HEAD_DIM])
            return self.o_proj(attend(q, key, v))

    class SplitMLP(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.gate_proj = k.nn.Linear(HIDDEN, FFN)
            self.up_proj = k.nn.Linear(HIDDEN, FFN)
            self.act = k.nn.Tanh()
            self.down_proj = k.nn.Linear(FFN, HIDDEN)

        def forward(self, x: Any) -> Any:
            return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))

    class FusedMLP(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.up_gate_proj = k.nn.Linear(HIDDEN, 2 * FFN)
            self.act = k.nn.Tanh()
            self.down_proj = k.nn.Linear(FFN, HIDDEN)

        def forward(self, x: Any) -> Any:
            gate, up = self.up_gate_proj(x).chunk(2, -1)
            return self.down_proj(self.act(gate) * up)

    class Block(k.Layer):
        """attn (split or fused q/k/v), then mlp (split or fused gate/up), each with a residual."""

        def __init__(self, fused: bool, grouped: bool) -> None:
            super().__init__()
            self.attn = FusedAttention(grouped) if fused else SplitAttention()
            self.mlp = FusedMLP() if fused else SplitMLP()

        def forward(self, x: Any) -> Any:
            h = x + self.attn(x)
            return h + self.mlp(h)

    return Block


def split_block(framework: str, seed: int = 0) -> Any:
    """attn: q_proj, k_proj, v_proj (GQA: 4 query heads, 2 kv heads), o_proj; mlp: gate_proj, up_proj,
    act, down_proj."""
    kit(framework).seed(seed)
    return _block_class(framework)(False, True)


def fused_block(framework: str, grouped: bool = True, seed: int = 0) -> Any:
    """attn: qkv_proj (per kv head [its query heads | k | v], or [q | k | v] when not `grouped`), o_proj;
    mlp: up_gate_proj ([gate | up]), act, down_proj."""
    kit(framework).seed(seed)
    return _block_class(framework)(True, grouped)


@functools.cache
def _head_classes(framework: str) -> tuple[type, type]:
    k = kit(framework)

    class OutInHead(k.Layer):
        """A head keeping its weight [out, in] as torch's Linear does (paddleformers' LMHead does so in
        paddle): logits = x @ weight^T. `scale` plants a change of its own."""

        def __init__(self, features: int, out: int, scale: float = 1.0) -> None:
            super().__init__()
            if k.name == "torch":
                self.weight = k.nn.Parameter(k.ones([out, features]))
                k.init_normal(self.weight, 0.3)
            else:
                self.weight = self.create_parameter([out, features])
            self.scale = scale

        def forward(self, x: Any) -> Any:
            return k.matmul_t(x, self.weight) * self.scale

    class HeadLM(k.Layer):
        """embed -> norm -> head; the head a built-in Linear or an OutInHead, tied to the embedding or not."""

        def __init__(self, vocab: int, dim: int, head: str, tie: bool, scale: float) -> None:
            super().__init__()
            self.embed = k.nn.Embedding(vocab, dim)
            self.norm = k.nn.LayerNorm(dim)
            self.head = k.linear(dim, vocab, bias=False) if head == "linear" else OutInHead(dim, vocab, scale)
            if tie:
                self.head.weight = self.embed.weight

        def forward(self, ids: Any) -> Any:
            return self.head(self.norm(self.embed(ids)))

    return OutInHead, HeadLM


def out_in_head(framework: str) -> type:
    """The OutInHead class of `framework` (for LayerMap.weight_rule)."""
    return _head_classes(framework)[0]


def head_lm(framework: str, head: str, vocab: int = 12, dim: int = 6, tie: bool = False, scale: float = 1.0,
            seed: int = 0) -> Any:  # fmt: skip
    """An embedding, a LayerNorm and an output head: `head` "linear" (the framework's Linear: [out, in] in
    torch, [in, out] in paddle) or "out_in" (OutInHead: [out, in] in both); `tie` ties it to the
    embedding (only where both keep [vocab, dim]); vocab == dim makes the head square."""
    kit(framework).seed(seed)
    return _head_classes(framework)[1](vocab, dim, head, tie, scale)
