"""Generation settings: generation_config.json, then the command line, each value with its source.

Old encoder-decoder checkpoints keep their beam settings in config.json; a T5 `task_specific_params` entry
chosen with --task-prefix ranks just below the flags. A wrong value that came from a checkpoint file is the
checkpoint's fault (exit 4, naming the file); one from the command line is a usage error (exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autocli.errors import AutocliError, InvalidCheckpoint, Unsupported, UsageError

BATCH_SIZE = 8
MAX_NEW_TOKENS = 256  # when neither generation_config.json nor --max-new-tokens says
GENERATION_CONFIG = "generation_config.json"
TASK_PARAMS = "task_specific_params"
CHECKPOINT_SOURCES = (GENERATION_CONFIG, "config.json", TASK_PARAMS)

# Encoder-decoders: what old checkpoints also keep in config.json, and T5's task_specific_params may set.
SEQ2SEQ_DEFAULTS = {
    "num_beams": 1,
    "length_penalty": 1.0,
    "early_stopping": False,
    "no_repeat_ngram_size": 0,
    "num_return_sequences": 1,
    "min_length": 0,
    "forced_bos_token_id": None,
    "forced_eos_token_id": None,
}

# setting -> default when neither generation_config.json nor the command line sets it.
# top_k 50 is transformers' default for sampling, so `--sample` alone behaves as it does there.
DEFAULTS = {
    "do_sample": False,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "min_p": None,
    "repetition_penalty": 1.0,
    "max_new_tokens": MAX_NEW_TOKENS,
    "max_length": None,
    "stop_strings": [],
}

NUMBER, INTEGER = (int, float), int
TYPES = {"temperature": NUMBER, "top_p": NUMBER, "repetition_penalty": NUMBER, "top_k": INTEGER,
         "max_new_tokens": INTEGER, "min_p": NUMBER, "max_length": INTEGER}
SEQ2SEQ_TYPES = {"num_beams": INTEGER, "num_return_sequences": INTEGER, "no_repeat_ngram_size": INTEGER,
                 "min_length": INTEGER, "length_penalty": NUMBER}
OPTIONAL = ("min_p", "max_length")  # None means "off"


@dataclass
class Setting:
    name: str
    value: object
    source: str  # "--flag", "generation_config.json", "config.json", "tokenizer", "default"


@dataclass
class GenerationSettings:
    """Every setting of one run, with where its value came from (the --show-config table)."""

    settings: list[Setting] = field(default_factory=list)

    def __getitem__(self, name: str):
        return self.setting(name).value

    def setting(self, name: str) -> Setting:
        for s in self.settings:
            if s.name == name:
                return s
        raise KeyError(name)

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.settings)

    def fail(self, name: str, message: str, hint: str | None = None) -> AutocliError:
        """The error for a bad value of `name`: the checkpoint's when a checkpoint file gave it."""
        source = self.setting(name).source
        if source in CHECKPOINT_SOURCES:
            return InvalidCheckpoint(f"{source}: {message}", f"fix {name} in the checkpoint's {source}, or pass the option")
        return UsageError(message, hint)


def as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def token_ids(value, what: str) -> list[int]:
    out = []
    for v in as_list(value):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidCheckpoint(f"{what}: token id {v!r} is not a non-negative integer", f"fix {what}")
        out.append(v)
    return out


def _flag(name: str) -> str:
    return "--stop" if name == "stop_strings" else "--" + name.replace("_", "-")


def resolve_settings(config, gen_config: dict | None, tokenizer, flags: dict, *, seq2seq: bool = False,
                     task_params: dict | None = None) -> GenerationSettings:
    """flags: setting -> value given on the command line (None = not given)."""
    gen_config = gen_config if isinstance(gen_config, dict) else {}
    task_params = task_params if isinstance(task_params, dict) else {}
    out = GenerationSettings()
    for name, default in {**DEFAULTS, **(SEQ2SEQ_DEFAULTS if seq2seq else {})}.items():
        if flags.get(name) not in (None, []):
            out.settings.append(Setting(name, flags[name], _flag(name)))
        elif task_params.get(name) is not None:
            out.settings.append(Setting(name, task_params[name], TASK_PARAMS))
        elif gen_config.get(name) is not None:
            value = gen_config[name]
            out.settings.append(Setting(name, as_list(value) if name == "stop_strings" else value, GENERATION_CONFIG))
        elif name in SEQ2SEQ_DEFAULTS and config.raw.get(name) is not None:
            out.settings.append(Setting(name, config.raw[name], "config.json"))
        else:
            out.settings.append(Setting(name, default, "default"))
    if seq2seq:
        _decoder_start(out, config, gen_config)
    # EOS: generation_config.json, else config.json, else the tokenizer's eos token (lists allowed)
    if flags.get("ignore_eos"):
        out.settings.append(Setting("eos_token_id", [], "--ignore-eos"))
    else:
        _eos(out, config, gen_config, tokenizer)
    _pad(out, config, gen_config, tokenizer)
    seed = flags.get("seed")
    out.settings.append(Setting("seed", seed, "--seed" if seed is not None else "random"))
    check(out)
    return out


