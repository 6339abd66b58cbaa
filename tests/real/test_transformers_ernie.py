"""transformers vs paddleformers: ERNIE 4.5 (Ernie4_5ForCausalLM), built from a small config on both sides.

paddleformers fuses q/k/v into one qkv_proj, grouped per kv head, and gate/up into up_gate_proj ([gate |
up]); transformers keeps five Linears. padiff finds the fusions by name and takes their layouts from its
rules for paddleformers (weights/fusion_rules.py), copies the weights, and compares the fused layers
against their parts: a plain `padiff.compare` must pass in both directions, and a planted RMSNorm eps, a
planted rope theta and gate/up declared in the wrong order must each be found at their layer. The file
sorts after test_transformers.py, so transformers' models are imported before paddleformers either way.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")
from transformers import Ernie4_5Config as HFErnieConfig  # noqa: E402
from transformers import Ernie4_5ForCausalLM as HFErnie  # noqa: E402

pytest.importorskip("paddleformers")
import paddle  # noqa: E402
import torch  # noqa: E402
from paddleformers.transformers.ernie4_5 import Ernie4_5Config as PFErnieConfig  # noqa: E402
from paddleformers.transformers.ernie4_5 import Ernie4_5ForCausalLM as PFErnie  # noqa: E402

import padiff  # noqa: E402
from padiff.judge.records import Phase  # noqa: E402
from tests.checks import assert_compared  # noqa: E402

# the same small sizes on both sides (ERNIE 4.5 0.3B's proportions: GQA, head_dim set apart, tied head)
SMALL = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=64,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
    use_cache=False,
    rms_norm_eps=1e-5,
    hidden_act="silu",
    tie_word_embeddings=True,  # ERNIE 4.5's default in both
    use_bias=False,
)
THETA = 500000.0  # ERNIE 4.5's rope theta
# both return a ModelOutput with logits (paddleformers' return_dict defaults to True here)
LOSS = (lambda out: out.logits.mean(), lambda out: out.logits.mean())
ADAMW = (
    lambda ps: torch.optim.AdamW(ps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    lambda ps: paddle.optimizer.AdamW(
        parameters=ps, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01
    ),
)


def ernie_pair(theta: float = THETA, **changes: object) -> tuple[torch.nn.Module, paddle.nn.Layer]:
    """Both models from the same keywords; paddle's fused kernels (RMSNorm, rope) off, eager attention.
    `theta` is raw's rope theta (a plant when it is not THETA)."""
    torch.manual_seed(0)
    paddle.seed(0)
    config = {**SMALL, **changes}
    rope = {"rope_type": "default", "rope_theta": THETA}
    base = HFErnie(HFErnieConfig(**config, rope_parameters=rope, attn_implementation="eager")).float().eval()
    raw = PFErnie(
        PFErnieConfig(
            **config,
            rope_theta=theta,
            fuse_rms_norm=False,
            apply_rope_fusion=False,
            _attn_implementation="eager",
        )
    )
    raw.eval()
    return base, raw


def token_ids(batch: int = 2) -> np.ndarray:
    return np.random.default_rng(0).integers(3, SMALL["vocab_size"], (batch, 8)).astype("int64")


def _culprit(report: padiff.Report) -> tuple[str, int, str, str] | None:
    first = report.first_diff
    return None if first is None else (first.phase.value, first.step, first.base_path, first.raw_path)


def _summary(report: padiff.Report) -> str:
    return str(report).split("\nbase (torch) model")[0].split("\nbase (paddle) model")[0]


def _fused_pairs(layer: int, torch_base: bool) -> list[tuple[str, str]]:
    """The (base, raw) pairs of one decoder layer's fused calls: raw's fused layer paired with base's first
    part (torch base), or each raw part with base's fused layer (paddle base)."""
    prefix = f"model.layers.{layer}"
    pairs = [(f"{prefix}.self_attn.q_proj", f"{prefix}.self_attn.qkv_proj")]
    pairs += [(f"{prefix}.mlp.gate_proj", f"{prefix}.mlp.up_gate_proj")]
    if torch_base:
        return pairs
    pairs = [(f"{prefix}.self_attn.qkv_proj", f"{prefix}.self_attn.{p}_proj") for p in "qkv"]
    return pairs + [(f"{prefix}.mlp.up_gate_proj", f"{prefix}.mlp.{p}_proj") for p in ("gate", "up")]


@pytest.mark.parametrize("torch_base", [True, False], ids=["torch base", "paddle base"])
def test_ernie_same_network_passes_with_the_fused_layers_compared(torch_base: bool) -> None:
    hf, pf = ernie_pair()
    base, raw = (hf, pf) if torch_base else (pf, hf)
    report = padiff.compare(base, raw, token_ids(), loss_fn=LOSS)
    assert report.passed, _summary(report)
    pairs = [pair for layer in range(SMALL["num_hidden_layers"]) for pair in _fused_pairs(layer, torch_base)]
    assert_compared(report, pairs=[*pairs, "model.norm", "lm_head"], phases=("forward", "backward"))
    fused_grads = [
        d for d in report.diffs if d.phase is Phase.GRAD and "qkv_proj" in d.base_path + d.raw_path
    ]
    assert len(fused_grads) == (2 if torch_base else 6), [d.leaf for d in fused_grads]
    rules = [n for n in report.notes if "rule for paddleformers" in n]
    assert len(rules) == 2 and "interleaved per 2 head groups" in rules[0], report.notes


