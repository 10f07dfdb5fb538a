"""Which mappings `shippers.mapped_pages` would give back, read from /proc/<pid>/maps text."""

from __future__ import annotations

from pathlib import Path

from shippers.mapped_pages import MappedPages, shared_file_mappings

MAPS = """\
55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1234  /usr/bin/python3.11
7f0000000000-7f1000000000 r--s 00000000 fd:01 777   /data/home/store/data.mdb
7f2000000000-7f2000004000 rw-s 00000000 fd:01 778   /data/home/store/lock.mdb
7f3000000000-7f3000100000 rw-p 00000000 fd:01 779   /data/home/store/private.bin
7f4000000000-7f4000100000 r--s 00000000 fd:01 780   /data/home-other/store/data.mdb
7f5000000000-7f5000100000 rw-s 00000000 00:00 0     /dev/zero (deleted)
7f6000000000-7f6000200000 rw-p 00000000 00:00 0
7f7000000000-7f7000001000 r--s 00000000 fd:01 781   /data/home/with space/data.mdb
"""


def test_only_shared_mappings_of_files_inside_the_directory() -> None:
    assert shared_file_mappings(Path("/data/home"), MAPS) == [
        (0x7F0000000000, 0x7F1000000000),
        (0x7F2000000000, 0x7F2000004000),
        (0x7F7000000000, 0x7F7000001000),
    ]


def test_nothing_matches_in_an_unrelated_directory() -> None:
    assert shared_file_mappings(Path("/elsewhere"), MAPS) == []


def test_without_a_directory_it_does_nothing() -> None:
    pages = MappedPages(None)
    assert not pages.active
    pages.release()
    assert pages.released == 0
