"""Tiny random checkpoints saved by transformers (the oracle), one per (family, task) pair.

    VARIANTS[name] = Variant(...)      the one table: every config the parity tests check, with its parity rows
    parity_rows(fixture) -> [(variant, task)]   the rows of one builder's variants (tasks from the registry rows)
    build_checkpoint(tmp_root, family, task, **config_overrides) -> Path
        transformers config -> model -> every weight perturbed (so biases and norms are not the trivial
        0/1 of a fresh init and a loading mistake shows) -> save_pretrained(safe_serialization=True),
        with a real tokenizer (tests/fx_tokenizers.py) whose vocab size is the config's vocab_size.
    oracle(folder, family, task)   the transformers model loaded from that folder (eval, eager attention)
    oracle_output(model, task, input_ids, attention_mask, token_type_ids)  the output autocli must match
    tiny_checkpoints               session fixture: {(family, task): folder} for every ENCODER_PAIRS entry
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fx_tokenizers import write_bpe_tokenizer, write_unigram_tokenizer, write_wordpiece_tokenizer

# --- the one table every parity test is generated from ---------------------------------------------

@dataclass(frozen=True)
class Variant:
    """A config that changes the math, checked against transformers on its parity rows."""

    fixture: str  # which builder saves it: "encoder" (here), "deberta" (fx_deberta), "decoder" (fx_decoders), "seq2seq", "vision" (fx_vision), "layout" (fx_layout), "clip" (fx_clip)
    model_type: str
    oracle: str  # transformers class-name prefix
    config: dict
    tasks: tuple = ()  # parity rows; () = every task the registry row offers
    tokenizer: str = ""  # encoder fixtures: wordpiece | bpe | unigram
    untied: bool = False  # seq2seq: saved with its own lm_head and tie_word_embeddings false (v1.1, Flan, mT5)


SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)
_ROBERTA = dict(SMALL, max_position_embeddings=66, type_vocab_size=1)
_ALBERT = dict(SMALL, embedding_size=16, num_hidden_groups=1, inner_group_num=1, hidden_act="gelu_new")
_DEB = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, pad_token_id=0)
_V3 = dict(_DEB, max_position_embeddings=512, relative_attention=True, pos_att_type=["p2c", "c2p"], share_att_key=True,
           norm_rel_ebd="layer_norm", position_biased_input=False, position_buckets=256, max_relative_positions=512)
_MB = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=37, max_position_embeddings=128,
           pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
_LLAMA = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, rms_norm_eps=1e-5)
_GEMMA = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=128, rms_norm_eps=1e-5, pad_token_id=1)
_NEOX = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=96)
_T5 = dict(d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
           relative_attention_max_distance=20, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
_BART = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
             encoder_ffn_dim=48, decoder_ffn_dim=48, max_position_embeddings=64, pad_token_id=1, bos_token_id=0,
             eos_token_id=2, decoder_start_token_id=2, forced_eos_token_id=2)
_MLM_CLS = ("base", "masked-lm", "sequence-classification")
_VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32, patch_size=8,
            encoder_stride=8)
_GPT = dict(n_embd=32, n_layer=2, n_head=4, n_positions=96)
_TOWER = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
_CLIP = dict(text_config=dict(_TOWER, vocab_size=64, max_position_embeddings=40, eos_token_id=63),
             vision_config=dict(_TOWER, image_size=32, patch_size=8), projection_dim=24)


def _enc(model_type, oracle, tokenizer, config, tasks=()):
    return Variant("encoder", model_type, oracle, config, tasks, tokenizer)


# name -> Variant. An encoder named after its model_type is the one tiny_checkpoints builds for every head.
VARIANTS = {
    "bert": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2)),
    "roberta": _enc("roberta", "Roberta", "bpe", _ROBERTA),
    "xlm-roberta": _enc("xlm-roberta", "XLMRoberta", "unigram", _ROBERTA),
    "camembert": _enc("camembert", "Camembert", "unigram", _ROBERTA),
    "distilbert": _enc("distilbert", "DistilBert", "wordpiece", dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)),
    "albert": _enc("albert", "Albert", "wordpiece", _ALBERT),
    "electra": _enc("electra", "Electra", "wordpiece", dict(SMALL, embedding_size=16)),
    # encoder config values that change the math, each on the head that exercises it
    "bert-gelu_new-eps": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, hidden_act="gelu_new", layer_norm_eps=1e-5), ("masked-lm",)),
    "bert-untied": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, tie_word_embeddings=False), ("masked-lm",)),
    "bert-relu": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, hidden_act="relu"), ("sequence-classification",)),
    "bert-silu": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, hidden_act="silu"), ("token-classification",)),
    "bert-gelu_fast": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, hidden_act="gelu_fast"), ("base",)),
    "bert-quick_gelu": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, hidden_act="quick_gelu"), ("base",)),
    "bert-gelu_pytorch_tanh": _enc("bert", "Bert", "wordpiece", dict(SMALL, type_vocab_size=2, hidden_act="gelu_pytorch_tanh"), ("base",)),
    "roberta-untied": _enc("roberta", "Roberta", "bpe", dict(_ROBERTA, tie_word_embeddings=False, hidden_act="gelu_new"), ("masked-lm",)),
    "roberta-types": _enc("roberta", "Roberta", "bpe", dict(_ROBERTA, type_vocab_size=2), ("sequence-classification",)),
    "distilbert-sinusoid": _enc("distilbert", "DistilBert", "wordpiece", dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                max_position_embeddings=64, sinusoidal_pos_embds=True), ("base",)),
    "distilbert-sinusoid-relu": _enc("distilbert", "DistilBert", "wordpiece", dict(dim=32, n_layers=2, n_heads=4, hidden_dim=37,
                                     max_position_embeddings=64, sinusoidal_pos_embds=True, activation="relu"), ("masked-lm",)),
    "albert-groups": _enc("albert", "Albert", "wordpiece", dict(_ALBERT, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2), ("base",)),
    "albert-3groups": _enc("albert", "Albert", "wordpiece", dict(_ALBERT, num_hidden_layers=3, num_hidden_groups=3, embedding_size=24,
                                                                hidden_act="gelu"), ("masked-lm",)),
    "albert-2groups": _enc("albert", "Albert", "wordpiece", dict(_ALBERT, num_hidden_layers=4, num_hidden_groups=2), ("sequence-classification",)),
    "electra-no-projection": _enc("electra", "Electra", "wordpiece", dict(SMALL, embedding_size=32), ("base",)),
    "electra-mean-summary": _enc("electra", "Electra", "wordpiece", dict(SMALL, embedding_size=16, summary_type="mean",
                                                                        summary_activation="tanh"), ("multiple-choice",)),
    "electra-last-summary": _enc("electra", "Electra", "wordpiece", dict(SMALL, embedding_size=16, summary_type="last", summary_use_proj=False,
                                                                        summary_activation=""), ("multiple-choice",)),
    "electra-gelu_new": _enc("electra", "Electra", "wordpiece", dict(SMALL, embedding_size=16, hidden_act="gelu_new"), ("replaced-token-detection",)),
    "electra-untied": _enc("electra", "Electra", "wordpiece", dict(SMALL, embedding_size=16, tie_word_embeddings=False), ("masked-lm",)),
    # DeBERTa-v2/v3: deberta-v3-base's layout (shared keys, 256 log buckets, layer-normed relative embeddings, no
    # absolute positions); buckets small enough that a 20-token row crosses into the log-spaced range;
    # deberta-v2-xlarge's layout (own position projections, conv beside layer 0, "p2c|c2p", token types); c2p only,
    # no buckets, embedding_size != hidden_size, untied; p2c only with shared keys and grouped convolution; no
    # relative attention (pos_att_type still counts in the scale); the new-style MLM head (lm_predictions.lm_head.*)
    "deberta-v2/v3": Variant("deberta", "deberta-v2", "DebertaV2", _V3),
    "deberta-v2/v3-buckets8": Variant("deberta", "deberta-v2", "DebertaV2", dict(_V3, position_buckets=8, max_relative_positions=64), _MLM_CLS),
    "deberta-v2/v2-conv": Variant("deberta", "deberta-v2", "DebertaV2", dict(
        _DEB, max_position_embeddings=64, relative_attention=True, pos_att_type="p2c|c2p", share_att_key=False, position_buckets=-1,
        conv_kernel_size=3, conv_act="gelu", type_vocab_size=2, position_biased_input=True)),
    "deberta-v2/c2p-embed": Variant("deberta", "deberta-v2", "DebertaV2", dict(
        _DEB, max_position_embeddings=64, relative_attention=True, pos_att_type=["c2p"], position_buckets=0, max_relative_positions=-1,
        embedding_size=16, tie_word_embeddings=False), _MLM_CLS),
    "deberta-v2/p2c-groups": Variant("deberta", "deberta-v2", "DebertaV2", dict(
        _DEB, max_position_embeddings=64, relative_attention=True, pos_att_type=["p2c"], share_att_key=True, position_buckets=-1,
        max_relative_positions=6, conv_kernel_size=5, conv_groups=4), _MLM_CLS),
    "deberta-v2/absolute": Variant("deberta", "deberta-v2", "DebertaV2", dict(_DEB, max_position_embeddings=64, pos_att_type=["c2p"]), _MLM_CLS),
    "deberta-v2/v3-new-mlm": Variant("deberta", "deberta-v2", "DebertaV2", dict(_V3, legacy=False), ("masked-lm",)),
    # DeBERTa v1: deberta-base's layout (c2p + p2c over distances clipped at max_relative_positions, shorter than the row)
    "deberta/base": Variant("deberta", "deberta", "Deberta", dict(_DEB, max_position_embeddings=64, relative_attention=True,
                                                                 pos_att_type=["c2p", "p2c"], max_relative_positions=8)),
    "deberta/talking-heads": Variant("deberta", "deberta", "Deberta", dict(
        _DEB, max_position_embeddings=64, relative_attention=True, pos_att_type="c2p|p2c", talking_head=True, embedding_size=16,
        type_vocab_size=2, position_biased_input=False), _MLM_CLS),
    "deberta/absolute": Variant("deberta", "deberta", "Deberta", dict(_DEB, max_position_embeddings=64), _MLM_CLS),
    "deberta/new-mlm": Variant("deberta", "deberta", "Deberta", dict(_DEB, max_position_embeddings=64, relative_attention=True,
                                                                    pos_att_type=["p2c"], legacy=False), ("masked-lm",)),
    # ModernBERT: local layers every other layer with a 6-token window much shorter than the rows; mean pooling,
    # every bias on, own thetas and activations, untied decoder
    "modernbert/alternating": Variant("deberta", "modernbert", "ModernBert", dict(_MB, global_attn_every_n_layers=2, local_attention=6)),
    "modernbert/mean-biases": Variant("deberta", "modernbert", "ModernBert", dict(
        _MB, global_attn_every_n_layers=3, local_attention=4, classifier_pooling="mean", norm_bias=True, attention_bias=True,
        mlp_bias=True, classifier_bias=True, decoder_bias=False, tie_word_embeddings=False, global_rope_theta=1000.0,
        local_rope_theta=77.0, hidden_activation="gelu_pytorch_tanh", classifier_activation="silu")),
    # Decoders, every head on each family's first row, causal-lm on the others. GPT-2: tied head, fused Conv1D qkv,
    # learned positions; GPT-J: interleaved rotary on the first rotary_dim channels, parallel attention + MLP, lm_head
    # bias; GPT-NeoX: fused per-head qkv, partial rotary, parallel or sequential residual; LLaMA: GQA, untied; then tied
    # with biases and an explicit head_dim; then each rope scaling type; Mistral: sliding window shorter than the
    # prompts; Qwen2: q/k/v bias, window on layers >= max_window_layers; Qwen3: per-head q/k RMSNorm, explicit head_dim
    "gpt2": Variant("decoder", "gpt2", "GPT2", _GPT),
    "gpt2-scaled": Variant("decoder", "gpt2", "GPT2", dict(_GPT, n_inner=40, scale_attn_by_inverse_layer_idx=True,
                                                           tie_word_embeddings=False, activation_function="gelu_pytorch_tanh"), ("causal-lm",)),
    "gptj": Variant("decoder", "gptj", "GPTJ", dict(_GPT, rotary_dim=4)),
    "gpt_neox": Variant("decoder", "gpt_neox", "GPTNeoX", dict(_NEOX, rotary_pct=0.5, use_parallel_residual=True)),
    "gpt_neox-sequential": Variant("decoder", "gpt_neox", "GPTNeoX", dict(_NEOX, rotary_pct=1.0, use_parallel_residual=False,
                                   attention_bias=False, rotary_emb_base=500.0, tie_word_embeddings=True), ("causal-lm",)),
    "llama": Variant("decoder", "llama", "Llama", _LLAMA),
    "llama-tied-bias": Variant("decoder", "llama", "Llama", dict(_LLAMA, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
                                                                 head_dim=16, num_key_value_heads=1), ("causal-lm",)),
    "llama-linear": Variant("decoder", "llama", "Llama", dict(_LLAMA, rope_scaling={"type": "linear", "factor": 2.0}, rope_theta=500.0),
                            ("causal-lm",)),
    "llama-dynamic": Variant("decoder", "llama", "Llama", dict(_LLAMA, max_position_embeddings=12, rope_parameters={
        "rope_type": "dynamic", "factor": 3.0, "rope_theta": 10000.0}), ("causal-lm",)),
    "llama-llama3": Variant("decoder", "llama", "Llama", dict(_LLAMA, rope_parameters={
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16, "rope_theta": 500000.0}), ("causal-lm",)),
    "llama-yarn": Variant("decoder", "llama", "Llama", dict(_LLAMA, rope_scaling={
        "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "beta_fast": 16}), ("causal-lm",)),
    "mistral": Variant("decoder", "mistral", "Mistral", dict(_LLAMA, sliding_window=5)),
    "qwen2": Variant("decoder", "qwen2", "Qwen2", dict(_LLAMA, use_sliding_window=True, sliding_window=5, max_window_layers=1)),
    "qwen3": Variant("decoder", "qwen3", "Qwen3", dict(_LLAMA, head_dim=16, attention_bias=True)),
    # Gemma: head_dim apart from hidden/heads, tied head, (1 + w) norms, scaled embeddings, tanh GeGLU; Gemma 2: caps
    # small enough to bite, window 5 on alternate layers, queries scaled by 1/sqrt(24); Phi-3: fused qkv_proj and
    # gate_up_proj, rotary on half of each head, window 5 (more of their settings: tests/fx_gemma_phi3.py)
    "gemma": Variant("decoder", "gemma", "Gemma", dict(_GEMMA, head_dim=16)),
    "gemma2": Variant("decoder", "gemma2", "Gemma2", dict(_GEMMA, head_dim=16, sliding_window=5, query_pre_attn_scalar=24,
                                                          attn_logit_softcapping=0.5, final_logit_softcapping=2.0)),
    "phi3": Variant("decoder", "phi3", "Phi3", dict(_GEMMA, partial_rotary_factor=0.5, sliding_window=5)),
    # Encoder-decoders, every head on every row. T5 v1.0: tied head (decoder output rescaled by d_model^-0.5), ReLU;
    # v1.1 / Flan: untied, gated-GELU; mT5: the v1.1 math under its own model_type (never rescales); UMT5: a relative
    # position bias in every layer, gated-SiLU; BART: post-norm, learned positions offset by 2, final_logits_bias;
    # mBART: pre-norm with final layer norms, scaled embeddings, decoder inputs start with the language id
    "t5": Variant("seq2seq", "t5", "T5", _T5),
    "t5-v1_1": Variant("seq2seq", "t5", "T5", dict(_T5, feed_forward_proj="gated-gelu"), untied=True),
    "mt5": Variant("seq2seq", "mt5", "MT5", dict(_T5, feed_forward_proj="gated-gelu"), untied=True),
    "umt5": Variant("seq2seq", "umt5", "UMT5", dict(_T5, feed_forward_proj="gated-silu")),
    "bart": Variant("seq2seq", "bart", "Bart", _BART),
    "mbart": Variant("seq2seq", "mbart", "MBart", dict(_BART, scale_embedding=True, decoder_start_token_id=None)),
    # Images (tests/fx_vision.py builds them with their image processors): 32x32 inputs in 8x8 patches
    "vit": Variant("vision", "vit", "ViT", _VIT),
    "deit": Variant("vision", "deit", "DeiT", _VIT),
    # Documents (tests/fx_layout.py builds them with their processors); v3: 4 * coordinate + 2 * shape = hidden
    "layoutlm": Variant("layout", "layoutlm", "LayoutLM", dict(SMALL, max_2d_position_embeddings=1024, type_vocab_size=2)),
    "layoutlmv3": Variant("layout", "layoutlmv3", "LayoutLMv3", dict(SMALL, max_position_embeddings=66, type_vocab_size=1,
                          coordinate_size=6, shape_size=4, input_size=32, patch_size=8, rel_pos_bins=8, max_rel_pos=16,
                          rel_2d_pos_bins=16, max_rel_2d_pos=64)),
    # Images and texts (tests/fx_clip.py builds them with their processor and tokenizer): 32x32 inputs in 8x8 patches
    "clip": Variant("clip", "clip", "CLIP", _CLIP),
}


def parity_rows(fixture: str) -> list[tuple[str, str]]:
    """(variant, task) for every parity row of one fixture's variants, in table order."""
    from autocli import registry

    return [(name, task) for name, v in VARIANTS.items() if v.fixture == fixture
            for task in (v.tasks or tuple(registry.FAMILIES[v.model_type].heads))]


