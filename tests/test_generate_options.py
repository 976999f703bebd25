"""`generate` takes the options every command shares: --json, -q/--quiet, -v/--verbose and --tokenizer SRC."""

from __future__ import annotations

import shutil

from tests.fx_decoders import build_decoder

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json")


def test_json_flag_is_one_document(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = cli(["generate", folder, "Hello", "there", "--max-new-tokens", "3", "--json"])
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert [r["index"] for r in doc] == [0, 1] and all(r["token_ids"] for r in doc)


def test_verbose_says_what_was_loaded_and_quiet_says_nothing(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    loud = cli(["generate", folder, "Hello", "--max-new-tokens", "2", "-v", "--format", "jsonl"])
    assert loud.exit_code == 0 and "loaded the causal-lm model from" in loud.stderr, loud.stderr
    quiet = cli(["generate", folder, "Hello", "--max-new-tokens", "2", "-q", "--format", "jsonl"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert [r["token_ids"] for r in quiet.jsonl()] == [r["token_ids"] for r in loud.jsonl()]


def test_tokenizer_borrowed_from_another_folder(decoder_root, cli, tmp_path):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    bare = tmp_path / "weights-only"
    shutil.copytree(folder, bare, ignore=shutil.ignore_patterns(*TOKENIZER_FILES))
    args = ["Hello", "--max-new-tokens", "3", "--format", "jsonl"]
    missing = cli(["generate", bare, *args])
    assert missing.exit_code != 0
    borrowed = cli(["generate", bare, *args, "--tokenizer", folder])
    assert borrowed.exit_code == 0, borrowed.stderr
    own = cli(["generate", folder, *args])
    assert [r["token_ids"] for r in borrowed.jsonl()] == [r["token_ids"] for r in own.jsonl()]
