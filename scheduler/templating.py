"""Kestra-style `{{ }}` templates, rendered in one sandboxed Jinja2 environment.

What a flow author may use: the context (`flow`, `execution`, `inputs`, `vars`, `outputs`,
`task`, `taskrun`, `parent`, `parents`, `labels`, `trigger`, `envs`), the filters `slugify`,
`jq` (the real jq; always a list), `first`, `json`/`toJson`, `fromJson`, `base64encode`,
`base64decode`, `sha256`, `keys`, `values`, and the functions `secret(name)`, `assets(...)`,
`kv(key, namespace, errorOnMissing)` (Kestra's KV store), `fromJson(text)`, `json(text)`
(Kestra's older name for fromJson), `render(text)`, `now()`, `currentEachOutput(outputs.x)`,
`errorLogs()`, and Pebble's `is json` test.

The environment is an `ImmutableSandboxedEnvironment` (a map's keys before its methods, as in
Pebble: `outputs.t.values.count`) with `StrictUndefined`: an unknown
variable is an error, `''.__class__` is refused, and a template cannot mutate its context.
Lists and maps render as JSON (like Kestra), booleans as `true`/`false`, null as an empty string.

Secrets: `secret('NAME')` reads `SECRET_NAME` (base64, Kestra's convention) or
`ASSETLINE_SECRET_NAME` (plain) from the driver's environment; every value it returned during a
render is reported back so callers can mask it. This module does no I/O beyond that environment
lookup and the `assets` and `kv` callables it is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

import jinja2
import jq as jqlib
from jinja2.sandbox import ImmutableSandboxedEnvironment
from slugify import slugify as _slugify

from scheduler.errors import TemplateError
from scheduler.flow_model import Pos
from scheduler.pebble_compat import StrictChainableUndefined, coalesce, rewrite

AssetQuery = Callable[..., list[dict[str, Any]]]
#: (namespace, key) -> (whether the key has a value, the value).
KVLookup = Callable[[str, str], tuple[bool, Any]]

_MARKERS = ("{{", "{%", "{#")


def is_template(value: object) -> bool:
    """Whether a value is a string that holds template syntax."""
    return isinstance(value, str) and any(marker in value for marker in _MARKERS)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str, separators=(",", ":"))
    return value


def _jq(value: Any, expression: str) -> list[Any]:
    if isinstance(value, str):
        with suppress(ValueError):
            value = json.loads(value)
    try:
        program = _jq_program(expression)
        return list(program.input_value(value).all())
    except ValueError as exc:
        raise TemplateError(f"jq('{expression}') failed: {exc}", None) from exc


_jq_cache: dict[str, Any] = {}


def _jq_program(expression: str) -> Any:
    program = _jq_cache.get(expression)
    if program is None:
        program = jqlib.compile(expression)
        if len(_jq_cache) > 512:
            _jq_cache.clear()
        _jq_cache[expression] = program
    return program


def _first(value: Any) -> Any:
    if isinstance(value, str):
        return value[:1]
    for item in value:
        return item
    return None


def _to_json(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _from_json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TemplateError(f"fromJson: not valid JSON: {exc}", None) from exc


def _b64encode(value: Any) -> str:
    return base64.b64encode(str(value).encode()).decode()


def _b64decode(value: Any) -> str:
    return base64.b64decode(str(value)).decode()


def _sha256(value: Any) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()


@jinja2.pass_context
def _current_each_output(context: Any, outputs: Any) -> Any:
    """Kestra's currentEachOutput(outputs.x): x's outputs for the current ForEach values."""
    values = context.get("_each_values")
    if not values:
        raise TemplateError("currentEachOutput is only available inside a ForEach", None)
    for value in values:
        if isinstance(outputs, dict) and value in outputs:
            outputs = outputs[value]
    return outputs


@jinja2.pass_context
def _error_logs(context: Any) -> list[dict[str, Any]]:
    """Kestra's errorLogs(): the ERROR log lines of the execution's failed task runs so far."""
    return list(context.get("_error_logs") or [])


def _is_json(value: Any) -> bool:
    """Pebble's `is json` test: a string that parses as JSON."""
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def secret_value(name: str, environ: Mapping[str, str] | None = None) -> str:
    """Resolve a secret by Kestra's convention; raise TemplateError when it is not set."""
    env = os.environ if environ is None else environ
    plain = env.get(f"ASSETLINE_SECRET_{name}")
    if plain is not None:
        return plain
    encoded = env.get(f"SECRET_{name}")
    if encoded is None:
        raise TemplateError(
            f"secret '{name}' is not set; export SECRET_{name} (base64-encoded, Kestra's "
            f"convention) or ASSETLINE_SECRET_{name} (plain) in the environment of the run",
            None,
        )
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise TemplateError(
            f"secret '{name}': SECRET_{name} is not valid base64; encode it with "
            f"`base64` or set ASSETLINE_SECRET_{name} to the plain value",
            None,
        ) from exc