# The encoders tiny_checkpoints builds: model_type -> (transformers class-name prefix, tokenizer kind, config).
FAMILIES = {name: (v.oracle, v.tokenizer, v.config) for name, v in VARIANTS.items() if v.fixture == "encoder" and name == v.model_type}

# task -> transformers class-name suffix
TASK_CLASSES = {
    "base": "Model",
    "sequence-classification": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
    "question-answering": "ForQuestionAnswering",
    "masked-lm": "ForMaskedLM",
    "multiple-choice": "ForMultipleChoice",
    "next-sentence-prediction": "ForNextSentencePrediction",
    "replaced-token-detection": "ForPreTraining",
    "causal-lm": "ForCausalLM",
    "seq2seq-lm": "ForConditionalGeneration",
}

ENCODER_PAIRS = [(f, t) for f, t in parity_rows("encoder") if f in FAMILIES]
CONFIG_VARIANTS = [(f, t) for f, t in parity_rows("encoder") if f not in FAMILIES]

NUM_LABELS = 3


_TOKENIZERS: dict[str, tuple[Path, dict]] = {}  # kind -> (folder written once, config entries)


def _write_tokenizer(folder: Path, kind: str) -> dict:
    """Put a `kind` tokenizer in folder; return config entries that must agree with it (vocab size, special ids).
    Each kind is trained once per process and copied after that."""
    if kind in _TOKENIZERS and _TOKENIZERS[kind][0].is_dir():
        src, extra = _TOKENIZERS[kind]
        for f in src.iterdir():
            if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
                shutil.copy(f, folder / f.name)
        return dict(extra)
    if kind == "wordpiece":
        size = write_wordpiece_tokenizer(folder, vocab_size=120)
    elif kind == "bpe":
        size = write_bpe_tokenizer(folder)
    else:
        size = write_unigram_tokenizer(folder)
    vocab = {t["content"]: t["id"] for t in json.loads((folder / "tokenizer.json").read_text())["added_tokens"]}
    out = {"vocab_size": size}
    for field, names in (("pad_token_id", ("[PAD]", "<pad>")), ("bos_token_id", ("<s>",)), ("eos_token_id", ("</s>",))):
        for n in names:
            if n in vocab:
                out[field] = vocab[n]
    _TOKENIZERS[kind] = (folder, out)
    return dict(out)


