"""Map an asset to an OpenLineage dataset `namespace` and `name`.

Per asset type, a `DatasetMapping` (Kestra's `mappings`) gives templates; without one the
defaults follow OpenLineage's naming conventions where the asset type says what it is:
- a bucket (`...Bucket` type): namespace `s3://<metadata.bucket or id>`, name
  `<metadata.key or metadata.prefix or "/">`;
- a file (`...File` type): namespace `file` (or `file://<metadata.host>`), name
  `<metadata.path or id>`;
- anything else: namespace = the asset's namespace (Kestra defaults it to the namespace of
  the flow that declared it), or the flow namespace when the asset has none; name = its id.

Dataset identity must not depend on which flow reads or writes an asset (that would cut
lineage between flows), which is why the asset's own namespace comes first.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from shippers.config import DatasetMapping

__all__ = ["AssetView", "DatasetNamer"]

_KEY_LIST: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*")
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)\}")


@dataclass(frozen=True)
class AssetView:
    """What is known of an asset when naming it and describing it."""

    id: str
    namespace: str | None
    type: str | None
    displayName: str | None = None  # noqa: N815 - Kestra's field name
    description: str | None = None
    metadata: Mapping[str, Any] | None = None


class _MissingKeyError(KeyError):
    pass


def _lookup(asset: AssetView, path: str) -> str:
    metadata = asset.metadata or {}
    if path.startswith("metadata."):
        key = path.removeprefix("metadata.")
        value = metadata.get(key)
    elif path in ("id", "namespace", "type", "displayName", "description"):
        value = getattr(asset, path)
    else:
        value = metadata.get(path)
    if value is None or value == "":
        raise _MissingKeyError(path)
    return str(value)


def _render(template: str, asset: AssetView) -> str:
    if "{" in template:
        return _PLACEHOLDER.sub(lambda m: _lookup(asset, m.group(1)), template)
    if _KEY_LIST.fullmatch(template):
        # Kestra's form: dot-separated keys, each resolved on the asset, joined with dots.
        return ".".join(_lookup(asset, key) for key in template.split("."))
    return template  # a literal, e.g. `s3://lake` or `postgres://db:5432`


def _simple_type(type_: str | None) -> str:
    return (type_ or "").rsplit(".", 1)[-1].lower()


class DatasetNamer:
    """Names datasets with the configured mappings, falling back to the defaults."""

    def __init__(self, mappings: Mapping[str, DatasetMapping] | None = None) -> None:
        self.mappings = dict(mappings or {})

    def name(self, asset: AssetView, flow_namespace: str | None) -> tuple[str, str]:
        """(namespace, name) of the OpenLineage dataset for `asset`."""
        mapping = self.mappings.get(asset.type or "")
        if mapping is not None:
            try:
                return _render(mapping.namespace, asset), _render(mapping.name, asset)
            except _MissingKeyError:
                pass
        return self.default(asset, flow_namespace)

    @staticmethod
    def default(asset: AssetView, flow_namespace: str | None) -> tuple[str, str]:
        meta = asset.metadata or {}
        kind = _simple_type(asset.type)
        if kind.endswith("bucket"):
            bucket = str(meta.get("bucket") or asset.id)
            key = meta.get("key") or meta.get("prefix") or "/"
            return f"s3://{bucket}", str(key)
        if kind.endswith("file"):
            host = meta.get("host")
            return (f"file://{host}" if host else "file"), str(meta.get("path") or asset.id)
        namespace = asset.namespace or flow_namespace or "default"
        return namespace, asset.id

    @staticmethod
    def dataset_type(type_: str | None) -> str:
        """The `datasetType` facet value: the type's simple name, upper case (TABLE, FILE...)."""
        simple = (type_ or "").rsplit(".", 1)[-1]
        return simple.upper() or "DATASET"
