"""The blueprint catalog: the built-in blueprints, the user's folders, and any others given.

Sources, later ones shadowing earlier ones with the same id: the blueprints shipped in
`scheduler/blueprints/catalog/` (package data), the folders in `ASSETLINE_BLUEPRINTS`
(separated by `os.pathsep`), the folders passed as `--catalog DIR`, then blueprints handed in
by the caller (e.g. the ones deployed into the store). A blueprint's id is its file name
without `.yaml`/`.yml`. A file that does not parse does not hide the others: it is listed in
`problems`, and asking for it raises its error.

This module reads blueprint files and folders; it renders nothing and never writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from scheduler.blueprints.errors import BlueprintError, CatalogError
from scheduler.blueprints.template import Blueprint, parse_blueprint
from scheduler.errors import FlowIssue
from scheduler.field_checks import did_you_mean
from scheduler.flow_model import Pos

__all__ = ["BUILTIN", "ENV_VAR", "Catalog", "env_folders", "load_catalog"]

#: The origin of the blueprints shipped with the package.
BUILTIN = "builtin"
#: Folders of user blueprints, separated by `os.pathsep`.
ENV_VAR = "ASSETLINE_BLUEPRINTS"
_SUFFIXES = (".yaml", ".yml")


class Catalog:
    """Blueprints by id, and the problems of the files that could not be read."""

    def __init__(
        self,
        blueprints: Mapping[str, Blueprint],
        failures: Mapping[str, BlueprintError] | None = None,
    ) -> None:
        self._blueprints = dict(sorted(blueprints.items()))
        self._failures = dict(failures or {})

    def all(self) -> list[Blueprint]:
        """Every readable blueprint, by id."""
        return list(self._blueprints.values())

    @property
    def problems(self) -> list[FlowIssue]:
        """The issues of every blueprint file that could not be read."""
        return [issue for error in self._failures.values() for issue in error.issues]

    def get(self, blueprint_id: str) -> Blueprint:
        """The blueprint `blueprint_id`; raises `CatalogError`, or the file's own error."""
        found = self._blueprints.get(blueprint_id)
        if found is not None:
            return found
        failure = self._failures.get(blueprint_id)
        if failure is not None:
            raise failure
        known = sorted({*self._blueprints, *self._failures})
        guess = did_you_mean(blueprint_id, known)
        hint = f"did you mean '{guess}'?" if guess else "known: " + (", ".join(known) or "none")
        raise CatalogError(
            [
                FlowIssue(
                    Pos("<catalog>", 1, 1),
                    f"no blueprint '{blueprint_id}'; {hint} "
                    "(`assetline blueprint list` shows them)",
                )
            ]
        )


def env_folders(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The folders named in `ASSETLINE_BLUEPRINTS`."""
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return [Path(part) for part in value.split(os.pathsep) if part.strip()]


def load_catalog(
    folders: Sequence[str | os.PathLike[str]] = (),
    *,
    environ: Mapping[str, str] | None = None,
    extra: Iterable[Blueprint] = (),
    builtin: bool = True,
) -> Catalog:
    """The catalog of the built-in blueprints, `ASSETLINE_BLUEPRINTS`, `folders` and `extra`.

    Raises `CatalogError` when a folder does not exist or cannot be listed.
    """
    found: dict[str, Blueprint] = {}
    failures: dict[str, BlueprintError] = {}
    if builtin:
        _read_entries(_builtin_entries(), BUILTIN, found, failures)
    for folder in [*env_folders(environ), *(Path(item) for item in folders)]:
        _read_entries(_folder_entries(folder), str(folder), found, failures)
    for blueprint in extra:
        found[blueprint.id] = blueprint
        failures.pop(blueprint.id, None)
    return Catalog(found, failures)


def _builtin_entries() -> list[Traversable]:
    root = resources.files("scheduler.blueprints") / "catalog"
    return sorted(
        (entry for entry in root.iterdir() if entry.name.endswith(_SUFFIXES)),
        key=lambda entry: entry.name,
    )


def _folder_entries(folder: Path) -> list[Traversable]:
    try:
        entries = sorted(path for path in folder.iterdir() if path.name.endswith(_SUFFIXES))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CatalogError(
            [
                FlowIssue(
                    Pos(str(folder), 1, 1),
                    f"cannot read the blueprint folder: {reason}; check --catalog and {ENV_VAR}",
                )
            ]
        ) from exc
    return list(entries)


def _read_entries(
    entries: Sequence[Traversable],
    origin: str,
    found: dict[str, Blueprint],
    failures: dict[str, BlueprintError],
) -> None:
    for entry in entries:
        blueprint_id = entry.name.rsplit(".", 1)[0]
        path = str(entry)
        try:
            text = entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            failures[blueprint_id] = CatalogError(
                [FlowIssue(Pos(path, 1, 1), f"cannot read the blueprint: {exc}")]
            )
            found.pop(blueprint_id, None)
            continue
        try:
            found[blueprint_id] = parse_blueprint(text, path, blueprint_id, origin)
            failures.pop(blueprint_id, None)
        except BlueprintError as exc:
            failures[blueprint_id] = exc
            found.pop(blueprint_id, None)
