"""`autocli compat`: task verdicts against transformers' head tables, each lint finding, the CLI.

Lint fixtures are tiny folders written by hand (config.json + safetensors.numpy + tokenizer
files); the verdict proof builds real checkpoints with transformers (the oracle, test-only).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autocli import compat, registry
from autocli.checkpoint import Checkpoint
from tests.conftest import ROOT, assert_one_line_error
from tests.fx_hub import write_safetensors

# registry task -> transformers' table of head classes (the oracle, read in the test only)
TF_TABLES = {
    "base": "MODEL_MAPPING_NAMES",
    "sequence-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "token-classification": "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "question-answering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "masked-lm": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "causal-lm": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "seq2seq-lm": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "multiple-choice": "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES",
    "next-sentence-prediction": "MODEL_FOR_NEXT_SENTENCE_PREDICTION_MAPPING_NAMES",
    "image-classification": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "masked-image-modeling": "MODEL_FOR_MASKED_IMAGE_MODELING_MAPPING_NAMES",
    "audio-classification": "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
    "ctc": "MODEL_FOR_CTC_MAPPING_NAMES",
    "zero-shot-image-classification": "MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "speech-seq2seq": "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
}
# Tasks beyond transformers' Auto tables: model types that have them (ELECTRA's discriminator).
EXTRA_TASKS = {"replaced-token-detection": {"electra"}}
FAMILY_TYPES = sorted(registry.FAMILIES)


def tf_class(model_type: str, task: str) -> str | None:
    from transformers.models.auto import modeling_auto

    if task in EXTRA_TASKS:
        pre = modeling_auto.MODEL_FOR_PRETRAINING_MAPPING_NAMES.get(model_type)
        return pre if model_type in EXTRA_TASKS[task] else None
    found = getattr(modeling_auto, TF_TABLES[task]).get(model_type)
    if found is None and task == "question-answering":  # LayoutLM's QA head is AutoModelForDocumentQuestionAnswering's
        found = modeling_auto.MODEL_FOR_DOCUMENT_QUESTION_ANSWERING_MAPPING_NAMES.get(model_type)
    return found


def verdicts(report) -> dict[str, str]:
    return {t: v.verdict for t, v in report.verdicts.items()}


def head_verdict(v) -> str:
    """The verdict on the head alone: a base checkpoint saved without generation_config.json may lack the
    generation setup (T5Model has no decoder_start_token_id), which says nothing about the head."""
    if v.verdict == compat.INCOMPLETE and all(u.requirement == "generation" for u in v.unmet):
        return compat.READY
    return v.verdict


def names(report) -> set[str]:
    return {f.name for f in report.findings}


# ---- the proof: verdicts equal transformers' head tables ------------------------------------------


def test_tasks_cover_transformers_tables():
    assert set(TF_TABLES) | set(EXTRA_TASKS) == set(registry.TASKS)


def media_files(model_type: str) -> dict:
    """File name -> JSON that an image or audio family needs instead of a tokenizer, with nothing for compat to
    lint: its preprocessor_config.json and (audio: CTC) vocab.json."""
    fam = registry.FAMILIES[model_type]
    if not fam.processor:
        return {}
    if fam.kind != "audio":
        return {"preprocessor_config.json": {"image_processor_type": fam.processor}}
    return {"preprocessor_config.json": {"feature_extractor_type": fam.processor, "sampling_rate": 16000},
            "vocab.json": {"<pad>": 0, "|": 1, "A": 2}}


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_unsupported_head_iff_transformers_has_no_class(model_type):
    fam = registry.FAMILIES[model_type]
    # Every head of the family present, so a verdict is `ready` exactly where the head exists.
    tensors = {"embeddings.word_embeddings.weight": ((16, 8), "F32")}
    for prefixes in fam.heads.values():
        tensors.update({p + "weight": ((2, 8), "F32") for p in prefixes})
    # the embedding's shape, and the decoder's first token that generation needs
    config = {"model_type": model_type, "vocab_size": 16, "hidden_size": 8, "decoder_start_token_id": 0}
    media = media_files(model_type)  # image and audio families read files, not tokens
    facts = compat.Facts(config=config, files=["model.safetensors", *media], shards={"model.safetensors": tensors},
                         tokenizer="tokenizer.json", preprocessor=media.get("preprocessor_config.json"))
    report = compat.assess(model_type, facts, list(registry.TASKS))
    for task in registry.TASKS:
        # not_run: heads transformers has that autocli leaves out on purpose (said in the reason)
        expected = compat.NO_HEAD if tf_class(model_type, task) is None or task in fam.not_run else compat.READY
        assert report.verdicts[task].verdict == expected, (model_type, task, report.verdicts[task])


# settings the generic tiny sizes leave inconsistent (Whisper's decoder heads are not num_attention_heads)
TINY_EXTRA = {"whisper": {"decoder_attention_heads": 4}}


def _tiny_config(model_type: str):
    from transformers import AutoConfig

    from tests.fx_models import FAMILIES as SMALL

    kw = dict(SMALL[model_type][2]) if model_type in SMALL else dict(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37, max_position_embeddings=64
    )
    kw.update(TINY_EXTRA.get(model_type, {}))
    cfg = AutoConfig.for_model(model_type, vocab_size=99, **kw)
    for i, attr in enumerate(("pad_token_id", "bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id", "mask_token_id")):
        if isinstance(getattr(cfg, attr, None), int):
            setattr(cfg, attr, i)  # inside the tiny vocab
    return cfg


def _save(tmp_root: Path, model_type: str, cls_name: str) -> Path:
    import torch
    import transformers

    folder = tmp_root / f"{model_type}-{cls_name}"
    if not (folder / "config.json").is_file():
        cfg = _tiny_config(model_type)
        if cls_name.endswith(("LMHeadModel", "ForCausalLM")) and not cfg.is_encoder_decoder:
            cfg.is_decoder = True
        torch.manual_seed(0)
        getattr(transformers, cls_name)(cfg).save_pretrained(folder, safe_serialization=True)
        write_tokenizer(folder, vocab=cfg.vocab_size)  # ready needs a tokenizer too
        for name, data in media_files(model_type).items():  # ... or, for image and audio families, a preprocessor
            (folder / name).write_text(json.dumps(data))
    return folder


@pytest.fixture(scope="module")
def tf_root(tmp_path_factory):
    return tmp_path_factory.mktemp("compat_tf")


def _tf_missing(folder: Path, cls_name: str) -> list[str]:
    """transformers' own loading report: the weights a head class would initialise at random."""
    import transformers

    _, info = getattr(transformers, cls_name).from_pretrained(folder, output_loading_info=True)
    return sorted(info["missing_keys"])


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_head_weights_in_transformers_checkpoints(model_type, tf_root):
    """base-only: a head is ready exactly when transformers loads it with no missing weights (tied LM heads);
    one head saved: that task is ready; *ForPreTraining: the heads it carries."""
    not_run = registry.FAMILIES[model_type].not_run
    if "base" in not_run:
        pytest.skip(f"transformers cannot build {model_type} here either: {not_run['base']}")
    classes = {task: None if task in not_run else tf_class(model_type, task) for task in registry.TASKS}
    base_dir = _save(tf_root, model_type, classes["base"])
    base = compat.assess("base", compat.gather(Checkpoint.resolve(str(base_dir))), list(registry.TASKS))
    assert base.verdicts["base"].verdict == compat.READY
    # a task may have several classes (DeiT's classifier with and without its distillation head): each one
    pairs = [(task, name) for task, names in classes.items() for name in (names if isinstance(names, tuple) else (names,))]
    for task, cls_name in pairs:
        if cls_name is None:
            assert base.verdicts[task].verdict == compat.NO_HEAD, (task, base.verdicts[task])
            continue
        if task == "base":
            continue
        missing = _tf_missing(base_dir, cls_name)
        expected = compat.UNTRAINED if missing else compat.READY
        assert head_verdict(base.verdicts[task]) == expected, (cls_name, missing, base.verdicts[task])
        report = compat.assess(task, compat.gather(Checkpoint.resolve(str(_save(tf_root, model_type, cls_name)))), list(registry.TASKS))
        assert head_verdict(report.verdicts[task]) == compat.READY, (cls_name, report.verdicts[task])
        assert "architectures-model-type" not in names(report), report.findings
        assert "architectures-weights" not in names(report), report.findings
    from transformers.models.auto import modeling_auto

    pre = modeling_auto.MODEL_FOR_PRETRAINING_MAPPING_NAMES.get(model_type)
    # wav2vec2's pretraining head (quantizer, contrastive projections) is none of the task heads
    if pre and pre.endswith("ForPreTraining") and registry.FAMILIES[model_type].kind != "audio":
        report = compat.assess(pre, compat.gather(Checkpoint.resolve(str(_save(tf_root, model_type, pre)))), list(registry.TASKS))
        ready = {t for t, v in verdicts(report).items() if v == compat.READY}
        assert ready - {"base"}, (pre, verdicts(report))  # it carries at least one of the task heads


