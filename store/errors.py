"""The store's exceptions, one tree; errors from LMDB and msgspec are converted and chained.

    StoreError
    ├── CodecError          a record is not valid msgpack of the expected schema
    ├── StoreVersionError   the store was written by a newer assetline
    ├── StoreLockedError    another process holds what this one needs (e.g. a busy writer)
    └── StoreClosedError    the store was used after close()

No I/O here.
"""


class StoreError(Exception):
    """Base of every error the store raises."""


class CodecError(StoreError):
    """A record could not be decoded (or encoded) with the current schema."""


class StoreVersionError(StoreError):
    """The store's on-disk format is newer than this assetline understands."""


class StoreLockedError(StoreError):
    """The store (or its writer) is held by someone else."""


class StoreClosedError(StoreError):
    """The store was used after close()."""