def _decoder_start(out: GenerationSettings, config, gen_config: dict) -> None:
    """The decoder's first token: decoder_start_token_id, else bos_token_id (transformers' order)."""
    for name in ("decoder_start_token_id", "bos_token_id"):
        for value, source in ((gen_config.get(name), GENERATION_CONFIG), (config.raw.get(name), "config.json")):
            if value is not None:
                out.settings.append(Setting("decoder_start_token_id", token_ids(value, f"{source} {name}")[0] if as_list(value) else 0, source))
                return
    raise InvalidCheckpoint("neither decoder_start_token_id nor bos_token_id is set, so the decoder has no first token",
                            "set decoder_start_token_id in config.json or generation_config.json")


def _eos(out: GenerationSettings, config, gen_config: dict, tokenizer) -> None:
    for value, source in ((gen_config.get("eos_token_id"), GENERATION_CONFIG), (config.raw.get("eos_token_id"), "config.json"),
                          (getattr(tokenizer, "eos_id", None), "tokenizer")):
        if value is not None and as_list(value):
            out.settings.append(Setting("eos_token_id", token_ids(value, source + " eos_token_id"), source))
            break
    else:
        out.settings.append(Setting("eos_token_id", [], "default"))


def _pad(out: GenerationSettings, config, gen_config: dict, tokenizer) -> None:
    for value, source in ((gen_config.get("pad_token_id"), GENERATION_CONFIG), (config.raw.get("pad_token_id"), "config.json"),
                          (getattr(tokenizer, "pad_id", None), "tokenizer")):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            out.settings.append(Setting("pad_token_id", value, source))
            break
    else:
        eos = out["eos_token_id"]
        out.settings.append(Setting("pad_token_id", eos[0] if eos else 0, "eos_token_id" if eos else "default"))


def _check_types(s: GenerationSettings, types: dict) -> None:
    for name, kind in types.items():
        value = s[name]
        if value is None and name in OPTIONAL:
            continue
        if isinstance(value, bool) or not isinstance(value, kind):
            raise s.fail(name, f"{name} is {value!r}, not {'an integer' if kind is INTEGER else 'a number'}",
                         "fix generation_config.json or pass the option")


def check(s: GenerationSettings) -> None:
    """Every value usable before any work; each failure names where the value came from."""
    _check_types(s, TYPES)
    if s["max_new_tokens"] < 1:
        raise s.fail("max_new_tokens", f"max_new_tokens is {s['max_new_tokens']}", "ask for at least one new token")
    if not all(isinstance(x, str) and x for x in s["stop_strings"]):
        raise s.fail("stop_strings", "stop strings must be non-empty text", "fix --stop")
    if not s["repetition_penalty"] > 0:
        raise s.fail("repetition_penalty", f"--repetition-penalty {s['repetition_penalty']} must be positive", "1 turns it off")
    for name, bad, message, hint in sampling(s).problems():
        if bad:
            raise s.fail(name, message, hint)
    if s.has("num_beams"):
        _check_seq2seq(s)


