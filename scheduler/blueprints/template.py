"""A blueprint file read into a `Blueprint`: its `extend:` block parsed, the template body kept.

A blueprint is a flow file in Kestra's templated-blueprint format: a top-level `extend:` block
holds `templateArguments` (declared exactly like flow `inputs`, parsed by the loader's own
`parse_input_decls`) and the optional `title`, `description` and `tags`; the rest of the file is
the template of the flow. The body is not YAML until it is rendered (`<% for %>` lines), so the
`extend:` block is cut out by its indentation and parsed on its own, with the positions it has in
the whole file. `Blueprint.body_lines` maps each body line back to its line in the file.

No I/O here: callers read the file (see `catalog`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scheduler.blueprints.errors import BlueprintFileError
from scheduler.errors import FlowError, FlowIssue
from scheduler.field_checks import Issues, check_keys, check_kind, describe
from scheduler.flow_model import InputDef, Pos
from scheduler.input_decls import parse_input_decls
from scheduler.yaml_positions import PMap, PSeq, parse_yaml

__all__ = ["BLUEPRINT_ID_PATTERN", "EXTEND_KEYS", "Blueprint", "parse_blueprint"]

#: A blueprint's id is its file name without `.yaml`/`.yml`.
BLUEPRINT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
#: What Kestra's `extend:` block takes (templateArguments) plus the catalog's own fields.
EXTEND_KEYS = ("templateArguments", "title", "description", "tags")
_EXTEND_LINE = re.compile(r"^extend\s*:")


@dataclass(frozen=True)
class Blueprint:
    """One blueprint: what the catalog lists, the form asks for, and the renderer fills in."""

    id: str
    #: The file name used in messages (a path, or `catalog:<file>` for the built-in ones).
    path: str
    #: Where it comes from: `builtin`, a catalog folder, or `store`.
    origin: str
    title: str | None
    description: str | None
    tags: tuple[str, ...]
    #: The `templateArguments`, as flow input declarations (positions in the blueprint file).
    arguments: tuple[InputDef, ...]
    #: The template of the flow: the file without its `extend:` block.
    body: str
    #: 0-based body line -> 1-based line in the blueprint file.
    body_lines: tuple[int, ...]
    #: The whole file as written.
    source: str

    def template_line(self, body_line: int) -> int:
        """The file line of the 1-based `body_line` (the last line when past the end)."""
        if not self.body_lines:
            return 1
        index = min(max(body_line, 1), len(self.body_lines)) - 1
        return self.body_lines[index]

    def to_json(self) -> dict[str, Any]:
        """What a listing or a form needs, JSON-ready (the web UI's blueprint page reads it)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "origin": self.origin,
            "path": self.path,
            "arguments": [
                decl.model_dump(mode="json", exclude={"pos"}, exclude_none=True)
                for decl in self.arguments
            ],
        }


def parse_blueprint(text: str, path: str, blueprint_id: str, origin: str) -> Blueprint:
    """The blueprint written in `text`; raises `BlueprintFileError` listing every issue."""
    issues = Issues()
    if not BLUEPRINT_ID_PATTERN.match(blueprint_id):
        issues.add(
            Pos(path, 1, 1),
            f"blueprint id {blueprint_id!r} is invalid; name the file with letters, digits, "
            "'.', '_' and '-' (the id is the file name without .yaml)",
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.splitlines(keepends=True)
    starts = [index for index, line in enumerate(lines) if _EXTEND_LINE.match(line)]
    for extra in starts[1:]:
        issues.add(
            Pos(path, extra + 1, 1),
            f"a second 'extend' block (the first is at line {starts[0] + 1}); merge them",
        )
    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    arguments: tuple[InputDef, ...] = ()
    body_lines = list(range(1, len(lines) + 1))
    if starts:
        first = starts[0]
        last = _block_end(lines, first)
        block = "\n" * first + "".join(lines[first:last])
        extend = _parse_extend(block, path, issues)
        if extend is not None:
            title, description, tags, arguments = _read_extend(extend, issues)
        del lines[first:last]
        del body_lines[first:last]
    if issues.items:
        raise BlueprintFileError(issues.sorted())
    return Blueprint(
        id=blueprint_id,
        path=path,
        origin=origin,
        title=title,
        description=description,
        tags=tags,
        arguments=arguments,
        body="".join(lines),
        body_lines=tuple(body_lines),
        source=text,
    )


def _block_end(lines: list[str], first: int) -> int:
    """The index after the last line of the top-level block starting at `first`."""
    last = first + 1
    for index in range(first + 1, len(lines)):
        line = lines[index]
        if line.strip() == "" or line.startswith((" ", "\t", "#")):
            continue
        return index if first == 0 else _trim_trailing_blank(lines, first, index)
    return len(lines) if first == 0 else _trim_trailing_blank(lines, first, max(last, len(lines)))


def _trim_trailing_blank(lines: list[str], first: int, end: int) -> int:
    """Leave blank lines and comments that end a block in mid-file to the body (they separate
    sections); a block at the top takes them along."""
    while end - 1 > first and (lines[end - 1].strip() == "" or lines[end - 1].startswith("#")):
        end -= 1
    return end


def _parse_extend(block: str, path: str, issues: Issues) -> PMap | None:
    try:
        root, duplicates = parse_yaml(block, path)
    except FlowError as exc:
        issues.extend(exc.issues)
        return None
    issues.extend(duplicates)
    extend = root.get("extend") if isinstance(root, PMap) else None
    if not isinstance(extend, PMap):
        where = root.vpos("extend") if isinstance(root, PMap) else Pos(path, 1, 1)
        issues.add(
            where,
            f"extend: must be a mapping with 'templateArguments'; got {describe(extend)}",
        )
        return None
    return extend


def _read_extend(
    extend: PMap, issues: Issues
) -> tuple[str | None, str | None, tuple[str, ...], tuple[InputDef, ...]]:
    check_keys(extend, EXTEND_KEYS, "extend", issues, noun="key")
    title = check_kind(extend, "title", str, "extend", issues)
    description = check_kind(extend, "description", str, "extend", issues)
    tags: list[str] = []
    raw_tags = check_kind(extend, "tags", list, "extend", issues)
    if isinstance(raw_tags, PSeq):
        for index, tag in enumerate(raw_tags):
            if isinstance(tag, dict | list) or tag is None:
                issues.add(raw_tags.ipos(index), f"extend: tag {describe(tag)} must be a text")
            else:
                tags.append(str(tag))
    check_kind(extend, "templateArguments", list, "extend", issues)
    found = Issues()
    arguments = parse_input_decls(extend.get("templateArguments"), found)
    issues.extend(FlowIssue(issue.pos, _as_argument(issue.message)) for issue in found.items)
    return (
        title if isinstance(title, str) else None,
        description if isinstance(description, str) else None,
        tuple(tags),
        arguments,
    )


def _as_argument(message: str) -> str:
    """The loader's wording for inputs, said of template arguments."""
    if message.startswith("input '"):
        return "argument '" + message[len("input '") :]
    if message.startswith("inputs["):
        return "templateArguments[" + message[len("inputs[") :]
    return message
