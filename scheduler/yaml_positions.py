"""YAML text to plain Python values that remember where each key, value and item was written.

`parse_yaml` composes the document with ruamel.yaml (YAML 1.2) and builds `PMap` (a `dict`) and
`PSeq` (a `list`) whose side tables give the 1-based `Pos` of every key, value and item, so the
loader can point each issue at the exact spot. Scalars follow YAML 1.2 core types; timestamps stay
strings (as Kestra's YAML reader keeps them); mapping keys are the scalar's text (`1:` -> "1").
Anchors, aliases and merge keys (`<<`) work. Duplicate keys are reported, not silently resolved.

Broken YAML raises `FlowError` with one issue at the parser's mark. `plain` strips the side
tables again. No file I/O here: the caller reads the text.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from scheduler.errors import FlowError, FlowIssue
from scheduler.flow_model import Pos

__all__ = ["PMap", "PSeq", "parse_yaml", "plain", "pos_at"]

_TAG = "tag:yaml.org,2002:"
_MAX_DEPTH = 200


class PMap(dict[str, Any]):
    """A YAML mapping: a `dict` plus the position of itself, of each key and of each value."""

    def __init__(self, pos: Pos) -> None:
        super().__init__()
        self.pos = pos
        self.key_pos: dict[str, Pos] = {}
        self.value_pos: dict[str, Pos] = {}

    def put(self, key: str, value: Any, key_pos: Pos, value_pos: Pos) -> None:
        self[key] = value
        self.key_pos[key] = key_pos
        self.value_pos[key] = value_pos

    def kpos(self, key: str) -> Pos:
        """Where `key` was written (the mapping's own position if it was not)."""
        return self.key_pos.get(key, self.pos)

    def vpos(self, key: str) -> Pos:
        """Where the value of `key` was written (the mapping's own position if it was not)."""
        return self.value_pos.get(key, self.pos)


class PSeq(list[Any]):
    """A YAML sequence: a `list` plus the position of itself and of each item."""

    def __init__(self, pos: Pos) -> None:
        super().__init__()
        self.pos = pos
        self.item_pos: list[Pos] = []

    def add(self, value: Any, pos: Pos) -> None:
        self.append(value)
        self.item_pos.append(pos)

    def ipos(self, index: int) -> Pos:
        return self.item_pos[index] if 0 <= index < len(self.item_pos) else self.pos


def _pos(filename: str, node: Node) -> Pos:
    mark = node.start_mark
    return Pos(filename, mark.line + 1, mark.column + 1)


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag) or "")


def _int(text: str) -> int | str:
    """A YAML 1.2 integer (decimal, 0o octal, 0x hex; '_' separators), else the text."""
    digits = text.replace("_", "")
    try:
        return int(digits, 0) if digits.lstrip("+-")[:2].lower() in ("0x", "0o") else int(digits)
    except ValueError:
        return text


def _float(text: str) -> float | str:
    """A YAML 1.2 float (with .inf and .nan), else the text."""
    lowered = text.replace("_", "").lower()
    if lowered.lstrip("+-") == ".inf":
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    try:
        return float(lowered)
    except ValueError:
        return text


class _Builder:
    """Turns composed nodes into PMap/PSeq/scalars, collecting duplicate-key issues."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.issues: list[FlowIssue] = []
        self._stack: set[int] = set()

    def build(self, node: Node) -> Any:
        if id(node) in self._stack or len(self._stack) > _MAX_DEPTH:
            self.issues.append(
                FlowIssue(_pos(self.filename, node), "recursive YAML alias; expand it by hand")
            )
            return None
        self._stack.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node)
            if isinstance(node, SequenceNode):
                seq = PSeq(_pos(self.filename, node))
                for item in node.value:
                    seq.add(self.build(item), _pos(self.filename, item))
                return seq
            return self._scalar(node)
        finally:
            self._stack.discard(id(node))

    def _scalar(self, node: Node) -> Any:
        tag = _tag(node)
        text = node.value
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return str(text).lower() == "true"
        if tag == _TAG + "int":
            return _int(str(text))
        if tag == _TAG + "float":
            return _float(str(text))
        if getattr(node, "style", None) == ">":
            # ruamel's composer marks each folded line break with "\a" (its constructor,
            # which we bypass to keep positions, removes them)
            return str(text).replace("\a", "")
        return text

    def _mapping(self, node: MappingNode) -> PMap:
        result = PMap(_pos(self.filename, node))
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if _tag(key_node) == _TAG + "merge":
                merges.append(value_node)
                continue
            key_pos = _pos(self.filename, key_node)
            if not isinstance(key_node, ScalarNode):
                self.issues.append(
                    FlowIssue(key_pos, "a mapping key must be a plain text; quote it or rewrite it")
                )
                continue
            key = "" if key_node.value is None else str(key_node.value)
            if key in result:
                first = result.key_pos[key]
                self.issues.append(
                    FlowIssue(
                        key_pos,
                        f"duplicate key '{key}' (first at line {first.line}, column {first.col});"
                        " remove one of them",
                    )
                )
                continue
            result.put(key, self.build(value_node), key_pos, _pos(self.filename, value_node))
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                merged = self.build(source)
                if not isinstance(merged, PMap):
                    self.issues.append(
                        FlowIssue(
                            _pos(self.filename, source), "a merge key '<<' needs a mapping to merge"
                        )
                    )
                    continue
                for key, value in merged.items():
                    if key not in result:
                        result.put(key, value, merged.kpos(key), merged.vpos(key))
        return result


def parse_yaml(text: str, filename: str) -> tuple[Any, list[FlowIssue]]:
    """The document in `text` as PMap/PSeq/scalars (None when empty), and its duplicate keys.

    Raises `FlowError` with one issue at the parser's mark when `text` is not valid YAML.
    """
    try:
        root = YAML(typ="rt").compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(filename, mark.line + 1, mark.column + 1) if mark else Pos(filename, 1, 1)
        problem = exc.problem or exc.context or "unreadable YAML"
        issue = FlowIssue(pos, f"invalid YAML: {problem}; fix the syntax at this position")
        raise FlowError([issue]) from exc
    except YAMLError as exc:
        issue = FlowIssue(Pos(filename, 1, 1), f"invalid YAML: {exc}; fix the syntax of the file")
        raise FlowError([issue]) from exc
    if root is None:
        return None, []
    builder = _Builder(filename)
    value = builder.build(root)
    return value, builder.issues


def plain(value: Any) -> Any:
    """`value` with every PMap/PSeq turned back into a plain dict/list (recursively)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def pos_at(value: Any, loc: tuple[int | str, ...], default: Pos) -> Pos:
    """The position of the element reached by following `loc` (keys/indexes) into `value`.

    Stops at the deepest element that exists; `default` is the position of `value` itself.
    """
    pos = default
    current = value
    for step in loc:
        if isinstance(current, PMap) and isinstance(step, str) and step in current:
            pos = current.vpos(step)
            current = current[step]
        elif isinstance(current, PSeq) and isinstance(step, int) and 0 <= step < len(current):
            pos = current.ipos(step)
            current = current[step]
        else:
            break
    return pos
