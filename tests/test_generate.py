"""`autocli generate`: greedy token ids equal transformers' generate for every family (batch of 2, left padding,
32 new tokens), finish reasons (eos / stop / length), EOS lists, --stop, seeded sampling, the logits processors'
math, chat templates, streaming that hands out whole characters only, settings and their sources."""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import assert_one_line_error
from tests.fx_decoders import build_decoder, decoder_oracle, reference_generate

NEW = 32
PROMPTS = ["The quick brown fox jumps over", "Hello"]
GEN_VARIANTS = ["gpt2", "gpt2-scaled", "gptj", "gpt_neox", "gpt_neox-sequential", "llama", "llama-tied-bias",
                "llama-dynamic", "llama-yarn", "mistral", "qwen2", "qwen3"]


def _load(folder, dtype="float32"):
    from autocli.models import load_model_from_dir
    from autocli.tokenizer import load_tokenizer_from_dir

    return load_model_from_dir(folder, "causal-lm", device="cpu", dtype=dtype), load_tokenizer_from_dir(folder)


def _settings(model, tok, gen_config=None, **flags):
    from autocli.tasks.gen_settings import resolve_settings

    return resolve_settings(model.config, gen_config, tok, flags)


def _reference(folder, variant, rows, eos, **kw):
    return reference_generate(decoder_oracle(folder, variant, "causal-lm"), rows, eos, NEW, **kw)


@pytest.mark.parametrize("variant", GEN_VARIANTS)
def test_greedy_ids_equal_transformers(decoder_root, variant):
    from autocli.tasks.gen_loop import run_batch

    folder = build_decoder(decoder_root, variant, "causal-lm")
    model, tok = _load(folder)
    rows = [tok.encode(p).ids for p in PROMPTS]
    assert len(rows[0]) != len(rows[1])  # the batch is padded
    s = _settings(model, tok, max_new_tokens=NEW)
    eos = s["eos_token_id"][0]
    ours = run_batch(model, tok, rows, s).rows
    ref = _reference(folder, variant, rows, eos)
    for [seq], want in zip(ours, ref):
        assert seq.token_ids == want
        assert seq.finish_reason == ("eos" if want[-1] == eos else "length")


def test_repetition_penalty_matches_transformers(decoder_root):
    from autocli.tasks.gen_loop import run_batch

    folder = build_decoder(decoder_root, "llama", "causal-lm")
    model, tok = _load(folder)
    rows = [tok.encode(p).ids for p in PROMPTS]
    s = _settings(model, tok, max_new_tokens=NEW, repetition_penalty=1.8)
    ours = [seq.token_ids for [seq] in run_batch(model, tok, rows, s).rows]
    ref = _reference(folder, "llama", rows, s["eos_token_id"][0], repetition_penalty=1.8)
    assert ours == ref
    plain = [seq.token_ids for [seq] in run_batch(model, tok, rows, _settings(model, tok, max_new_tokens=NEW)).rows]
    assert plain != ours  # the penalty changed something


@pytest.mark.parametrize("name", ["temperature", "top_k", "top_p", "min_p", "all"])
def test_sampling_processors_match_transformers(name):
    from transformers.generation.logits_process import (MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper,
                                                         TopPLogitsWarper)

    from autocli.tasks.sampling import Sampling, warp

    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0)) * 3
    settings = {
        "temperature": (Sampling(True, temperature=0.7, top_k=0), [TemperatureLogitsWarper(0.7)]),
        "top_k": (Sampling(True, top_k=5), [TopKLogitsWarper(5)]),
        "top_p": (Sampling(True, top_k=0, top_p=0.8), [TopPLogitsWarper(0.8)]),
        "min_p": (Sampling(True, top_k=0, min_p=0.1), [MinPLogitsWarper(0.1)]),
        "all": (Sampling(True, temperature=1.3, top_k=20, top_p=0.9, min_p=0.05),
                [TemperatureLogitsWarper(1.3), TopKLogitsWarper(20), TopPLogitsWarper(0.9), MinPLogitsWarper(0.05)]),
    }
    ours_s, processors = settings[name]
    ref = logits.clone()
    for p in processors:
        ref = p(None, ref)
    assert torch.equal(warp(logits, ours_s), ref)


def test_repetition_penalty_math_matches_transformers():
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    from autocli.tasks.processors import Processors

    logits = torch.randn(2, 30, generator=torch.Generator().manual_seed(1))
    seen_ids = torch.tensor([[3, 4, 4, 9], [0, 29, 7, 7]])
    ref = RepetitionPenaltyLogitsProcessor(1.5)(seen_ids, logits.clone())
    assert torch.equal(Processors(repetition_penalty=1.5)(seen_ids, logits), ref)
    # padding (real False) is not a token the row holds
    real = torch.tensor([[False, True, True, True], [True, True, True, True]])
    ours = Processors(repetition_penalty=1.5)(seen_ids, logits, real)
    assert ours[0, 3] == logits[0, 3] and torch.equal(ours[1], ref[1])


