"""The JSON Schema of `autocli compat --format json` (printed by `autocli compat --schema`).

Fields are only ever added within a version, never renamed or removed.
"""

from __future__ import annotations

from autocli.compat.lint import FINDINGS
from autocli.compat.verdicts import REQUIREMENTS, VERDICTS

STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
NULLABLE_STR = {"type": ["string", "null"]}


def _obj(properties: dict, description: str = "") -> dict:
    out = {"type": "object", "required": list(properties), "properties": properties}
    return {"description": description, **out} if description else out


ERROR = {
    "type": ["object", "null"],
    "description": "why the checkpoint could not be read at all (null when it was)",
    "required": ["message", "hint", "exit_code"],
    "properties": {"message": STR, "hint": NULLABLE_STR, "exit_code": INT},
}
UNMET = _obj({
    "requirement": {"enum": list(REQUIREMENTS), "description": "what is missing or unusable"},
    "message": STR,
})
VERDICT = _obj({
    "verdict": {"enum": list(VERDICTS), "description": "ready: everything the task needs is present and usable"},
    "reason": STR,
    "auto_class": {"type": ["string", "null"], "description": "transformers' Auto class for the task"},
    "unmet": {"type": "array", "items": UNMET, "description": "every unmet requirement (empty when ready)"},
})
FINDING = _obj({
    "name": {"enum": list(FINDINGS)},
    "severity": {"enum": ["error", "warning", "info"]},
    "message": STR,
})
CHECKPOINT = _obj({
    "checkpoint": {"type": "string", "description": "as given on the command line"},
    "model_type": NULLABLE_STR,
    "family": {"type": ["string", "null"], "description": "the autocli.models module; null if unsupported"},
    "architectures": {"type": "array", "items": STR},
    "error": ERROR,
    "verdicts": {"type": "object", "additionalProperties": VERDICT, "description": "task -> verdict, in the order of tasks"},
    "findings": {"type": "array", "items": FINDING},
    "failed": {"type": "array", "items": STR, "description": "required tasks that are not ready"},
    "ok": {"type": "boolean", "description": "every required task ready (--strict: and no lint error)"},
})
TASKS = {"type": "array", "items": STR, "description": "canonical task names (compat's columns)"}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "autocli.compat/1",
    "title": "autocli compat --format json",
    **_obj({
        "schema": {"const": "autocli.compat/1"},
        "tasks": TASKS,
        "required": {"type": "array", "items": STR, "description": "--require, canonical"},
        "strict": BOOL,
        "ok": {"type": "boolean", "description": "every checkpoint ok"},
        "checkpoints": {"type": "array", "items": CHECKPOINT},
    }),
    "$defs": {
        "jsonl-line": {
            "description": "--format jsonl: one checkpoint object per line, with the schema name",
            "allOf": [CHECKPOINT, _obj({"schema": {"const": "autocli.compat/1"}})],
        },
    },
}
