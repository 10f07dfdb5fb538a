"""Configuration models of the exporters, the filters and the AssetShipper task (pydantic).

Field names are Kestra's (`assetExporters`, `maxLinesPerFile`, `offsetKey`, `lookbackPeriod`,
`mappings`...), with assetline's additions named in the same style. Every model forbids
unknown keys, so a typo is an error that names the key instead of a silent default.

Kestra's type names: `io.kestra.plugin.ee.assets.AssetShipper` (the task),
`io.kestra.plugin.ee.assets.FileAssetExporter` and
`io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter` (its exporters); short aliases
`file` and `openlineage` are accepted too.

No I/O here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "ASSET_SHIPPER_TYPE",
    "FILE_EXPORTER_TYPE",
    "OPENLINEAGE_EXPORTER_TYPE",
    "AssetShipperParams",
    "DatasetMapping",
    "ExporterConfig",
    "FileExporterConfig",
    "OpenLineageExporterConfig",
    "RetryConfig",
    "ShipFilters",
]

ASSET_SHIPPER_TYPE: Final = "io.kestra.plugin.ee.assets.AssetShipper"
FILE_EXPORTER_TYPE: Final = "io.kestra.plugin.ee.assets.FileAssetExporter"
OPENLINEAGE_EXPORTER_TYPE: Final = "io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter"

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
_ID_PATTERN: Final = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"

FileFormat = Literal["JSON", "NDJSON", "ION", "ION_BINARY", "PARQUET", "ARROW"]
#: What an exporter reads: the event log (incremental, with an offset) or the asset inventory.
Source = Literal["EVENTS", "ASSETS"]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class ShipFilters(BaseModel):
    """Which log entries (or assets) to ship; None means no restriction.

    A task-run entry passes when its flow namespace, flow id and task id match and, if an
    asset filter is set, at least one of its assets matches it; only matching assets are then
    exported with it. Execution entries have no task and no assets: they pass only when no
    task or asset filter is set. `flowNamespace` and `assetNamespace` also match
    sub-namespaces (`company` matches `company.team`), like Kestra's namespace filters.
    """

    model_config = _STRICT

    assetNamespace: str | None = None  # noqa: N815 - Kestra's names
    assetTypes: list[str] | None = None  # noqa: N815
    flowNamespace: str | None = None  # noqa: N815
    flowId: str | None = None  # noqa: N815
    taskId: str | None = None  # noqa: N815

    def is_empty(self) -> bool:
        return not any(
            (self.assetNamespace, self.assetTypes, self.flowNamespace, self.flowId, self.taskId)
        )


class _ExporterBase(BaseModel):
    model_config = _STRICT

    id: str = Field(default="default", pattern=_ID_PATTERN)
    #: assetline extension: ship the event log (default) or the asset inventory.
    source: Source = "EVENTS"

    _normalise_source = field_validator("source", mode="before")(_upper)


class FileExporterConfig(_ExporterBase):
    """`FileAssetExporter`: write the event log or the inventory to files.

    Output goes to `path` (a file; with `maxLinesPerFile`, numbered parts next to it) or,
    without `path`, to the internal storage as `<logFilePrefix>-<firstSeq>-<lastSeq>.<ext>`.
    """

    type: Literal["io.kestra.plugin.ee.assets.FileAssetExporter", "file", "FileAssetExporter"] = (
        FILE_EXPORTER_TYPE
    )
    format: FileFormat = "ION"
    logFilePrefix: str = "kestra-log-file"  # noqa: N815 - Kestra's names
    maxLinesPerFile: int | None = Field(default=None, ge=1)  # noqa: N815
    path: str | None = None
    #: Rows per Arrow record batch read from the store (memory is bounded by it).
    batchSize: int = Field(default=10_000, ge=1, le=1_000_000)  # noqa: N815

    _normalise_format = field_validator("format", mode="before")(_upper)


class RetryConfig(BaseModel):
    """Retries of one request: exponential backoff with full jitter, capped."""

    model_config = _STRICT

    maxAttempts: int = Field(default=6, ge=1)  # noqa: N815
    initialDelay: float = Field(default=0.2, ge=0)  # noqa: N815 - seconds
    maxDelay: float = Field(default=10.0, ge=0)  # noqa: N815 - seconds
    multiplier: float = Field(default=2.0, ge=1)


class DatasetMapping(BaseModel):
    """How one asset type maps to an OpenLineage dataset `namespace` and `name`.

    Each value is a template: `{id}`, `{namespace}`, `{type}`, `{displayName}` and
    `{metadata.<key>}` are replaced by the asset's values, e.g.
    `namespace: "postgres://{metadata.host}:{metadata.port}"`,
    `name: "{metadata.database}.{metadata.schema}.{id}"`. A value made only of names and dots
    is Kestra's form: metadata keys (or asset fields) resolved and joined with dots, e.g.
    `name: database.schema.id`. Any other value is a literal (`namespace: s3://lake`). When a
    key is missing on an asset, that asset falls back to the default naming.
    """

    model_config = _STRICT

    namespace: str
    name: str = "{id}"


class OpenLineageExporterConfig(_ExporterBase):
    """`OpenLineageAssetExporter`: send RunEvents (and DatasetEvents) over HTTP."""

    type: Literal[
        "io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter",
        "openlineage",
        "OpenLineageAssetExporter",
    ] = OPENLINEAGE_EXPORTER_TYPE
    uri: str = Field(min_length=1)
    #: Path under `uri`: Marquez's by default; DataHub uses `openapi/openlineage/api/v1/lineage`.
    endpoint: str = "api/v1/lineage"
    #: Sent as `Authorization: Bearer <apiKey>` (OpenLineage's api_key), or raw in `apiKeyHeader`.
    apiKey: SecretStr | None = None  # noqa: N815
    apiKeyHeader: str | None = None  # noqa: N815
    headers: dict[str, str] = Field(default_factory=dict)
    #: Request bodies gzip-compressed (off by default: on loopback or a fast LAN it costs
    #: more CPU than it saves time).
    compression: Literal["gzip"] | None = None
    #: gzip level: 1 (default) is 3-4x cheaper than 6 for nearly the same size on JSON events.
    compressionLevel: int = Field(default=1, ge=1, le=9)  # noqa: N815
    #: Seconds for connecting and for each read.
    timeout: float = Field(default=5.0, gt=0)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    #: Events per request to `<endpoint>/batch`; 1 sends one event per request.
    batchSize: int = Field(default=100, ge=1, le=10_000)  # noqa: N815
    #: `auto` probes `<endpoint>/batch` once and falls back to single events on 404/405/501.
    batchEndpoint: Literal["auto", "always", "never"] = "auto"  # noqa: N815
    #: Requests in flight at once.
    maxConcurrency: int = Field(default=1, ge=1, le=64)  # noqa: N815
    #: NDJSON file for events a backend refused (4xx); default `<home>/dead-letter/<key>.ndjson`.
    deadLetterPath: str | None = None  # noqa: N815
    mappings: dict[str, DatasetMapping] = Field(default_factory=dict)
    #: Also send each execution's own START/terminal run (the tasks' parent run).
    emitExecutionEvents: bool = True  # noqa: N815
    #: Log entries read from the store per round.
    readBatchSize: int = Field(default=1_000, ge=1, le=100_000)  # noqa: N815

    @field_validator("uri")
    @classmethod
    def _http_uri(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"uri must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_reserved_headers(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = {"content-type", "content-encoding", "content-length"}
        clash = sorted(name for name in value if name.lower() in reserved)
        if clash:
            raise ValueError(f"headers may not set {', '.join(clash)}: the transport sets them")
        return value


ExporterConfig = Annotated[
    FileExporterConfig | OpenLineageExporterConfig, Field(discriminator="type")
]


class AssetShipperParams(BaseModel):
    """Properties of the `io.kestra.plugin.ee.assets.AssetShipper` task."""

    model_config = _STRICT

    assetExporters: list[ExporterConfig] = Field(min_length=1)  # noqa: N815
    offsetKey: str | None = None  # noqa: N815
    #: Where a first run (no stored offset) starts: now minus this (ISO-8601, e.g. `P1D`).
    lookbackPeriod: timedelta | None = timedelta(days=1)  # noqa: N815
    assetNamespace: str | None = None  # noqa: N815
    assetTypes: list[str] | None = None  # noqa: N815
    flowNamespace: str | None = None  # noqa: N815
    flowId: str | None = None  # noqa: N815
    taskId: str | None = None  # noqa: N815

    @model_validator(mode="after")
    def _unique_ids(self) -> AssetShipperParams:
        ids = [exporter.id for exporter in self.assetExporters]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(
                f"assetExporters ids must be unique; repeated: {', '.join(repeated)} "
                "(give each exporter its own `id`)"
            )
        return self

    def filters(self) -> ShipFilters:
        return ShipFilters(
            assetNamespace=self.assetNamespace,
            assetTypes=self.assetTypes,
            flowNamespace=self.flowNamespace,
            flowId=self.flowId,
            taskId=self.taskId,
        )
