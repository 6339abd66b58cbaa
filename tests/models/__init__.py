"""Every model the tests compare, written once: ``from tests.models import build, example_input, ...``.

Each architecture is defined once against the framework kit (``frameworks.py``: the only place torch and
paddle differ), so its torch and paddle versions share class and attribute names, and therefore layer
paths. Builders take the framework first and seed it when they take a ``seed``; the rest draw from the
caller's RNG state. Frameworks are imported lazily, by the first builder that needs one.

  models.py     the five planted twins (mlp, cnn, transformer, embedding, custom_grad) and their plants
  generated.py  random twins built from a ``tests/gen.py`` spec
  structure.py  Linear-activation chains with porting slips, parameter-free layers, a deep tanh MLP
  forms.py      input and output forms: named inputs, nested and mixed-dtype outputs, float64, tokens
  sharing.py    a layer called twice or in a loop, tied weights
  faults.py     models that raise, make NaN or Inf, or change tensors in place
  ports.py      one computation drawn two ways (functional vs layer, fused vs flat, boundaries)
  mapping.py    fused blocks, wrappers and renamed layers for LayerMap and special inits
  isolation.py  a chaotic MLP with a head of its own code (narrowing after isolation); random draws
  masks.py      an attention whose ports pass masks and position ids in different forms
  sequences.py  recurrent twins: torch packs the padded batch, paddle passes sequence_length
  layouts.py    tensors laid out in different axis orders (attention heads, a time-major output)
  randomness.py train-mode randomness beyond dropout layers; a layer computing below float64
  training.py   a small ViT and a small UNet for optimizer steps; optimizer pairs, planted slips
  settings.py   one network per layer setting (clean or changed), BatchNorm MLPs for the buffer checks
  fusion.py     fused q/k/v and gate/up against separate projections; [out, in] and tied output heads
"""

from .faults import BoomError, add_, faulty, fragile, inplace, nonfinite, reshaping
from .forms import (
    Output,
    leaf_outputs,
    one_output,
    outputs,
    scaled_float64,
    scaled_grad,
    tokens,
    two_inputs,
    two_outputs,
)
from .frameworks import FRAMEWORKS, kit, net
from .fusion import HEAD_DIM, HEADS, HIDDEN, KV_HEADS, fused_block, head_lm, out_in_head, split_block
from .isolation import chaotic_with_head, draws
from .layouts import head_layouts, time_major_output
from .mapping import (
    block_head,
    enc_dec,
    norm_block,
    paddle_fused,
    reordered_enc_dec,
    seq,
    square_block,
    torch_blocks,
    traced_mlp,
    wrapped_act,
    wrappers,
)
from .masks import masked_attention, token_batch
from .models import PLANTS, TWINS, Plant, build, example_input, plants_of, xtanh_functions
from .ports import (
    concat_in_block,
    concat_in_parent,
    flat_stem,
    functional_pool,
    fused_activation,
    fused_stem,
    norm_without_affine,
    pool_layer,
    separate_activation,
    with_cache_position,
    without_cache_position,
)
from .randomness import downcast, drop_path, functional_dropout
from .sequences import packed_rnn, padded_batch
from .settings import (
    CLEAN,
    SETTINGS,
    SettingCase,
    bn_input,
    bn_mlp,
    bn_twice,
    hand_bn_mlp,
    setting_input,
    setting_twin,
)
from .sharing import loop, shared, tied, tiny_lm
from .structure import (
    acts,
    deep_tanh,
    fc_act_head,
    first,
    free,
    mlp_options,
    named_apart,
    report_nets,
    sequential_root,
    short_mlp,
    sliced,
    tagged,
)
from .training import optimizer_pair, training_images, unet, vit

__all__ = [
    "HEAD_DIM", "HEADS", "HIDDEN", "KV_HEADS", "fused_block", "head_lm", "out_in_head", "split_block",
    "CLEAN", "SETTINGS", "SettingCase", "bn_input", "bn_mlp", "bn_twice", "hand_bn_mlp", "setting_input", "setting_twin",
    "FRAMEWORKS", "PLANTS", "TWINS", "BoomError", "Output", "Plant", "acts", "add_", "block_head", "build",
    "chaotic_with_head", "draws", "head_layouts", "time_major_output", "masked_attention", "token_batch", "packed_rnn", "padded_batch", "downcast", "drop_path", "functional_dropout", "optimizer_pair", "training_images", "unet", "vit", "concat_in_block", "concat_in_parent", "deep_tanh", "enc_dec", "example_input",
    "faulty", "fc_act_head", "first", "flat_stem", "fragile", "free", "functional_pool", "fused_activation",
    "fused_stem", "inplace", "kit", "leaf_outputs", "loop", "mlp_options", "named_apart", "net",
    "nonfinite", "norm_block", "norm_without_affine", "one_output", "outputs", "paddle_fused", "plants_of",
    "pool_layer", "reordered_enc_dec", "report_nets", "reshaping", "scaled_float64", "scaled_grad",
    "separate_activation", "seq", "sequential_root", "shared", "short_mlp", "sliced", "square_block",
    "tagged", "tied", "tiny_lm", "tokens", "torch_blocks", "traced_mlp", "two_inputs", "two_outputs",
    "with_cache_position", "without_cache_position", "wrapped_act", "wrappers", "xtanh_functions",
]  # fmt: skip