# ---- hand-built checkpoints for the lint findings ----------------------------------------------------

H = 8  # hidden size of the hand-built checkpoints
BASE_CONFIG = {
    "model_type": "bert",
    "architectures": ["BertForTokenClassification"],
    "hidden_size": H,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 16,
    "vocab_size": 30,
    "max_position_embeddings": 16,
    "pad_token_id": 0,
    "id2label": {"0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC"},
    "label2id": {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3, "I-LOC": 4},
}


def base_tensors(rows: int = 5, vocab: int = 30, dtype=np.float32) -> dict:
    z = lambda *s: np.zeros(s, dtype=dtype)  # noqa: E731
    return {
        "bert.embeddings.word_embeddings.weight": z(vocab, H),
        "bert.embeddings.position_embeddings.weight": z(16, H),
        "bert.encoder.layer.0.attention.self.query.weight": z(H, H),
        "classifier.weight": z(rows, H),
        "classifier.bias": z(rows),
    }


def write_tokenizer(folder: Path, vocab: int = 30, model_max_length=16, added: int | None = None) -> None:
    tok = {
        "version": "1.0",
        "model": {"type": "WordLevel", "vocab": {f"t{i}": i for i in range(vocab)}, "unk_token": "t0"},
        "added_tokens": [] if added is None else [{"id": added, "content": "[NEW]", "special": True}],
    }
    (folder / "tokenizer.json").write_text(json.dumps(tok))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": model_max_length}))


