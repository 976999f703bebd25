"""Tiny random Whisper checkpoints saved by transformers (the oracle), with a real Whisper-style tokenizer.

    build_whisper(root, task, multilingual=True, seed=0, **config) -> Path
        a WhisperForConditionalGeneration (task "speech-seq2seq"), WhisperModel ("base") or
        WhisperForAudioClassification ("audio-classification"): weights perturbed, saved with safetensors, with
        preprocessor_config.json, generation_config.json and the tokenizer files
    whisper_oracle(folder, task)         the transformers model (eval, eager attention)
    whisper_tokens(folder)               {name: id} of the special tokens the tests read
    whisper_root                         session fixture: where checkpoints go
    whisper_ckpt                         session fixture: the multilingual speech-seq2seq checkpoint

The tokenizer is a byte-level BPE trained on a small corpus, then Whisper's special tokens in Whisper's order:
<|endoftext|>, <|startoftranscript|>, the language tokens, <|translate|>, <|transcribe|>, <|startoflm|>,
<|startofprev|>, <|nospeech|>, <|notimestamps|> (all special), then the timestamp tokens <|0.00|>..<|30.00|>
(not special, as in the real files). An English-only checkpoint has no language or task tokens in its
generation config (is_multilingual false), as openai/whisper-*.en.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

LANGUAGES = ("en", "de", "fr", "es", "ja")
TIMESTAMPS = 1501  # <|0.00|> .. <|30.00|> every 0.02 s
SMALL = dict(d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
             encoder_ffn_dim=48, decoder_ffn_dim=48, max_target_positions=64, max_source_positions=1500,
             num_mel_bins=80, classifier_proj_size=8, num_labels=3)
CLASSES = {"speech-seq2seq": "WhisperForConditionalGeneration", "base": "WhisperModel",
           "audio-classification": "WhisperForAudioClassification"}


def _specials(languages=LANGUAGES) -> list[str]:
    return (["<|endoftext|>", "<|startoftranscript|>"] + [f"<|{c}|>" for c in languages]
            + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"])


def write_whisper_tokenizer(folder: Path, languages=LANGUAGES, text_tokens: int = 0) -> dict[str, int]:
    """tokenizer.json (+ vocab.json, merges.txt, configs) -> {token: id} of every special and timestamp token.
    text_tokens: pad the BPE vocabulary with never-merged tokens up to that many (50257: Whisper's own ids)."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE

    from tests.fx_tokenizers import CORPUS

    tok = Tokenizer(BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=[], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    if text_tokens:
        vocab, merges = tok.get_vocab(), json.loads(tok.to_str())["model"]["merges"]
        vocab.update({f"filler{i}": i for i in range(len(vocab), text_tokens)})
        model = BPE(vocab=vocab, merges=[tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges])
        tok.model = model
    specials = _specials(languages)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)]
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in stamps])
    folder.mkdir(parents=True, exist_ok=True)
    tok.model.save(str(folder))
    tok.save(str(folder / "tokenizer.json"))
    added = {str(tok.token_to_id(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                       "single_word": False, "special": t in specials} for t in specials + stamps}
    eos = "<|endoftext|>"
    config = {"tokenizer_class": "WhisperTokenizer", "added_tokens_decoder": added, "bos_token": eos, "eos_token": eos,
              "unk_token": eos, "pad_token": eos, "additional_special_tokens": specials[1:], "add_prefix_space": False,
              "errors": "replace", "model_max_length": 1024, "clean_up_tokenization_spaces": False}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps({"bos_token": eos, "eos_token": eos, "unk_token": eos,
                                                                 "pad_token": eos, "additional_special_tokens": specials[1:]}))
    return {t: tok.token_to_id(t) for t in specials + stamps[:1]} | {"Ġ": tok.token_to_id("Ġ"), "vocab": tok.get_vocab_size()}


def generation_config(ids: dict, multilingual: bool, max_length: int, languages=LANGUAGES) -> dict:
    eos = ids["<|endoftext|>"]
    out = {"decoder_start_token_id": ids["<|startoftranscript|>"], "eos_token_id": eos, "pad_token_id": eos,
           "bos_token_id": eos, "begin_suppress_tokens": [ids["Ġ"], eos], "suppress_tokens": [5, 17, 40, 101, 257],
           "no_timestamps_token_id": ids["<|notimestamps|>"], "prev_sot_token_id": ids["<|startofprev|>"],
           "max_initial_timestamp_index": 50, "max_length": max_length,
           "is_multilingual": multilingual}
    if multilingual:
        out.update(lang_to_id={f"<|{c}|>": ids[f"<|{c}|>"] for c in languages},
                   task_to_id={"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]},
                   forced_decoder_ids=[[1, None], [2, ids["<|transcribe|>"]]])
    else:
        out["forced_decoder_ids"] = [[1, ids["<|notimestamps|>"]]]
    return out


def build_whisper(root, task: str = "speech-seq2seq", *, multilingual: bool = True, seed: int = 1, embed: float = 0.3,
                  **overrides) -> Path:
    """A tiny random Whisper checkpoint (cached by arguments under root)."""
    import torch
    import transformers

    key = json.dumps([task, multilingual, seed, embed, overrides], sort_keys=True)
    folder = Path(root) / f"whisper-{task}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if (folder / "config.json").is_file():
        return folder
    tok_dir = Path(root) / "_tok_whisper"
    if not (tok_dir / "ids.json").is_file():
        ids = write_whisper_tokenizer(tok_dir)
        (tok_dir / "ids.json").write_text(json.dumps(ids))
    ids = json.loads((tok_dir / "ids.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    for f in tok_dir.iterdir():
        if f.name != "ids.json":
            shutil.copy(f, folder / f.name)
    fields = {**SMALL, **overrides}
    eos = ids["<|endoftext|>"]
    cfg = transformers.WhisperConfig(**fields, vocab_size=ids["vocab"], decoder_start_token_id=ids["<|startoftranscript|>"],
                                     pad_token_id=eos, bos_token_id=eos, eos_token_id=eos)
    torch.manual_seed(seed)
    model = getattr(transformers, CLASSES[task])(cfg).eval()
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed + 1)
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if t.is_floating_point():  # sharp token logits: random models then rarely meet near-ties
                t.add_(torch.randn(t.shape, generator=gen) * (embed if "embed_tokens" in name else 0.1))
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "generation_config.json").write_text(
        json.dumps(generation_config(ids, multilingual, fields["max_target_positions"]), indent=2))
    transformers.WhisperFeatureExtractor(feature_size=fields["num_mel_bins"]).save_pretrained(folder)
    return folder


def whisper_oracle(folder: Path, task: str = "speech-seq2seq"):
    import transformers

    return getattr(transformers, CLASSES[task]).from_pretrained(folder, attn_implementation="eager").eval()


def whisper_tokens(folder: Path) -> dict[str, int]:
    return json.loads((Path(folder).parent / "_tok_whisper" / "ids.json").read_text())


@pytest.fixture(scope="session")
def whisper_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tiny_whisper")


@pytest.fixture(scope="session")
def whisper_ckpt(whisper_root) -> Path:
    return build_whisper(whisper_root)
