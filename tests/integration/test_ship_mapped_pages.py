"""Giving back the store's mapped pages: real shared and private mappings, a real LMDB store.

Resident sizes are read per mapping from /proc/self/smaps, so other threads and other
stores of the test process do not blur them.
"""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import pytest

from shippers import ship
from shippers.mapped_pages import MappedPages
from store import codec
from store.lmdb_store import Store

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/smaps"),
]

SIZE = 8 << 20


def _resident_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of `path` (0 when not mapped)."""
    total = 0
    current = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
            current = len(head) == 6 and head[5] == str(path)
        elif current and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


def _touch(view: mmap.mmap) -> int:
    return sum(view[i] for i in range(0, len(view), mmap.PAGESIZE))


def test_shared_pages_are_given_back_and_their_data_kept(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * (SIZE // 256))
    with path.open("r+b") as fh, mmap.mmap(fh.fileno(), SIZE) as view:
        view[:5] = b"dirty"  # written through the map, not flushed: must survive
        _touch(view)
        assert _resident_kib(path) >= SIZE // 1024 * 9 // 10
        pages = MappedPages(tmp_path)
        assert pages.active
        pages.release()
        assert pages.released == 1
        assert _resident_kib(path) < 64
        assert view[:5] == b"dirty" and view[5:8] == bytes([5, 6, 7])
        assert view[SIZE - 1] == 255
    assert path.read_bytes()[:5] == b"dirty"


def test_private_mappings_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "private.bin"
    path.write_bytes(b"\0" * SIZE)
    with path.open("r+b") as fh, mmap.mmap(fh.fileno(), SIZE, flags=mmap.MAP_PRIVATE) as view:
        view[:7] = b"private"  # copy-on-write: lives only in this mapping
        before = _resident_kib(path)
        pages = MappedPages(tmp_path)
        pages.release()
        assert pages.released == 0
        assert view[:7] == b"private"
        assert _resident_kib(path) == before


def _store_with_assets(home: Path, count: int) -> None:
    with Store.open(home) as store:
        store.write(
            [
                codec.AssetSetEvent(
                    asset=codec.AssetDecl(
                        id=f"asset_{n:06d}",
                        namespace="company.team",
                        type="io.kestra.plugin.ee.assets.Table",
                        description="a table with a long enough description " * 3,
                        metadata={"owner": "team:data", "rows": n},
                    ),
                    time=1_700_000_000.0 + n,
                )
                for n in range(count)
            ]
        )


def test_a_shipper_keeps_about_one_page_of_the_store_resident(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _store_with_assets(home, 30_000)
    data = (home / "store" / "data.mdb").resolve()
    with Store.open(home, readonly=True) as store:
        report = ship(
            store,
            {
                "type": "file",
                "format": "NDJSON",
                "path": str(tmp_path / "out.ndjson"),
                "source": "ASSETS",
                "batchSize": 1000,
            },
        )
        assert report.shipped == 30_000
        after_ship = _resident_kib(data)
        # The same read without giving pages back: every page of the inventory stays.
        assert sum(len(page) for page in store.iter_assets(batch_size=1000)) == 30_000
        after_plain_read = _resident_kib(data)
    assert after_plain_read > 4 * 1024
    assert after_ship * 4 < after_plain_read