def make(tmp_path: Path, config: dict | None = None, tensors: dict | None = None, tokenizer: bool = True, name="ckpt", **tok) -> Path:
    """A checkpoint folder; config keys set to None are removed from the baseline."""
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {k: v for k, v in {**BASE_CONFIG, **(config or {})}.items() if v is not None}
    (folder / "config.json").write_text(json.dumps(cfg))
    write_safetensors(folder / "model.safetensors", base_tensors() if tensors is None else tensors)
    if tokenizer:
        write_tokenizer(folder, **tok)
    return folder


def report_of(folder: Path, tasks=registry.TASKS):
    return compat.assess(str(folder), compat.gather(Checkpoint.resolve(str(folder))), list(tasks))


@pytest.fixture
def bert_row(monkeypatch):
    """The registry's bert row; a stand-in with transformers' BERT heads until the family lands."""
    if "bert" not in registry.FAMILIES:
        heads = {
            "sequence-classification": ("classifier.",),
            "token-classification": ("classifier.",),
            "question-answering": ("qa_outputs.",),
            "masked-lm": ("cls.predictions.",),
            "causal-lm": ("cls.predictions.",),
            "multiple-choice": ("classifier.",),
            "next-sentence-prediction": ("cls.seq_relationship.",),
        }
        monkeypatch.setitem(registry.FAMILIES, "bert", registry.Family("bert", "bert", heads))
    return registry.FAMILIES["bert"]


def test_clean_checkpoint_has_no_findings(tmp_path, bert_row):
    report = report_of(make(tmp_path))
    assert report.findings == []
    assert report.verdicts["token-classification"].verdict == compat.READY
    assert report.verdicts["sequence-classification"].verdict == compat.UNTRAINED  # classifier belongs to the declared task


