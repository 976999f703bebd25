"""The JSON Schema of `autocli diff --format json` (printed by `autocli diff --schema`).

Keys are only ever added within a version. Every section lists only what differs: an empty list or a null
means that part is the same on both sides. In a change, a null value means the side lacks the key.
"""

from __future__ import annotations

from autocli.diff import TENSOR_CHANGES
from autocli.inspect.schema import INT, N_STR, STR, STRS, _obj

ANY = {"description": "the value as written (any JSON); null: absent on this side"}
CHANGE = _obj({"key": STR, "a": ANY, "b": ANY})
N_CHANGE = {**CHANGE, "type": ["object", "null"]}
CHANGES = {"type": "array", "items": CHANGE}
SIGNATURE = _obj({"shape": {"type": "array", "items": INT}, "dtype": STR}, nullable=True)
N_NUM = {"type": ["number", "null"]}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "autocli.diff/1",
    "title": "autocli diff --format json",
    **_obj({
        "schema": {"const": "autocli.diff/1"},
        "a": _obj({"checkpoint": STR, "source": {"enum": ["local", "hub"]}, "commit": N_STR}),
        "b": _obj({"checkpoint": STR, "source": {"enum": ["local", "hub"]}, "commit": N_STR}),
        "identical": {"type": "boolean", "description": "no section below lists a difference"},
        "hashed": {"type": "boolean", "description": "tensor bytes were compared (both sides local folders)"},
        "config": {**CHANGES, "description": "config.json keys that change the math; nested keys dotted (text_config.x)"},
        "dtype": {**N_CHANGE, "description": "the config's dtype / torch_dtype: a note, the stored dtypes are under tensors"},
        "architectures": N_CHANGE,
        "heads": {**N_CHANGE, "description": "the heads whose weights are present (inspect's heads_in_weights)"},
        "tasks": {**CHANGES, "description": "key: task; a, b: compat's verdicts, where they differ"},
        "tensors": {"type": "array", "items": _obj({
            "change": {"enum": list(TENSOR_CHANGES)},
            "name": {"type": "string", "description": "repeated layers collapsed: layer.{0..11}.q.weight"},
            "count": INT, "a": SIGNATURE, "b": SIGNATURE,
        })},
        "ties": {**N_CHANGE, "description": "a, b: sorted [name, name] pairs that share one tensor"},
        "tokenizer": {**CHANGES, "description": "summary fields, special_tokens.ROLE, pipeline stages, added_tokens.TOKEN, chat_template"},
        "generation": {**CHANGES, "description": "generation_config.json keys"},
        "preprocessor": {**CHANGES, "description": "preprocessor_config.json (or processor) keys, and its file name"},
        "outputs": {**_obj({
            "task": STR, "inputs": INT, "max_abs_diff": N_NUM, "top1_agreement": N_NUM, "mean_kl": N_NUM,
            "greedy_agreement": N_NUM,
        }), "description": "with --outputs only (greedy_agreement: language models only)"},
        "failed": {**STRS, "description": "the gates that failed (exit 6)"},
    }),
}
# Optional: present only when asked for (--outputs), or for language models.
SCHEMA["required"].remove("outputs")
SCHEMA["properties"]["outputs"]["required"].remove("greedy_agreement")
