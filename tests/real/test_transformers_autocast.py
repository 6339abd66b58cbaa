"""transformers' Phi-3, Gemma-3 (text) and Llama under bfloat16 autocast against paddleformers' in float32,
and a transformers model against itself under autocast: what checking a port in mixed precision looks
like. Llama is also compared in float32 and through two AdamW steps (no other test covers it).

Each clean pair must pass (its bfloat16 rounding judged against float64 where it crosses the tolerance),
and each planted or real difference must still be found at its layer. These runs found three judge bugs
(tests/test_units.py, tests/test_layouts.py): eager attention's unit counted the gradient at its softmax
weights twice, isolation's substitutes aliased base's trace (torch added a residual into it in place),
and a layer compared under a permutation was fed nothing in isolation.
"""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("transformers")
# transformers' models before paddleformers (test_transformers.py imports it, or skips without it)
import paddle  # noqa: E402
import torch  # noqa: E402
from transformers import LlamaConfig as HFLlamaConfig  # noqa: E402
from transformers import LlamaForCausalLM as HFLlama  # noqa: E402

import padiff  # noqa: E402
from tests.real.test_transformers import (  # noqa: E402
    ADAMW,
    LOSS,
    ONE_THETA,
    SMALL,
    _culprit,
    _plain_gemma3,
    _special_inits_last_one_test,  # noqa: F401 (autouse: gemma3_pair's special inits removed after each test)
    _summary,
    gemma3_pair,
    phi3_pair,
    token_ids,
)

BF16 = "bfloat16"
NORM = "model.layers.1.post_attention_layernorm"


@pytest.mark.parametrize("direction", ["torch base", "paddle base"])
def test_phi3_port_passes_with_torch_under_bfloat16_autocast(direction: str) -> None:
    hf, pf = phi3_pair()
    if direction == "torch base":
        report = padiff.compare(hf, pf, token_ids(), loss_fn=LOSS, autocast=(BF16, None))
    else:
        report = padiff.compare(pf, hf, token_ids(), loss_fn=LOSS[::-1], autocast=(None, BF16))
    assert report.passed, _summary(report)


@pytest.mark.parametrize("direction", ["torch base", "paddle base"])
def test_phi3_planted_norm_eps_is_found_under_bfloat16_autocast(direction: str) -> None:
    hf, pf = phi3_pair()
    if direction == "torch base":
        pf.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-1  # base's is 1e-5
        report = padiff.compare(hf, pf, token_ids(), loss_fn=LOSS, autocast=(BF16, None))
    else:
        hf.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-1
        report = padiff.compare(pf, hf, token_ids(), loss_fn=LOSS[::-1], autocast=(None, BF16))
    assert _culprit(report) == ("forward", 0, NORM, NORM), _summary(report)


def test_phi3_against_itself_under_bfloat16_autocast() -> None:
    """One transformers model in float32 against a copy of it under autocast; a planted eps in the copy
    is found."""
    hf, _ = phi3_pair()
    both = (LOSS[0], LOSS[0])
    report = padiff.compare(hf, copy.deepcopy(hf), token_ids(), loss_fn=both, autocast=(None, BF16))
    assert report.passed, _summary(report)
    planted = copy.deepcopy(hf)
    planted.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-1
    report = padiff.compare(hf, planted, token_ids(), loss_fn=both, autocast=(None, BF16))
    assert _culprit(report) == ("forward", 0, NORM, NORM), _summary(report)


def test_gemma3_one_rope_theta_passes_with_torch_under_bfloat16_autocast() -> None:
    """Its q_norm and k_norm run on [b, heads, s, d] in transformers and [b, s, heads, d] in
    paddleformers: single-step isolation feeds them base's values permuted (batch 3: no axes of equal
    size)."""
    hf, pf = gemma3_pair(**ONE_THETA)
    x = token_ids(batch=3)
    report = padiff.compare(hf, pf, x, loss_fn=LOSS, autocast=(BF16, None))
    assert report.passed, _summary(report)