LINT_CASES = {
    # name: (config changes, tensors, tokenizer kwargs) that trigger it
    "architectures-model-type": ({"architectures": ["GPT2LMHeadModel"]}, None, {}),
    "architectures-weights": ({"architectures": ["BertForQuestionAnswering"]}, None, {}),
    "id2label-size": ({}, dict(base_tensors(rows=7)), {}),
    "generic-labels": (
        {"id2label": {str(i): f"LABEL_{i}" for i in range(5)}, "label2id": None},
        None,
        {},
    ),
    "bio-tags": ({"id2label": {"0": "O", "1": "X-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC"}}, None, {}),
    "problem-type": ({"problem_type": "ordinal_regression"}, None, {}),
    "vocab-size": ({}, None, {"vocab": 40}),
    "max-length": ({}, None, {"model_max_length": 512}),
    "tied-embeddings": (
        {"tie_word_embeddings": False, "architectures": ["BertForMaskedLM"], "id2label": None, "label2id": None},
        {**base_tensors(), "cls.predictions.bias": np.zeros(30, np.float32)},
        {},
    ),
    "dimensions": ({"hidden_size": 10**9}, None, {}),
    "norm-eps": ({"layer_norm_eps": float("nan")}, None, {}),
    "tensor-dtype": ({}, {**base_tensors(), "bert.encoder.layer.0.attention.self.query.weight": np.zeros((H, H), np.int32)}, {}),
    "tensor-shape": ({"vocab_size": 40}, None, {}),
    "missing-tensor": ({"num_hidden_layers": 3}, None, {}),
}


@pytest.mark.parametrize("lint", sorted(LINT_CASES))
def test_lint_finding_triggers(lint, tmp_path, bert_row):
    config, tensors, tok = LINT_CASES[lint]
    report = report_of(make(tmp_path, config, tensors, **tok))
    assert lint in names(report), report.findings
    assert names(report) <= {lint, "architectures-weights", "id2label-size"}, report.findings  # no collateral noise
    assert all(f.severity in ("error", "warning", "info") and f.message for f in report.findings)


def test_every_lint_has_a_trigger_test():
    covered = set(LINT_CASES) | {
        "decoder-pad-token", "index-missing-shard", "index-extra-shard", "index-missing-tensor",
        "index-unlisted-tensor", "mixed-dtypes", "tokenizer-invalid", "tokenizer-missing", "generation-config",
        "preprocessor-missing", "preprocessor-invalid", "preprocessor-type",  # tests/test_compat_processor.py
    }
    assert covered == set(compat.FINDINGS)


def test_absurd_dimensions_refuse_every_task(tmp_path, bert_row):
    report = report_of(make(tmp_path, {"num_attention_heads": 10**6}))
    assert set(verdicts(report).values()) == {compat.ERROR}
    assert any(f.name == "dimensions" and f.severity == "error" for f in report.findings)


def test_architectures_model_type_accepts_every_transformers_class():
    """No false alarm for any head class transformers defines for a registered model_type."""
    from transformers.models.auto import modeling_auto

    tables = [getattr(modeling_auto, n) for n in (*TF_TABLES.values(), "MODEL_FOR_PRETRAINING_MAPPING_NAMES")]
    for model_type in FAMILY_TYPES + ["bert", "roberta", "xlm-roberta", "gpt2", "llama", "t5", "bart", "deberta-v2", "modernbert"]:
        classes = {t[model_type] for t in tables if isinstance(t.get(model_type), str)}
        cfg = compat.parse_config({"model_type": model_type, "architectures": sorted(classes)})
        assert compat.lint_architectures(cfg, None, {}, set()) == [], model_type


def test_architectures_model_type_names_the_mismatch():
    cfg = compat.parse_config({"model_type": "roberta", "architectures": ["BertForMaskedLM", "RobertaForMaskedLM"]})
    found = compat.lint_architectures(cfg, None, {}, set())
    assert [f.name for f in found] == ["architectures-model-type"] and "BertForMaskedLM" in found[0].message


