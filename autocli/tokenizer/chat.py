"""Chat templates: found as transformers finds them, rendered in jinja2's immutable sandbox.
jinja2 is imported only to render one."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from autocli.errors import InvalidCheckpoint, UsageError
from autocli.tokenizer.files import CHAT_TEMPLATE_JINJA, CHAT_TEMPLATE_JSON, Getter, read_object, read_text


def chat_template(get: Getter, config: dict, extra_templates: list[str]) -> str | dict | None:
    """chat_template.jinja (+ additional_chat_templates/) over tokenizer_config.json over chat_template.json."""
    templates: dict[str, str] = {}
    if (path := get(CHAT_TEMPLATE_JINJA)) is not None:
        templates["default"] = read_text(path, CHAT_TEMPLATE_JINJA)
    for name in extra_templates:
        if (path := get(name)) is not None:
            templates[Path(name).name.removesuffix(".jinja")] = read_text(path, name)
    if templates:
        return templates["default"] if list(templates) == ["default"] else templates
    value = config.get("chat_template")
    if value is None and (path := get(CHAT_TEMPLATE_JSON)) is not None:
        value = read_object(path, CHAT_TEMPLATE_JSON).get("chat_template")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # [{"name": ..., "template": ...}, ...]
        try:
            return {t["name"]: t["template"] for t in value if isinstance(t["name"], str) and isinstance(t["template"], str)}
        except (TypeError, KeyError):
            pass
    raise InvalidCheckpoint("tokenizer_config.json: chat_template is neither a string nor a list of named templates",
                            "fix chat_template")


def check_messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise UsageError("a chat needs a non-empty list of messages", 'use [{"role": "user", "content": "..."}]')
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise UsageError(f"message {i} is not an object with a \"role\"", 'use {"role": "user", "content": "..."}')
        # transformers drops None-valued keys: templates handle a missing key better than a None.
        # The JSON round trip leaves the template only plain data to look at.
        try:
            out.append(json.loads(json.dumps({k: v for k, v in m.items() if v is not None})))
        except (TypeError, ValueError) as e:
            raise UsageError(f"message {i} is not plain JSON data: {e}") from None
    return out


def _sandbox_types():
    """(the {% generation %} extension, the template's dict(), a namespace() that refuses underscore names)."""
    import jinja2
    import jinja2.ext

    class Generation(jinja2.ext.Extension):
        # {% generation %}...{% endgeneration %} marks assistant text for training masks: render it as is
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        def _body(self, caller):
            return caller()

    class TemplateDict:
        # dict() and dict.fromkeys() for templates, without exposing the dict type itself
        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    class SafeNamespace(jinja2.utils.Namespace):
        # no underscore attributes: keeps templates away from Python internals
        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            attrs = dict(*args, **kwargs)
            for name in attrs:
                SafeNamespace._check(name)
            jinja2.utils.Namespace.__init__(self, attrs)

        def __setitem__(self, name, value):
            SafeNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(f"templates cannot set underscore attributes ({name!r})")

    return Generation, TemplateDict(), SafeNamespace


@functools.lru_cache(maxsize=8)
def _compile(template: str):
    """The template in jinja2's immutable sandbox, with the globals transformers gives chat templates."""
    from datetime import datetime

    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        # jinja's own tojson escapes HTML characters; chat templates expect plain JSON
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    generation, template_dict, namespace = _sandbox_types()
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    env.globals["dict"] = template_dict
    env.globals["namespace"] = namespace
    try:
        return env.from_string(template)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise InvalidCheckpoint(f"the chat template does not parse: {e.message} (line {e.lineno})", "fix the checkpoint's chat template") from None


def render_template(template: str, **context) -> str:
    """Render a chat template; a template that raises is a usage error carrying its message."""
    import jinja2

    compiled = _compile(template)
    try:
        return compiled.render(**context)
    except (jinja2.exceptions.SecurityError, OverflowError) as e:
        # the sandbox raises OverflowError for a range() past its MAX_RANGE: a refusal like the others
        raise InvalidCheckpoint(f"the chat template tried something unsafe: {e}", "the sandbox refused it; do not trust this template") from None
    except jinja2.exceptions.TemplateError as e:
        raise UsageError(f"chat template: {e.message or e}", "the checkpoint's template refused these messages") from None
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as e:
        raise UsageError(f"chat template failed: {type(e).__name__}: {e}", "check the messages' roles and fields") from None