def _check_seq2seq(s: GenerationSettings) -> None:
    _check_types(s, SEQ2SEQ_TYPES)
    for name in ("no_repeat_ngram_size", "min_length"):
        if s[name] < 0:
            raise s.fail(name, f"{name} {s[name]} is negative")
    for name, bad, message, hint in beams(s).problems():
        if bad:
            raise s.fail(name, message, hint)
    samp = sampling(s)
    if s["num_beams"] > 1 and samp.do_sample and not samp.greedy:
        raise Unsupported("beam sampling (--sample with --num-beams > 1) is not supported", "use --greedy with beams, or --num-beams 1 to sample")
    if s["num_beams"] > 1 and s["stop_strings"]:
        raise Unsupported("--stop is not supported with beam search", "use --num-beams 1, or cut the text afterwards")
    if s["num_return_sequences"] > 1 and s["num_beams"] == 1:
        raise s.fail("num_return_sequences", "--num-return-sequences above 1 needs beam search",
                     "add --num-beams N (N >= the sequences asked for)")
    for name in ("forced_bos_token_id", "forced_eos_token_id"):
        if s[name] is not None:
            token_ids(s[name], name)


# Settings whose token ids index the embeddings or the logits (an EOS id outside the vocabulary is only never
# produced, so EOS lists are left alone: real configs list ids the model cannot emit).
INDEXING_IDS = ("pad_token_id", "decoder_start_token_id", "forced_bos_token_id", "forced_eos_token_id")


def check_ids_in_vocab(s: GenerationSettings, vocab) -> None:
    if not isinstance(vocab, int) or isinstance(vocab, bool):
        return
    for setting in s.settings:
        if setting.name in INDEXING_IDS and setting.value is not None:
            for v in as_list(setting.value):
                if isinstance(v, int) and not 0 <= v < vocab:
                    raise InvalidCheckpoint(f"{setting.name} {v} (from {setting.source}) is outside the model's {vocab:,}-token vocabulary",
                                            f"fix {setting.source}" if setting.source.endswith(".json") else "pass an id inside the vocabulary")


def beams(s: GenerationSettings):
    from autocli.tasks.beam import BeamSettings

    return BeamSettings(num_beams=int(s["num_beams"]), length_penalty=float(s["length_penalty"]),
                        early_stopping=s["early_stopping"], num_return_sequences=int(s["num_return_sequences"]))


def sampling(s: GenerationSettings):
    from autocli.tasks.sampling import Sampling

    return Sampling(
        do_sample=bool(s["do_sample"]), temperature=float(s["temperature"]), top_k=int(s["top_k"]),
        top_p=float(s["top_p"]), min_p=None if s["min_p"] is None else float(s["min_p"]), seed=s["seed"],
    )


def processors(s: GenerationSettings, max_length: int):
    """The one logits-processor stack of this run; max_length counts decoder tokens, a start token included."""
    from autocli.tasks.processors import Processors

    seq2seq = s.has("num_beams")
    forced_eos = s["forced_eos_token_id"] if seq2seq else None
    return Processors(eos=list(s["eos_token_id"]), repetition_penalty=float(s["repetition_penalty"]),
                      no_repeat_ngram_size=int(s["no_repeat_ngram_size"]) if seq2seq else 0,
                      min_length=int(s["min_length"]) if seq2seq else 0,
                      forced_bos_token_id=s["forced_bos_token_id"] if seq2seq else None,
                      forced_eos_token_id=None if forced_eos is None else as_list(forced_eos), max_length=max_length)


def task_prefix(config, name: str) -> tuple[str, dict]:
    """A T5 `task_specific_params` entry by its name or a start of it ("summarization", "summ", "translation_en_to_de"),
    or by the start of its prefix text ("summarize", "translate English to German") -> (prefix text, settings)."""
    params = config.raw.get(TASK_PARAMS)
    if not isinstance(params, dict) or not params:
        raise UsageError("this checkpoint's config.json has no task_specific_params, so --task-prefix has nothing to apply",
                         "put the prefix into the input text instead")
    entries = {k: v for k, v in params.items() if isinstance(v, dict)}
    want = name.strip().lower()
    hits = [k for k in entries if k.lower() == want]
    if not hits:
        hits = [k for k, v in entries.items() if k.lower().startswith(want)
                or str(v.get("prefix", "")).strip().rstrip(":").lower().startswith(want)]
    if len(hits) != 1:
        what = "matches none" if not hits else f"matches {', '.join(sorted(hits))}"
        raise UsageError(f"--task-prefix {name!r} {what} of task_specific_params", f"choose one of: {', '.join(sorted(entries))}")
    entry = dict(entries[hits[0]])
    prefix = entry.pop("prefix", "")
    return (prefix if isinstance(prefix, str) else ""), entry