def test_id2label_size_uses_the_output_layer_of_two_layer_heads():
    tensors = {"classifier.dense.weight": ((8, 8), "F32"), "classifier.out_proj.weight": ((3, 8), "F32")}
    assert compat.classifier_output(tensors) == ("classifier.out_proj.weight", (3, 8))
    cfg = compat.parse_config({"model_type": "x", "architectures": ["XForSequenceClassification"], "id2label": {"0": "a", "1": "b"}})
    found = compat.lint_labels(cfg, None, tensors, ["sequence-classification"])
    assert [f.name for f in found] == ["id2label-size"] and "3 rows" in found[0].message
    cfg3 = compat.parse_config({"model_type": "x", "id2label": {"0": "a", "1": "b", "2": "c"}})
    assert compat.lint_labels(cfg3, None, tensors, ["sequence-classification"]) == []


@pytest.mark.parametrize(
    "labels",
    [
        ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],  # IOB2
        ["O", "I-PER", "I-LOC", "I-MISC"],  # IO / IOB1 without B-
        ["O", "B-PER", "I-PER", "E-PER", "S-PER"],  # BIOES
        ["O", "B-PER", "I-PER", "L-PER", "U-PER"],  # BILOU
        ["O", "B_per", "I_per"],  # underscore, lower case
        ["NOUN", "VERB", "ADJ", "X", "PUNCT"],  # POS tags: not an entity tag set
        ["O", "B", "I"],  # untyped chunks
    ],
)
def test_valid_tag_sets_are_accepted(labels):
    assert compat.lint_tags(labels) == []


@pytest.mark.parametrize(
    "labels, severity, words",
    [
        (["O", "B-PER", "I-PER", "I-LOC"], "warning", "I- without B- for LOC"),
        (["O", "B-PER", "I-PER", "X-LOC", "PER"], "error", "X-LOC, PER"),
        (["O", "B-PER", "E-PER", "L-PER", "U-PER", "I-PER", "S-PER"], "error", "mix"),
        (["O", "B-PER", "I-PER", "E-PER"], "warning", "PER lacks S"),
        (["B-PER", "I-PER"], "warning", "no O tag"),
    ],
)
def test_invalid_tag_sets_are_named(labels, severity, words):
    found = compat.lint_tags(labels)
    assert found and all(f.name == "bio-tags" for f in found)
    assert any(f.severity == severity and words in f.message for f in found), found


@pytest.mark.parametrize(
    "problem_type, labels, expected",
    [
        ("multi_label_classification", 1, "error"),
        ("single_label_classification", 1, "error"),
        ("regression", 3, "warning"),
        ("unknown", 2, "error"),
        ("multi_label_classification", 3, None),
        ("regression", 1, None),
        ("single_label_classification", 2, None),
        (None, 1, None),
    ],
)
def test_problem_type(problem_type, labels, expected):
    cfg = compat.parse_config({"model_type": "x", "problem_type": problem_type, "num_labels": labels})
    found = compat.lint_problem_type(cfg, ["sequence-classification"], labels)
    assert [f.severity for f in found] == ([expected] if expected else [])


def test_vocab_size_counts_added_tokens(tmp_path, bert_row):
    assert "vocab-size" in names(report_of(make(tmp_path, added=30)))  # id 30 in a 30-row matrix
    assert "vocab-size" not in names(report_of(make(tmp_path, name="ok", added=29)))


def test_vocab_size_from_vocab_txt_and_added_tokens_decoder(tmp_path, bert_row):
    folder = make(tmp_path, tokenizer=False)
    (folder / "vocab.txt").write_text("".join(f"w{i}\n" for i in range(30)))
    assert "vocab-size" not in names(report_of(folder))
    (folder / "tokenizer_config.json").write_text(json.dumps({"added_tokens_decoder": {"31": {"content": "<x>"}}}))
    assert "vocab-size" in names(report_of(folder))


def test_max_length_respects_the_roberta_position_offset(tmp_path):
    if "roberta" not in registry.FAMILIES:
        pytest.skip("the roberta family is not registered yet")
    tensors = {k.replace("bert.", "roberta."): v for k, v in base_tensors().items()}
    cfg = {"model_type": "roberta", "architectures": ["RobertaForTokenClassification"], "max_position_embeddings": 514, "pad_token_id": 1}
    assert "max-length" not in names(report_of(make(tmp_path, cfg, tensors, model_max_length=512)))
    assert "max-length" in names(report_of(make(tmp_path, cfg, tensors, name="over", model_max_length=514)))


