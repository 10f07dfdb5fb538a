"""Give back the pages of the store's memory map that a long read has gone past.

The store is read through a memory map of its file (LMDB): every page a shipper touches stays
in its resident set, as file-backed pages (RssFile), until the map is closed. Exporting the
1,000,000-asset inventory thus kept ~550 MiB of the store file resident, four times the
exporter's own heap, and that is what a process's peak RSS (VmHWM) and an OOM killer count.

`MappedPages(home).release()` tells the kernel, with `madvise(MADV_DONTNEED)`, that this
process no longer needs the pages it has mapped from the store's files. For a shared file
mapping that drops only this process's page-table entries: the data stays in the page cache
(and in the file), and the next read of a page maps it again (a minor fault, no I/O). The
shippers call it between pages of a read, so the resident part of the map stays about one
page of records.

Safety: it acts only on the mappings that `/proc/self/maps` lists as shared (`s`) mappings
of files inside the store's directory, never on private or anonymous memory (where
MADV_DONTNEED would discard data). Call it while the store is open (a shipper holds the store
for its whole run), so those mappings cannot be replaced between reading the list and the
call. Linux only: elsewhere, or when `/proc` or libc is not available, it does nothing.

No other I/O here; it knows nothing of LMDB beyond "the store maps files in its directory".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from pathlib import Path
from typing import Final

__all__ = ["MappedPages", "shared_file_mappings"]

_MAPS: Final = Path("/proc/self/maps")


def _madvise() -> ctypes._NamedFuncPointer | None:
    if not hasattr(mmap, "MADV_DONTNEED"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        func = libc.madvise
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    func.restype = ctypes.c_int
    return func


def shared_file_mappings(directory: Path, maps: str) -> list[tuple[int, int]]:
    """(start, end) of each shared mapping of a file inside `directory`, read from the text
    of a `/proc/<pid>/maps` file."""
    prefix = f"{directory}{os.sep}"
    found: list[tuple[int, int]] = []
    for line in maps.splitlines():
        # address perms offset dev inode pathname (the path may contain spaces)
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or not parts[1].endswith("s") or not parts[5].startswith(prefix):
            continue
        start, _, end = parts[0].partition("-")
        found.append((int(start, 16), int(end, 16)))
    return found


class MappedPages:
    """Releases the resident pages of the shared file mappings under one directory."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory.resolve() if directory is not None else None
        self._madvise = _madvise() if directory is not None and _MAPS.exists() else None
        #: How many mappings the last `release` gave back (for tests and reports).
        self.released = 0

    @property
    def active(self) -> bool:
        return self._madvise is not None

    def release(self) -> None:
        """Drop this process's page-table entries for the directory's shared file mappings.

        Best effort: a mapping that went away in between (ENOMEM) is skipped.
        """
        self.released = 0
        if self._madvise is None or self.directory is None:
            return
        try:
            maps = _MAPS.read_text()
        except OSError:
            return
        for start, end in shared_file_mappings(self.directory, maps):
            if self._madvise(start, end - start, mmap.MADV_DONTNEED) == 0:
                self.released += 1