class _KestraEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's sandbox with Pebble's lookup order for maps: `x.values` is the key `values`
    (OutputValues' output) before it is the dict's method, and so for `keys`, `items`,
    `get`... A map without that key still falls back to Jinja's rule."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


class Renderer:
    """Renders templates for one process; compiled templates are cached by their text."""

    def __init__(
        self,
        *,
        assets: AssetQuery | None = None,
        kv: KVLookup | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._assets = assets
        self._kv = kv
        self._environ = environ
        self._seen: set[str] | None = None
        self._cache: dict[str, jinja2.Template] = {}
        env = _KestraEnvironment(
            undefined=StrictChainableUndefined,
            finalize=_finalize,
            autoescape=False,
            keep_trailing_newline=True,
        )
        env.filters.update(
            slugify=lambda value: _slugify(str(value)),
            jq=_jq,
            first=_first,
            json=_to_json,
            toJson=_to_json,
            fromJson=_from_json,
            base64encode=_b64encode,
            base64decode=_b64decode,
            sha256=_sha256,
            keys=lambda value: list(value.keys()),
            values=lambda value: list(value.values()),
        )
        env.globals.update(
            secret=self._secret,
            assets=self._query_assets,
            kv=self._kv_value,
            fromJson=_from_json,
            json=_from_json,
            render=self._render_nested,
            now=lambda: datetime.now(UTC).isoformat(),
            currentEachOutput=_current_each_output,
            errorLogs=_error_logs,
            _coalesce=coalesce,
            null=None,  # Pebble's literal, as in `{{ x ?? null }}`
        )
        env.tests["json"] = _is_json
        self.env = env
        self._context: Mapping[str, Any] = {}

    # -- functions exposed to templates -------------------------------------------------------

    def _secret(self, name: str) -> str:
        value = secret_value(str(name), self._environ)
        if self._seen is not None:
            self._seen.add(value)
        return value

    def _query_assets(
        self,
        id: str | None = None,
        type: str | None = None,
        namespace: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        if self._assets is None:
            raise TemplateError("assets() needs the asset store, which this render has not", None)
        return self._assets(id=id, type=type, namespace=namespace, metadata=metadata)

    def _kv_value(
        self,
        key: str,
        namespace: str | None = None,
        errorOnMissing: bool = False,  # noqa: N803
    ) -> Any:
        """Kestra's kv(key, namespace, errorOnMissing): the value, or null when the key has
        none (an error with errorOnMissing). The namespace defaults to the flow's."""
        if self._kv is None:
            raise TemplateError("kv() needs the store, which this render has not", None)
        if namespace is None:
            flow = self._context.get("flow")
            namespace = flow.get("namespace") if isinstance(flow, Mapping) else None
        if not namespace:
            raise TemplateError("kv(): no namespace; pass one as kv('key', 'namespace')", None)
        found, value = self._kv(str(namespace), str(key))
        if not found and errorOnMissing:
            raise TemplateError(
                f"kv(): the key '{key}' does not exist in the namespace '{namespace}'", None
            )
        return value

    def _render_nested(self, text: Any) -> Any:
        if not is_template(text):
            return text
        return self._compile(str(text)).render(self._context)

    # -- rendering ----------------------------------------------------------------------------

    def _compile(self, text: str) -> jinja2.Template:
        template = self._cache.get(text)
        if template is None:
            template = self.env.from_string(rewrite(text))
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[text] = template
        return template

    @contextmanager
    def collecting_secrets(self) -> Iterator[set[str]]:
        """Collect every secret value rendered inside the block."""
        outer = self._seen
        seen: set[str] = set()
        self._seen = seen
        try:
            yield seen
        finally:
            if outer is not None:
                outer.update(seen)
            self._seen = outer

    def render_str(
        self, text: str, context: Mapping[str, Any], *, where: str = "", pos: Pos | None = None
    ) -> str:
        """Render one string; errors become TemplateError naming `where` and `pos`."""
        if not is_template(text):
            return text
        self._context = context
        try:
            return self._compile(text).render(context)
        except TemplateError as exc:
            raise TemplateError(_prefix(where, exc.message), pos) from exc
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                _prefix(where, f"template syntax error: {exc.message}; check the {{{{ }}}} syntax"),
                pos,
            ) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(
                _prefix(where, f"template error: {exc}; templates run in a sandbox"), pos
            ) from exc
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                _prefix(where, f"template error: {exc.message}; check the variable name"), pos
            ) from exc
        except Exception as exc:  # a filter or function raised: report it, don't crash
            raise TemplateError(_prefix(where, f"template error: {exc}"), pos) from exc

    def render_value(
        self, value: Any, context: Mapping[str, Any], *, where: str = "", pos: Pos | None = None
    ) -> Any:
        """Render every template string inside a value (dicts and lists walked)."""
        if isinstance(value, str):
            return self.render_str(value, context, where=where, pos=pos)
        if isinstance(value, dict):
            return {
                key: self.render_value(item, context, where=_join(where, str(key)), pos=pos)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [
                self.render_value(item, context, where=f"{where}[{index}]", pos=pos)
                for index, item in enumerate(value)
            ]
        return value


def _prefix(where: str, message: str) -> str:
    return f"{where}: {message}" if where else message


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


_syntax_env = ImmutableSandboxedEnvironment()


def syntax_error(text: str) -> str | None:
    """The syntax error of a template, or None when it parses (used at validate time)."""
    if not is_template(text):
        return None
    try:
        _syntax_env.parse(rewrite(text))
    except jinja2.TemplateSyntaxError as exc:
        return exc.message or "invalid template"
    return None