def test_max_length_ignores_the_unlimited_sentinel(tmp_path, bert_row):
    assert "max-length" not in names(report_of(make(tmp_path, model_max_length=int(1e30))))


def test_tied_embeddings(tmp_path, bert_row):
    mlm = {"architectures": ["BertForMaskedLM"], "id2label": None, "label2id": None}
    head = {**base_tensors(), "cls.predictions.bias": np.zeros(30, np.float32)}
    # tied (the default) with no decoder weight: fine; untied with the decoder weight: fine
    assert "tied-embeddings" not in names(report_of(make(tmp_path, mlm, head, name="a")))
    decoder = {**head, "cls.predictions.decoder.weight": np.zeros((30, H), np.float32)}
    assert "tied-embeddings" not in names(report_of(make(tmp_path, {**mlm, "tie_word_embeddings": False}, decoder, name="b")))
    # tied but the stored decoder has another shape: error
    bad = {**head, "cls.predictions.decoder.weight": np.zeros((31, H), np.float32)}
    found = [f for f in report_of(make(tmp_path, mlm, bad, name="c")).findings if f.name == "tied-embeddings"]
    assert [f.severity for f in found] == ["error"]


def test_decoder_classifier_without_pad_token(tmp_path, bert_row):
    tensors = {"embed_tokens.weight": np.zeros((30, H), np.float32), "score.weight": np.zeros((2, H), np.float32)}
    cfg = {"model_type": "llama", "architectures": ["LlamaForSequenceClassification"], "id2label": {"0": "neg", "1": "pos"}, "label2id": None}
    found = [f for f in report_of(make(tmp_path, {**cfg, "pad_token_id": None}, tensors)).findings if f.name == "decoder-pad-token"]
    assert [f.severity for f in found] == ["info"] and "autocli" in found[0].message
    assert "decoder-pad-token" not in names(report_of(make(tmp_path, {**cfg, "pad_token_id": 0}, tensors, name="padded")))
    # an encoder classifier needs no pad_token_id for this
    assert "decoder-pad-token" not in names(report_of(make(tmp_path, {"pad_token_id": None}, name="enc")))


def _shard(folder: Path, tensors: dict, split: int, index_extra: dict | None = None, drop_file: str | None = None):
    (folder / "model.safetensors").unlink()
    names_ = list(tensors)
    shards = {"model-00001-of-00002.safetensors": names_[:split], "model-00002-of-00002.safetensors": names_[split:]}
    weight_map = {}
    for shard, keys in shards.items():
        write_safetensors(folder / shard, {k: tensors[k] for k in keys})
        weight_map.update({k: shard for k in keys})
    weight_map.update(index_extra or {})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    if drop_file:
        (folder / drop_file).unlink()
    return folder


def test_sharded_checkpoint_is_clean(tmp_path, bert_row):
    folder = _shard(make(tmp_path), base_tensors(), 2)
    report = report_of(folder)
    assert report.findings == [] and report.verdicts["token-classification"].verdict == compat.READY


def test_index_missing_shard(tmp_path, bert_row):
    folder = _shard(make(tmp_path), base_tensors(), 2, drop_file="model-00002-of-00002.safetensors")
    report = report_of(folder)
    assert "index-missing-shard" in names(report)
    assert report.verdicts["base"].verdict == compat.ERROR  # autocli refuses to run it


def test_index_missing_and_unlisted_tensors(tmp_path, bert_row):
    folder = _shard(make(tmp_path), base_tensors(), 2, {"ghost.weight": "model-00001-of-00002.safetensors"})
    report = report_of(folder)
    assert "index-missing-tensor" in names(report) and "ghost.weight" in str(report.findings)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    del index["weight_map"]["ghost.weight"], index["weight_map"]["classifier.bias"]
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    report = report_of(folder)
    assert "index-unlisted-tensor" in names(report) and "index-missing-tensor" not in names(report)


