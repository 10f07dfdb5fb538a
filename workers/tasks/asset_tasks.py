"""Kestra's asset tasks on the asset store: `Set`, `List`, `Delete` and `PurgeAssets`.

Driver-side task types (`runs_on = "driver"`): they use the store the driving process lends in
`ctx.services` and never run on a Ray worker. Writes go through that process's single writer
(`services["writer"]`: an `AssetSetEvent` or `AssetDeleteEvent`, then `flush()`, so the change
is committed when the task ends); reads go through `services["store"].find_assets`, after a
flush, so they see what earlier tasks wrote.

Properties are Kestra's (plugin-kestra's `ee.assets` tasks):
- `Set`: `assetId`, `assetType`, `namespace` (default: the flow's, for a new asset),
  `displayName`, `assetDescription`, `metadata` (merged; a null value deletes a key; secrets
  masked). No outputs.
- `List`: `namespace`, `types`, `metadataQuery: [{field, type: EQUAL_TO|NOT_EQUAL_TO, value}]`,
  `fetchType` (FETCH: `assets`; FETCH_ONE: `asset`; STORE, the default: `uri` of an ION file;
  NONE), `page`/`size` (no page: every match). Outputs `size` but for NONE.
- `Delete`: `assetId`; an id the store does not hold fails the task.
- `PurgeAssets`: `endDate` (required), `namespace` (the namespace and those below it;
  Kestra's `company.*` works too), `assetId`, `assetType`, `metadataQuery` (or a `metadata`
  map of equalities), and what to purge, all true by default: `purgeAssets` (assets matching
  every filter, last updated at or before `endDate`; output `purgedAssetsCount`),
  `purgeAssetUsages` (their usages logged by then, chosen by id and namespace only;
  `purgedAssetUsagesCount`), `purgeAssetLineages` (lineage edges whose latest run ended by
  then, chosen by namespace only; `purgedAssetLineagesCount`). The event log, task runs and
  executions stay.
Kestra's connection properties (`kestraUrl`, `auth`, `tenantId`) are accepted and ignored:
assetline has one store per home.

This module holds no store semantics (merging, edges, idempotency are the store's) and never
opens a store itself.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal

import pydantic

from store import codec
from store.errors import StoreError
from workers.context import TaskContext
from workers.errors import TaskFailed
from workers.masking import Masker
from workers.registry import TaskType, register_task

_EE: Final = "io.kestra.plugin.ee.assets."
_KESTRA_EE: Final = "io.kestra.plugin.kestra.ee.assets."
#: Kestra's asset id rule (the same one the loader applies to `assets:` declarations).
ASSET_ID_PATTERN: Final = r"^[a-zA-Z0-9][a-zA-Z0-9._:-]*$"
ASSET_ID_MAX: Final = 150
#: Assets read from the store per page while filtering.
PAGE: Final = 500


class _KestraConnection(pydantic.BaseModel):
    """plugin-kestra's connection properties: accepted, unused (the store is local)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    kestraUrl: str | None = None  # noqa: N815 - Kestra's property names
    auth: dict[str, Any] | None = None
    tenantId: str | None = None  # noqa: N815