def test_ernie_two_adamw_steps_pass_with_the_fused_updates_compared() -> None:
    base, raw = ernie_pair()
    report = padiff.compare(base, raw, token_ids(), loss_fn=LOSS, optimizers=ADAMW, steps=2)
    assert report.passed, _summary(report)
    updated = {(d.step, d.raw_path) for d in report.diffs if d.phase is Phase.WEIGHT}
    for step in (0, 1):
        assert (step, "model.layers.1.self_attn.qkv_proj") in updated, sorted(updated)
        assert (step, "model.layers.1.mlp.up_gate_proj") in updated, sorted(updated)


def test_ernie_planted_rms_norm_eps_is_found_at_that_norm() -> None:
    base, raw = ernie_pair()
    raw.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-2  # base's is 1e-5
    report = padiff.compare(base, raw, token_ids(), loss_fn=LOSS)
    norm = "model.layers.1.post_attention_layernorm"
    assert _culprit(report) == ("forward", 0, norm, norm), _summary(report)


def test_ernie_planted_rope_theta_is_found_at_the_rotary_embedding() -> None:
    base, raw = ernie_pair(theta=1e4)
    report = padiff.compare(base, raw, token_ids(), loss_fn=LOSS)
    assert _culprit(report) == ("forward", 0, "model.rotary_emb", "model.rotary_emb"), _summary(report)


def test_ernie_gate_and_up_fused_in_the_wrong_order_are_found_at_the_mlp() -> None:
    """A declaration takes the place of the built-in rule: [up | gate] where paddleformers reads [gate | up]."""
    base, raw = ernie_pair()
    layer_map = padiff.LayerMap()
    for hf_layer, pf_layer in zip(base.model.layers, raw.model.layers):
        layer_map.fuse(pf_layer.mlp.up_gate_proj, [hf_layer.mlp.up_proj, hf_layer.mlp.gate_proj])
    report = padiff.compare(base, raw, token_ids(), loss_fn=LOSS, layer_map=layer_map)
    assert _culprit(report) == ("forward", 0, "model.layers.0.mlp", "model.layers.0.mlp"), _summary(report)


def test_ernie_untied_square_head_is_copied_as_is_by_the_lm_head_rule() -> None:
    """vocab == hidden: torch's lm_head [vocab, hidden] and paddleformers' LMHead [vocab, hidden] fit both
    ways round; the rule for (torch Linear, paddleformers LMHead) copies it as is."""
    base, raw = ernie_pair(vocab_size=64, tie_word_embeddings=False)
    x = token_ids() % 64
    report = padiff.compare(base, raw, x, loss_fn=LOSS)
    assert report.passed, _summary(report)
    assert_compared(report, pairs=["lm_head"])
    assert not any("fitted by shape" in note for note in report.notes), report.notes


@pytest.mark.parametrize("tied", ["base", "raw"])
def test_ernie_tied_against_untied_head_is_refused_saying_which_side_ties(tied: str) -> None:
    torch.manual_seed(0)
    paddle.seed(0)
    hf, _ = ernie_pair(tie_word_embeddings=tied == "base")
    _, pf = ernie_pair(tie_word_embeddings=tied == "raw")
    with pytest.raises(
        padiff.WeightTransferError, match=f"^{tied} ties 'lm_head.weight' to 'model.embed_tokens"
    ):
        padiff.compare(hf, pf, token_ids(), loss_fn=LOSS)


def test_ernie_torch_under_bfloat16_autocast_passes_against_paddle_in_float32() -> None:
    """The gradient the attention's own code sends to qkv_proj is bfloat16-rounded on base's side and
    fails its tolerance near zero; the float64 judge re-runs base's attention under autocast (and drives
    it by the gradient from outside only: eager attention returns its softmax weights, whose recorded
    gradient holds what its output sent back through them) and excuses it as rounding."""
    base, raw = ernie_pair()
    report = padiff.compare(base, raw, token_ids(), loss_fn=LOSS, autocast=("bfloat16", None))
    assert report.passed, _summary(report)
    excused = [d for d in report.diffs if d.where.value == "grad_out" and d.judged is not None]
    assert excused and all(d.judged.excused for d in excused), excused


def test_ernie_paddle_in_float32_passes_against_torch_under_bfloat16_autocast() -> None:
    """The other way round the float64 judge excuses that gradient (the fused qkv_proj's, read from
    paddle's attention re-run in float64 and cut for q, k and v) as rounding."""
    hf, pf = ernie_pair()
    report = padiff.compare(pf, hf, token_ids(), loss_fn=LOSS, autocast=(None, "bfloat16"))
    assert report.passed, _summary(report)
    excused = [d for d in report.diffs if d.where.value == "grad_out" and d.judged is not None]
    assert excused and all(d.judged.excused for d in excused), excused


@pytest.mark.parametrize("torch_base", [True, False], ids=["torch base", "paddle base"])
def test_ernie_planted_rms_norm_eps_is_found_under_autocast(torch_base: bool) -> None:
    """The autocast runs still find a real difference at its layer (the control of the tests above)."""
    hf, pf = ernie_pair()
    norm = "model.layers.1.post_attention_layernorm"
    if torch_base:
        pf.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-2  # base's is 1e-5
        report = padiff.compare(hf, pf, token_ids(), loss_fn=LOSS, autocast=("bfloat16", None))
    else:
        # this norm's output moves 5% with eps 0.1 (with 1e-2 only 0.6%, below bfloat16's resolution,
        # which a bfloat16 comparison cannot tell from rounding; float32 finds that one)
        hf.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-1
        report = padiff.compare(pf, hf, token_ids(), loss_fn=LOSS, autocast=(None, "bfloat16"))
    assert _culprit(report) == ("forward", 0, norm, norm), _summary(report)