def test_index_extra_shard(tmp_path, bert_row):
    folder = _shard(make(tmp_path), base_tensors(), 2)
    write_safetensors(folder / "model-00003-of-00002.safetensors", {"x": np.zeros(2, np.float32)})
    assert "index-extra-shard" in names(report_of(folder))


def test_mixed_dtypes_across_shards(tmp_path, bert_row):
    tensors = base_tensors()
    tensors["classifier.weight"] = tensors["classifier.weight"].astype(np.float16)
    tensors["classifier.bias"] = tensors["classifier.bias"].astype(np.float16)
    mixed = _shard(make(tmp_path), tensors, 3)
    found = [f for f in report_of(mixed).findings if f.name == "mixed-dtypes"]
    assert len(found) == 1 and "F16" in found[0].message and "F32" in found[0].message
    # one file with an I64 buffer beside F32 weights is not "mixed"
    same = base_tensors()
    same["bert.embeddings.position_ids"] = np.zeros((1, 16), np.int64)
    assert "mixed-dtypes" not in names(report_of(_shard(make(tmp_path, name="same"), same, 3)))


def test_tokenizer_invalid_and_missing(tmp_path, bert_row):
    folder = make(tmp_path)
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {"a": -3}}}')
    report = report_of(folder)
    assert "tokenizer-invalid" in names(report)
    verdict = report.verdicts["token-classification"]  # the head is there, but the tokenizer does not load
    assert verdict.verdict == compat.INCOMPLETE and [u.requirement for u in verdict.unmet] == ["tokenizer"], verdict
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").unlink()
    report = report_of(folder)
    assert "tokenizer-missing" in names(report) and report.verdicts["base"].verdict == compat.INCOMPLETE


# ---- verdicts that do not depend on the head tables ---------------------------------------------------


def test_family_not_supported_lists_supported_families(tmp_path):
    report = report_of(make(tmp_path, {"model_type": "mamba", "architectures": ["MambaForCausalLM"]}))
    assert set(verdicts(report).values()) == {compat.NO_FAMILY}
    assert all(f in report.verdicts["base"].reason for f in registry.supported_families())


def test_remote_code_and_pickle_only_are_blocked(tmp_path, bert_row):
    remote = report_of(make(tmp_path, {"auto_map": {"AutoModel": "modeling_x.XModel"}}))
    assert set(verdicts(remote).values()) == {compat.BLOCKED} and "remote code" in remote.verdicts["base"].reason
    folder = make(tmp_path, name="pickle")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    pickled = report_of(folder)
    assert set(verdicts(pickled).values()) == {compat.BLOCKED} and "--allow-pickle" in pickled.verdicts["base"].reason


# ---- the command ----------------------------------------------------------------------------------


