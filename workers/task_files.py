"""Files around a task run's working directory: Kestra's `inputFiles` and `outputFiles`.

`inputFiles` is a map (or a JSON string of a map) from a path relative to the working directory
to either inline content or a `kestra:///` URI of the internal storage, whose file is copied in.
`outputFiles` is a list of glob patterns, relative to the working directory; every matching file
goes to the internal storage and the output maps its relative path to its URI.

Some of Kestra's expressions can only be known on the worker: `{{ workingDir }}` and
`{{ outputFiles.<name> }}` (or `{{ outputFiles['<name>'] }}`). The planner leaves them as
written; `late_bound` replaces them here with real paths. Nothing here runs processes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Final

from workers.context import TaskContext
from workers.errors import ParamsError, StorageError
from workers.storage import SCHEME

_WORKING_DIR: Final = re.compile(r"\{\{\s*workingDir\s*\}\}")
_OUTPUT_FILE: Final = re.compile(
    r"\{\{\s*outputFiles\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])\s*\}\}"
)


def late_bound(text: str, working_dir: Path) -> str:
    """Replace `{{ workingDir }}` and `{{ outputFiles.x }}` by paths inside `working_dir`."""
    if "{{" not in text:
        return text
    text = _WORKING_DIR.sub(lambda _: str(working_dir), text)
    return _OUTPUT_FILE.sub(
        lambda m: str(inside(working_dir, m.group(1) or m.group(2), "outputFiles")), text
    )


def inside(working_dir: Path, name: str, prop: str) -> Path:
    """`working_dir / name`, refusing absolute paths and `..` (ParamsError naming `prop`)."""
    rel = PurePosixPath(name.replace("\\", "/"))
    if not name or rel.is_absolute() or ".." in rel.parts:
        raise ParamsError(
            f"property '{prop}': {name!r} must be a path relative to the task's working "
            "directory, without '..'"
        )
    return working_dir.joinpath(*rel.parts)


def input_files_map(value: dict[str, Any] | str | None) -> dict[str, str]:
    """Kestra's `inputFiles` as a map: a map as is, a JSON string parsed, nulls dropped."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ParamsError(
                f"property 'inputFiles': a string must be a JSON map of file name to content "
                f"({exc.msg})"
            ) from exc
        if not isinstance(parsed, dict):
            raise ParamsError("property 'inputFiles': the JSON string is not a map")
        value = parsed
    return {str(name): _content(content) for name, content in value.items() if content is not None}


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content)


def write_input_files(ctx: TaskContext, value: dict[str, Any] | str | None) -> list[Path]:
    """Create each input file in the working directory; return their paths."""
    created: list[Path] = []
    for name, content in input_files_map(value).items():
        target = inside(ctx.working_dir, name, "inputFiles")
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith(SCHEME):
            copy_from_storage(ctx, content, target)
        else:
            target.write_text(late_bound(content, ctx.working_dir), encoding="utf-8")
        created.append(target)
    return created


def copy_from_storage(ctx: TaskContext, uri: str, target: Path) -> None:
    try:
        with ctx.storage.open_read(uri) as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink)
    except OSError as exc:
        raise StorageError(f"cannot copy {uri} to {target.name!r}: {exc}") from exc


def collect_output_files(ctx: TaskContext, patterns: list[str] | None) -> dict[str, str]:
    """Store every file matching `patterns` in the working dir; relative path -> URI."""
    found: dict[str, str] = {}
    for pattern in patterns or []:
        inside(ctx.working_dir, pattern, "outputFiles")
        matches = sorted(p for p in ctx.working_dir.glob(pattern) if p.is_file())
        if not matches:
            ctx.logger.warn(f"outputFiles: no file matches {pattern!r}")
        for path in matches:
            rel = path.relative_to(ctx.working_dir).as_posix()
            if rel not in found:
                found[rel] = ctx.put_file(path, name=rel)
    return found