def _cli_jsonl(cli, folder, *args, input=None):
    res = cli(["generate", folder, *args, "--format", "jsonl"], input=input)
    assert res.exit_code == 0, res.stderr
    return res.jsonl()


def test_max_new_tokens_gives_length(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm", seed=3)
    [rec] = _cli_jsonl(cli, folder, "Hello there", "--max-new-tokens", "5")
    assert rec["finish_reason"] in ("length", "eos")
    assert len(rec["token_ids"]) == 5 or rec["finish_reason"] == "eos"
    assert rec["prompt_tokens"] > 0
    assert set(rec["timings"]) >= {"prefill_s", "time_to_first_token_s", "decode_tokens_per_s"}


def test_eos_list_from_generation_config(decoder_root, cli):
    """A list of EOS ids in generation_config.json: the first one produced ends the text with reason eos."""
    base = build_decoder(decoder_root, "llama", "causal-lm")
    [plain] = _cli_jsonl(cli, base, "Hello there", "--max-new-tokens", "12")
    ids = plain["token_ids"]
    k = next(i for i in range(2, len(ids)) if ids[i] not in ids[:i])  # a token not produced before step k
    unused = next(i for i in range(5, 300) if i not in ids)
    folder = build_decoder(decoder_root, "llama", "causal-lm", generation_config={"eos_token_id": [unused, ids[k]]})
    [rec] = _cli_jsonl(cli, folder, "Hello there", "--max-new-tokens", "12")
    assert rec["finish_reason"] == "eos"
    assert rec["token_ids"] == ids[: k + 1]
    res = cli(["generate", folder, "--show-config", "--format", "table"])
    row = next(l for l in res.stdout.splitlines() if "eos_token_id" in l)
    assert "generation_config.json" in row and str(ids[k]) in row


def test_stop_string_ends_the_text_before_it(decoder_root, cli):
    folder = build_decoder(decoder_root, "qwen2", "causal-lm", seed=5)
    [plain] = _cli_jsonl(cli, folder, "Numbers like", "--max-new-tokens", "24")
    text = plain["text"]
    assert len(text) > 8 and plain["finish_reason"] == "length"
    stop = text[4:7]
    cut = text.index(stop)
    [rec] = _cli_jsonl(cli, folder, "Numbers like", "--max-new-tokens", "24", "--stop", stop, "--stop", "never-there")
    assert rec["finish_reason"] == "stop"
    assert rec["text"] == text[:cut]
    assert rec["token_ids"] == plain["token_ids"][: len(rec["token_ids"])]
    streamed = cli(["generate", folder, "Numbers like", "--max-new-tokens", "24", "--stop", stop])
    assert streamed.exit_code == 0 and streamed.stdout == text[:cut] + "\n"


def test_seeded_sampling_is_reproducible(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt_neox", "causal-lm")
    args = ["The café", "--sample", "--temperature", "1.5", "--top-k", "0", "--max-new-tokens", "16"]
    a = _cli_jsonl(cli, folder, *args, "--seed", "7")
    b = _cli_jsonl(cli, folder, *args, "--seed", "7")
    c = _cli_jsonl(cli, folder, *args, "--seed", "8")
    greedy = _cli_jsonl(cli, folder, "The café", "--max-new-tokens", "16")
    assert a[0]["token_ids"] == b[0]["token_ids"]
    assert a[0]["token_ids"] != c[0]["token_ids"] or a[0]["token_ids"] != greedy[0]["token_ids"]


def test_generation_config_defaults_and_flag_sources(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm",
                           generation_config={"do_sample": True, "temperature": 0.6, "top_p": 0.9, "max_new_tokens": 7})
    res = cli(["generate", folder, "--show-config", "--format", "json", "--top-p", "0.5"])
    assert res.exit_code == 0, res.stderr
    got = {s["name"]: (s["value"], s["source"]) for s in res.json()["settings"]}
    assert got["do_sample"] == (True, "generation_config.json")
    assert got["temperature"] == (0.6, "generation_config.json")
    assert got["top_p"] == (0.5, "--top-p")
    assert got["max_new_tokens"] == (7, "generation_config.json")
    assert got["top_k"] == (50, "default")
    [rec] = _cli_jsonl(cli, folder, "Hi", "--seed", "1")
    assert len(rec["token_ids"]) == 7 or rec["finish_reason"] == "eos"
    greedy = _cli_jsonl(cli, folder, "Hi", "--greedy", "--max-new-tokens", "3")
    assert len(greedy[0]["token_ids"]) <= 3


@pytest.mark.parametrize("template", ["chatml", "llama2"])
def test_chat_template_equals_transformers(decoder_root, template):
    import shutil

    from transformers import AutoTokenizer

    from autocli.tasks.generate import Prompt, encode_prompt
    from autocli.tokenizer import load_tokenizer_from_dir
    from tests.fx_tokenizers import LLAMA2_TEMPLATE, write_chat_template

    folder = build_decoder(decoder_root, "qwen3", "causal-lm")
    if template == "llama2":  # uses bos_token / eos_token and strips, with the system message folded in
        copy = folder.parent / "qwen3-llama2-template"
        if not copy.exists():
            shutil.copytree(folder, copy)
            write_chat_template(copy, LLAMA2_TEMPLATE)
        folder = copy
    ours = load_tokenizer_from_dir(folder)
    ref = AutoTokenizer.from_pretrained(folder)
    messages = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Café?"}]
    for system in (None, "Be brief."):
        full = ([{"role": "system", "content": system}] if system else []) + messages
        want = ref.apply_chat_template(full, tokenize=False, add_generation_prompt=True)
        assert ours.render_chat(messages, add_generation_prompt=True, system=system) == want
        want_ids = ref.apply_chat_template(full, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
        assert encode_prompt(ours, Prompt(0, messages=messages), chat=True, system=system) == list(want_ids)


def test_chat_from_cli_and_jsonl_messages(decoder_root, cli):
    folder = build_decoder(decoder_root, "llama", "causal-lm")
    a = _cli_jsonl(cli, folder, "--chat", "Hi there", "--max-new-tokens", "4")
    lines = json.dumps({"messages": [{"role": "user", "content": "Hi there"}]}) + "\n" + "not json\n" + json.dumps({"prompt": "Hi"}) + "\n"
    res = cli(["generate", folder, "--jsonl", "--max-new-tokens", "4", "--format", "jsonl"], input=lines)
    assert res.exit_code == 7
    recs = res.jsonl()
    assert [r["index"] for r in recs] == [0, 1, 2]
    assert recs[0]["token_ids"] == a[0]["token_ids"]  # a JSONL messages record is a chat
    assert "error" in recs[1] and "token_ids" in recs[2]


def test_chat_without_template_is_refused(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    bare = folder.parent / "gpt2-no-template"
    if not bare.exists():
        import shutil

        shutil.copytree(folder, bare)
        cfg = json.loads((bare / "tokenizer_config.json").read_text())
        cfg.pop("chat_template", None)
        (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert_one_line_error(cli(["generate", bare, "--chat", "Hi", "--max-new-tokens", "2"]), 5)
    res = cli(["generate", bare, "--jsonl", "--format", "jsonl"], input='{"messages": [{"role": "user", "content": "Hi"}]}\n')
    assert res.exit_code == 7 and "chat template" in res.jsonl()[0]["error"]["message"]  # that one prompt fails


def test_stream_hands_out_whole_characters(decoder_root):
    """Byte-level BPE splits an emoji over several tokens: no delta carries half of it."""
    from autocli.tasks.gen_text import TextStream

    tok = _load(build_decoder(decoder_root, "gpt2", "causal-lm"))[1]
    text = "Emoji such as 🙂 and 🚀, café, 東京"
    ids = tok.encode(text).ids
    assert len(ids) > len(text.split())
    stream = TextStream(tok, [])
    deltas = [stream.push(i) for i in ids] + [stream.finish()]
    assert "".join(deltas) == tok.decode(ids) == text
    assert not any("\ufffd" in d for d in deltas)


def test_stream_holds_back_a_possible_stop_string(decoder_root):
    from autocli.tasks.gen_text import TextStream

    tok = _load(build_decoder(decoder_root, "gpt2", "causal-lm"))[1]
    ids = tok.encode("one two three four").ids
    stream = TextStream(tok, ["three fo"])
    out = ""
    for i in ids:
        out += stream.push(i)
        assert "th" not in out  # "three fo" might be starting: held back until it is or is not
    out += stream.finish()
    assert stream.stopped and out == "one two "


def test_streaming_prints_prompts_in_order_with_stats(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    one = [cli(["generate", folder, p, "--max-new-tokens", "6"]).stdout for p in PROMPTS]
    res = cli(["generate", folder, "--max-new-tokens", "6", "--stats", "--batch-size", "2", "--format", "text"],
              input="\n".join(PROMPTS) + "\n")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "".join(one)
    assert "prefill" in res.stderr and "time to first token" in res.stderr and "peak memory" in res.stderr


def test_bfloat16_runs_and_stays_close(decoder_root):
    """GPT-2's Conv1D weights are re-laid [out, in] for bf16 (F.linear); logits stay near float32."""
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    f32, tok = _load(folder)
    bf16, _ = _load(folder, "bfloat16")
    assert not bf16.module.transformer.h[0].attn.c_attn.in_out
    ids = torch.tensor([tok.encode(PROMPTS[0]).ids])
    mask = torch.ones_like(ids)
    assert (bf16(ids, mask).float() - f32(ids, mask)).abs().max() < 0.1
    from autocli.tasks.gen_loop import run_batch

    [[seq]] = run_batch(bf16, tok, [ids[0].tolist()], _settings(bf16, tok, max_new_tokens=4)).rows
    assert len(seq.token_ids) in range(1, 5)


def test_prompt_longer_than_the_context_fails_alone(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")  # n_positions 96
    res = cli(["generate", folder, "--format", "jsonl", "--max-new-tokens", "3"], input="word " * 120 + "\nHello\n")
    assert res.exit_code == 7
    recs = res.jsonl()
    assert "error" in recs[0] and len(recs[1]["token_ids"]) >= 1


def test_each_row_stops_at_its_own_position_limit(decoder_root):
    """GPT-2's positions end at n_positions (96): a long prompt gets fewer new tokens than a short one in its batch."""
    from autocli.tasks.gen_loop import run_batch

    model, tok = _load(build_decoder(decoder_root, "gpt2-scaled", "causal-lm"))
    long_row, short_row = list(range(10, 100)), list(range(10, 20))
    out = [seq for [seq] in run_batch(model, tok, [long_row, short_row], _settings(model, tok, max_new_tokens=10, ignore_eos=True)).rows]
    assert [len(o.token_ids) for o in out] == [6, 10] and [o.finish_reason for o in out] == ["length", "length"]


def test_bad_settings_are_usage_errors(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    assert_one_line_error(cli(["generate", folder, "Hi", "--top-p", "0"]), 2)
    assert_one_line_error(cli(["generate", folder, "Hi", "--repetition-penalty", "0"]), 2)
    assert_one_line_error(cli(["generate", folder, "Hi", "--system", "x"]), 2)


def test_auto_dtype_on_cpu_follows_the_job():
    from autocli.config import Config
    from autocli.tasks.generate import auto_dtype

    bf16, fp32 = Config({"model_type": "llama", "torch_dtype": "bfloat16"}), Config({"model_type": "gpt2", "dtype": "float32"})
    cpu = torch.device("cpu")
    assert auto_dtype(bf16, cpu, prompt_tokens=16, new_tokens=128) == "bfloat16"  # decode-heavy
    assert auto_dtype(bf16, cpu, prompt_tokens=2000, new_tokens=64) == "float32"  # prefill-heavy
    assert auto_dtype(fp32, cpu, prompt_tokens=16, new_tokens=128) == "float32"  # never rounds float32 weights
    assert auto_dtype(bf16, torch.device("meta"), 16, 128) == "auto"  # off the CPU: the loader's choice


def test_ignore_eos_runs_to_the_limit(decoder_root, cli):
    vocab = json.loads((build_decoder(decoder_root, "llama", "causal-lm") / "config.json").read_text())["vocab_size"]
    folder = build_decoder(decoder_root, "llama", "causal-lm", generation_config={"eos_token_id": list(range(vocab))})
    [stopped] = _cli_jsonl(cli, folder, "Hello", "--max-new-tokens", "6")
    assert stopped["finish_reason"] == "eos" and len(stopped["token_ids"]) == 1
    [rec] = _cli_jsonl(cli, folder, "Hello", "--max-new-tokens", "6", "--ignore-eos")
    assert rec["finish_reason"] == "length" and len(rec["token_ids"]) == 6


def test_json_format_is_one_document_in_input_order(decoder_root, cli):
    folder = build_decoder(decoder_root, "gpt2", "causal-lm")
    res = cli(["generate", folder, *PROMPTS, "--max-new-tokens", "3", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    doc = res.json()
    assert [r["index"] for r in doc] == [0, 1] and all(r["finish_reason"] in ("eos", "length") for r in doc)


def test_a_token_id_setting_outside_the_vocabulary_fails_once(decoder_root, cli, tmp_path):
    """pad_token_id indexes the embeddings: one outside the vocabulary is a broken checkpoint (exit 4), said once."""
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(build_decoder(decoder_root, "gpt2", "causal-lm", seed=3), folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pad_token_id": 10**6}))
    res = cli(["generate", str(folder), "Hello", "Hi there", "--max-new-tokens", "2"])
    assert_one_line_error(res, 4)
    assert "pad_token_id 1000000" in res.stderr and "vocabulary" in res.stderr