def transformers_class(variant: str, task: str):
    import transformers

    return getattr(transformers, VARIANTS[variant].oracle + TASK_CLASSES[task])


def build_checkpoint(tmp_root, family: str, task: str, *, seed: int = 0, tokenizer: bool = True, **config_overrides) -> Path:
    """A tiny random checkpoint of `family` (a VARIANTS name; an encoder's main row is its model_type) with the
    `task` head, saved by transformers (cached by arguments)."""
    import torch
    import transformers

    key = json.dumps([family, task, seed, tokenizer, config_overrides], sort_keys=True, default=str)
    folder = Path(tmp_root) / f"{family}-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    v = VARIANTS[family]
    prefix, small = v.oracle, v.config
    extra = _write_tokenizer(folder, v.tokenizer) if tokenizer else {"vocab_size": 120}
    labels = 2 if task == "question-answering" else NUM_LABELS  # QA heads are (start, end)
    fields = {**small, **extra, "num_labels": labels, **config_overrides}
    config = getattr(transformers, prefix + "Config")(**fields)
    torch.manual_seed(seed)
    model = transformers_class(family, task)(config).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for p in model.parameters():  # tied parameters are yielded once
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def oracle(folder: Path, family: str, task: str):
    return transformers_class(family, task).from_pretrained(folder, attn_implementation="eager").eval()


def oracle_output(model, task: str, input_ids, attention_mask, token_type_ids=None):
    import torch

    kw = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        kw["token_type_ids"] = token_type_ids
    with torch.no_grad():
        out = model(**kw)
    if task == "base":
        return out.last_hidden_state
    if task == "question-answering":
        return torch.stack([out.start_logits, out.end_logits], dim=-1)
    return out.logits


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict:
    """{(family, task): folder} for every encoder pair, built once per session."""
    root = tmp_path_factory.mktemp("tiny_ckpt")
    return {(f, t): build_checkpoint(root, f, t) for f, t in ENCODER_PAIRS}


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A session folder for build_checkpoint calls with overrides."""
    return tmp_path_factory.mktemp("tiny_ckpt_variants")