def test_gemma3_plain_compare_adamw_steps_pass_under_bfloat16_autocast() -> None:
    """Through the fusion rules (no special inits), so every weight's update is compared at both steps."""
    hf, pf = _plain_gemma3()
    report = padiff.compare(
        hf, pf, token_ids(), loss_fn=LOSS, optimizers=ADAMW, steps=2, autocast=(BF16, None)
    )
    assert report.passed, _summary(report)
    updated = {d.raw_path for d in report.diffs if d.phase.value == "weight" and d.step == 1}
    assert "model.layers.0.self_attn.qkv_proj" in updated, sorted(updated)


def test_gemma3_sliding_layers_rope_theta_is_found_under_bfloat16_autocast() -> None:
    """The real difference of the two libraries (see test_transformers.py) under autocast."""
    hf, pf = gemma3_pair()
    report = padiff.compare(hf, pf, token_ids(batch=3), loss_fn=LOSS, autocast=(BF16, None))
    assert _culprit(report) == ("forward", 0, "model.rotary_emb", "model.rotary_emb"), _summary(report)


# --- Llama -------------------------------------------------------------------------------------------------

LLAMA = dict(SMALL, rope_theta=10000.0, rms_norm_eps=1e-6, hidden_act="silu", tie_word_embeddings=False)
AUTOCASTS = {"float32": None, "torch bf16": (BF16, None), "paddle base, torch bf16": (None, BF16)}


def llama_pair(**changes: float) -> tuple[torch.nn.Module, paddle.nn.Layer]:
    """transformers' and paddleformers' Llama from one config (eager attention, unfused RMSNorm on CPU);
    `changes` go to paddleformers' side only."""
    from paddleformers.transformers.llama import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    paddle.seed(0)
    base = HFLlama(HFLlamaConfig(**LLAMA, attn_implementation="eager")).float().eval()
    raw = LlamaForCausalLM(
        LlamaConfig(**{**LLAMA, **changes}, fuse_rms_norm=False, _attn_implementation="eager")
    )
    return base, raw.eval()


def _llama_compare(label: str, **options):
    hf, pf = llama_pair()
    autocast = AUTOCASTS[label]
    if label.startswith("paddle base"):
        optimizers = options.pop("optimizers", None)
        return padiff.compare(
            pf,
            hf,
            token_ids(),
            loss_fn=LOSS[::-1],
            autocast=autocast,
            optimizers=optimizers and optimizers[::-1],
            **options,
        )
    return padiff.compare(hf, pf, token_ids(), loss_fn=LOSS, autocast=autocast, **options)


@pytest.mark.parametrize("label", list(AUTOCASTS))
def test_llama_port_passes(label: str) -> None:
    report = _llama_compare(label)
    assert report.passed, _summary(report)


@pytest.mark.parametrize("label", list(AUTOCASTS))
def test_llama_adamw_steps_pass(label: str) -> None:
    report = _llama_compare(label, optimizers=ADAMW, steps=2)
    assert report.passed, _summary(report)
    assert any(d.phase.value == "weight" and d.step == 1 for d in report.diffs)


def test_llama_rope_theta_is_found_at_the_rotary_embedding() -> None:
    hf, pf = llama_pair(rope_theta=5e5)
    report = padiff.compare(hf, pf, token_ids(), loss_fn=LOSS)
    assert _culprit(report) == ("forward", 0, "model.rotary_emb", "model.rotary_emb"), _summary(report)


def test_llama_planted_norm_eps_is_found_under_bfloat16_autocast() -> None:
    hf, pf = llama_pair()
    pf.model.layers[1].post_attention_layernorm.variance_epsilon = 1e-1
    report = padiff.compare(hf, pf, token_ids(), loss_fn=LOSS, autocast=(BF16, None))
    assert _culprit(report) == ("forward", 0, NORM, NORM), _summary(report)