class FieldQuery(pydantic.BaseModel):
    """One `metadataQuery` entry. Values match by their JSON form (`1` is not `"1"`)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    field: str
    type: Literal["EQUAL_TO", "NOT_EQUAL_TO"] = "EQUAL_TO"
    value: Any = None


class SetParams(_KestraConnection):
    namespace: str | None = None
    assetId: str = pydantic.Field(pattern=ASSET_ID_PATTERN, max_length=ASSET_ID_MAX)  # noqa: N815
    assetType: str = pydantic.Field(min_length=1)  # noqa: N815
    displayName: str | None = None  # noqa: N815
    assetDescription: str | None = None  # noqa: N815
    metadata: dict[str, Any] | None = None


class ListParams(_KestraConnection):
    namespace: str | None = None
    types: list[str] | None = None
    metadataQuery: list[FieldQuery] | None = None  # noqa: N815
    fetchType: Literal["FETCH", "FETCH_ONE", "STORE", "NONE"] = "STORE"  # noqa: N815
    page: int | None = pydantic.Field(default=None, ge=1)
    size: int = pydantic.Field(default=100, ge=1)


class DeleteParams(_KestraConnection):
    assetId: str = pydantic.Field(min_length=1)  # noqa: N815


class PurgeParams(_KestraConnection):
    endDate: datetime  # noqa: N815
    namespace: str | None = None
    assetId: str | None = None  # noqa: N815
    assetType: list[str] | None = None  # noqa: N815
    metadataQuery: list[FieldQuery] | None = None  # noqa: N815
    #: The shorthand of Kestra's documentation example: equalities only.
    metadata: dict[str, Any] | None = None
    purgeAssets: bool = True  # noqa: N815
    purgeAssetUsages: bool = True  # noqa: N815
    purgeAssetLineages: bool = True  # noqa: N815

    def end(self) -> float:
        """`endDate` in epoch seconds (a date without a zone is UTC)."""
        moment = self.endDate
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    def conditions(self) -> list[FieldQuery]:
        shorthand = [FieldQuery(field=k, value=v) for k, v in (self.metadata or {}).items()]
        return [*(self.metadataQuery or []), *shorthand]


# -- what every asset task shares ------------------------------------------------------------


def _store_and_writer(ctx: TaskContext) -> tuple[Any, Any]:
    store, writer = ctx.services.get("store"), ctx.services.get("writer")
    if store is None or writer is None:
        raise TaskFailed(
            f"task '{ctx.spec.task_id}': asset tasks need the asset store and its writer, which "
            "`assetline run` lends to driver-side tasks; none were given"
        )
    return store, writer


def _flush(writer: Any, what: str) -> None:
    try:
        writer.flush()
    except StoreError as exc:
        raise TaskFailed(f"the asset store refused {what}: {exc}") from exc


def _note_connection(params: _KestraConnection, ctx: TaskContext) -> None:
    given = [name for name in ("kestraUrl", "auth", "tenantId") if getattr(params, name)]
    if given:
        ctx.logger.info(f"{', '.join(given)} ignored: assetline uses the local asset store")


def _json_form(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def select_assets(
    store: Any,
    *,
    asset_id: str | None = None,
    namespace: str | None = None,
    namespace_prefix: str | None = None,
    types: Sequence[str] = (),
    conditions: Sequence[FieldQuery] = (),
) -> Iterator[codec.Asset]:
    """Assets matching every filter, in id order, read a page at a time. Equalities and a
    single type go to the store's index; other types and NOT_EQUAL_TO (an asset without the
    field matches) are checked on the records."""
    equal: dict[str, Any] = {}
    for cond in conditions:
        if cond.type != "EQUAL_TO":
            continue
        if cond.field in equal and _json_form(equal[cond.field]) != _json_form(cond.value):
            return  # one field cannot equal two values
        equal[cond.field] = cond.value
    differ = [cond for cond in conditions if cond.type == "NOT_EQUAL_TO"]
    wanted = set(types)
    filters: dict[str, Any] = {
        "type": types[0] if len(wanted) == 1 else None,
        "namespace": namespace,
        "namespace_prefix": namespace_prefix,
        "metadata": equal or None,
    }

    def keep(asset: codec.Asset) -> bool:
        if wanted and asset.type not in wanted:
            return False
        return not any(
            cond.field in asset.metadata
            and _json_form(asset.metadata[cond.field]) == _json_form(cond.value)
            for cond in differ
        )

    if asset_id is not None:
        yield from filter(keep, store.find_assets(id=asset_id, **filters))
        return
    after: str | None = None
    while True:
        page = store.find_assets(after=after, limit=PAGE, **filters)
        yield from filter(keep, page)
        if len(page) < PAGE:
            return
        after = page[-1].id


# -- the task types ---------------------------------------------------------------------------


@register_task
class SetAsset(TaskType):
    """Create an asset, or merge these attributes into the one the store holds."""

    kind: ClassVar[str] = _EE + "Set"
    aliases: ClassVar[tuple[str, ...]] = (_KESTRA_EE + "Set", "assets.set")
    Params = SetParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: SetParams = params
        _note_connection(p, ctx)
        store, writer = _store_and_writer(ctx)
        masker = Masker(ctx.spec.secrets)
        namespace = p.namespace
        if namespace is None:
            _flush(writer, "the writes before this task")
            if store.get_asset(p.assetId) is None:
                namespace = ctx.spec.flow_namespace
        decl = codec.AssetDecl(
            id=p.assetId,
            namespace=namespace,
            type=p.assetType,
            displayName=masker.mask(p.displayName),
            description=masker.mask(p.assetDescription),
            metadata=masker.mask(p.metadata) if p.metadata is not None else None,
        )
        writer.submit(
            codec.AssetSetEvent(
                asset=decl,
                time=time.time(),
                execution_id=ctx.spec.execution_id,
                taskrun_id=ctx.spec.taskrun_id,
            )
        )
        _flush(writer, f"asset '{p.assetId}'")
        ctx.logger.info(f"asset '{p.assetId}' set")
        return {}


@register_task
class ListAssets(TaskType):
    """Query the inventory; return the assets as maps (or store them as an ION file)."""

    kind: ClassVar[str] = _EE + "List"
    aliases: ClassVar[tuple[str, ...]] = (_KESTRA_EE + "List", "assets.list")
    Params = ListParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: ListParams = params
        _note_connection(p, ctx)
        store, writer = _store_and_writer(ctx)
        _flush(writer, "the writes before this task")
        found = select_assets(
            store,
            namespace=p.namespace,
            types=p.types or (),
            conditions=p.metadataQuery or (),
        )
        if p.page is not None:
            skip = (p.page - 1) * p.size
            found = itertools.islice(found, skip, skip + p.size)
        if p.fetchType == "NONE":
            ctx.logger.info("fetchType is NONE: no output")
            return {}
        if p.fetchType == "FETCH_ONE":
            first = next(found, None)
            return {"asset": first.to_json() if first else None, "size": 1 if first else 0}
        if p.fetchType == "FETCH":
            assets = [asset.to_json() for asset in found]
            return {"assets": assets, "size": len(assets)}
        return self._store(found, ctx)

    @staticmethod
    def _store(found: Iterator[codec.Asset], ctx: TaskContext) -> dict[str, Any]:
        from amazon.ion import simpleion

        path = ctx.working_dir / f"{ctx.spec.task_id}.ion"
        size = 0
        with path.open("wb") as sink:
            for asset in found:
                simpleion.dump(asset.to_json(), sink, binary=False)
                sink.write(b"\n")
                size += 1
        return {"uri": ctx.put_file(path), "size": size}


@register_task
class DeleteAsset(TaskType):
    """Delete one asset (its record, index entries and lineage edges; usages stay)."""

    kind: ClassVar[str] = _EE + "Delete"
    aliases: ClassVar[tuple[str, ...]] = (_KESTRA_EE + "Delete", "assets.delete")
    Params = DeleteParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: DeleteParams = params
        _note_connection(p, ctx)
        store, writer = _store_and_writer(ctx)
        _flush(writer, "the writes before this task")
        if store.get_asset(p.assetId) is None:
            raise TaskFailed(
                f"asset '{p.assetId}' does not exist; check the id (`assetline assets list` "
                "shows the inventory)"
            )
        writer.submit(_delete_event(p.assetId, ctx))
        _flush(writer, f"deleting asset '{p.assetId}'")
        ctx.logger.info(f"asset '{p.assetId}' deleted")
        return {}


@register_task
class PurgeAssets(TaskType):
    """Kestra's retention task. Up to `endDate`: the assets matching every filter and last
    updated by then (`purgeAssets`), their usages logged by then (`purgeAssetUsages`, chosen by
    id and namespace only) and the lineage edges whose latest task run ended by then
    (`purgeAssetLineages`, chosen by the flow's namespace only), as Kestra documents them. The
    event log, task runs and executions stay (shippers and `executions show` read them)."""

    kind: ClassVar[str] = _EE + "PurgeAssets"
    aliases: ClassVar[tuple[str, ...]] = (_KESTRA_EE + "PurgeAssets", "assets.purge")
    Params = PurgeParams
    runs_on: ClassVar[str] = "driver"

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: PurgeParams = params
        _note_connection(p, ctx)
        store, writer = _store_and_writer(ctx)
        _flush(writer, "the writes before this task")
        end = p.end()
        namespace = p.namespace.removesuffix("*").removesuffix(".") if p.namespace else None
        outputs: dict[str, Any] = {}
        if p.purgeAssetUsages:
            # As in Kestra, usages are chosen by asset id and namespace, not type or metadata.
            ids: list[str] | None = None
            if namespace:
                chosen = select_assets(store, asset_id=p.assetId, namespace_prefix=namespace)
                ids = [asset.id for asset in chosen]
            elif p.assetId is not None:
                ids = [p.assetId]  # a deleted asset's usages too
            outputs["purgedAssetUsagesCount"] = store.purge_usages(ids, before=end)
        if p.purgeAssetLineages:
            # As in Kestra, lineage is chosen by namespace only (of the flow that made it).
            outputs["purgedAssetLineagesCount"] = store.purge_lineage(
                before=end, namespace_prefix=namespace or None
            )
        if p.purgeAssets:
            count = 0
            for asset in select_assets(
                store,
                asset_id=p.assetId,
                namespace_prefix=namespace or None,
                types=p.assetType or (),
                conditions=p.conditions(),
            ):
                if asset.updated <= end:
                    writer.submit(_delete_event(asset.id, ctx))
                    count += 1
            _flush(writer, "the purge")
            outputs["purgedAssetsCount"] = count
        if not outputs:
            ctx.logger.info("purgeAssets, purgeAssetUsages and purgeAssetLineages are all false")
        for name, count in outputs.items():
            ctx.logger.info(f"{name}: {count}")
        return outputs


def _delete_event(asset_id: str, ctx: TaskContext) -> codec.AssetDeleteEvent:
    return codec.AssetDeleteEvent(
        id=asset_id,
        time=time.time(),
        execution_id=ctx.spec.execution_id,
        taskrun_id=ctx.spec.taskrun_id,
    )