def test_cli_json_schema(cli, tmp_path, bert_row):
    good = make(tmp_path)
    res = cli(["compat", good, str(tmp_path / "missing"), "--task", "ner", "-t", "qa", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    data = res.json()
    assert data["schema"] == compat.SCHEMA and data["ok"] is True
    assert data["tasks"] == ["token-classification", "question-answering"]
    first, second = data["checkpoints"]
    assert set(first) == {"checkpoint", "model_type", "family", "architectures", "error", "verdicts", "findings", "failed", "ok"}
    tagging = first["verdicts"]["token-classification"]
    assert tagging == {"verdict": "ready", "reason": tagging["reason"], "auto_class": "AutoModelForTokenClassification", "unmet": []}
    assert list(first["verdicts"]) == data["tasks"]
    assert second["error"]["exit_code"] == 3 and second["verdicts"]["question-answering"]["verdict"] == "error"


def test_cli_require_exit_codes(cli, tmp_path, bert_row):
    good = make(tmp_path)
    assert cli(["compat", good, "--require", "token-classification"]).exit_code == 0
    res = cli(["compat", good, "--require", "qa", "--format", "json"])
    assert_one_line_error(res, 6)
    assert res.json()["checkpoints"][0]["failed"] == ["question-answering"] and res.json()["ok"] is False
    # an unreadable checkpoint is never ready
    res = cli(["compat", good, str(tmp_path / "missing"), "--require", "ner"])
    assert_one_line_error(res, 6)
    assert "missing" in res.stderr


def test_cli_strict_fails_on_lint_errors_only(cli, tmp_path, bert_row):
    warn = make(tmp_path, model_max_length=512, name="warn")  # a warning only
    assert cli(["compat", warn, "--strict"]).exit_code == 0
    bad = make(tmp_path, tensors=base_tensors(rows=7), name="bad")  # id2label-size: an error
    assert cli(["compat", bad]).exit_code == 0
    assert_one_line_error(cli(["compat", bad, "--strict"]), 6)


def test_cli_nothing_readable_gives_the_checkpoint_error(cli, tmp_path):
    assert_one_line_error(cli(["compat", str(tmp_path / "missing")]), 3)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    res = cli(["compat", broken, "--format", "json"])
    assert_one_line_error(res, 4)
    assert res.json()["checkpoints"][0]["verdicts"]["base"]["verdict"] == "error"


def test_cli_unknown_task_is_a_usage_error(cli, tmp_path):
    res = cli(["compat", str(tmp_path), "--task", "summarize-poems"])
    assert_one_line_error(res, 2)
    assert "token-classification" in res.stderr


def test_cli_table_shows_matrix_reasons_and_findings(cli, tmp_path, bert_row):
    folder = make(tmp_path, tensors=base_tensors(rows=7))
    res = cli(["compat", folder, "--require", "ner", "--format", "table"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.stderr
    out = res.stdout
    assert "token-classification *" in out and "ready" in out and "head-untrained" in out
    assert "reason" in out and "would be random" in out and "id2label-size" in out and "7 rows" in out
    # several checkpoints: a tasks x checkpoints matrix first, the failed requirement marked
    res = cli(["compat", folder, str(tmp_path / "gone"), "--require", "ner", "--format", "table"], env={"COLUMNS": "200"})
    assert res.exit_code == 6
    matrix = res.stdout.split("\n\n")[0]
    assert "compat" in matrix and "gone" in matrix and "✗ error" in matrix


def test_cli_jsonl_one_object_per_checkpoint(cli, tmp_path, bert_row):
    res = cli(["compat", make(tmp_path), make(tmp_path, name="b"), "--format", "jsonl"])
    assert res.exit_code == 0 and [r["checkpoint"] for r in res.jsonl()] == [str(tmp_path / "ckpt"), str(tmp_path / "b")]


def test_help_shows_a_ci_example_and_every_finding(cli):
    from autocli.cli.compat import EPILOG

    res = cli(["compat", "--help"])
    assert res.exit_code == 0
    assert "GitHub Actions" in res.stdout and "--require token-classification" in res.stdout
    assert all(name in EPILOG for name in compat.FINDINGS) and all(v in EPILOG for v in compat.VERDICTS)


def test_compat_never_imports_torch(tmp_path):
    folder = make(tmp_path)
    code = (
        "import sys; from autocli.cli import run; rc = run(['compat', sys.argv[1], '--format', 'json']);"
        # the tokenizer loads as the run commands load it (the `tokenizers` library), torch stays out
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules;"
        "sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_hub_compat_reads_headers_not_weights(hub, tmp_path, cli, bert_row):
    import numpy as np

    tensors = base_tensors()
    tensors["bert.encoder.layer.0.attention.self.query.weight"] = np.zeros((512, 512), np.float32)  # 1 MiB of weights
    folder = make(tmp_path, tensors=tensors)
    hub.add_repo("org/tagger", folder)
    res = cli(["compat", "org/tagger", "--require", "ner", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert res.json()["checkpoints"][0]["verdicts"]["token-classification"]["verdict"] == "ready"
    weights = (folder / "model.safetensors").stat().st_size
    served = hub.bytes_served("org/tagger", "model.safetensors")
    assert 0 < served < 4096 < weights // 100, (served, weights)
    fetched = {f.name for f in folder.iterdir() if hub.bytes_served("org/tagger", f.name)}
    assert fetched == {"config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"}, fetched
    # a second run reads what it needs from the cache, also offline
    hub.reset_counts()
    res = cli(["compat", "org/tagger", "--offline", "--format", "json"])
    assert res.exit_code == 0 and hub.bytes_served() == 0, res.stderr
