"""The store's exceptions, one tree; errors from LMDB and msgspec are converted and chained.

    StoreError
    ├── CodecError          a record is not valid msgpack of the expected schema
    ├── InvalidEventError   an event decodes but the store cannot keep it (e.g. an id too long)
    ├── AssetNotFound       an asset id the store does not hold (also a KeyError)
    ├── StoreVersionError   the store was written by a newer assetline
    ├── StoreLockedError    another process holds what this one needs (e.g. a busy writer)
    └── StoreClosedError    the store was used after close()

No I/O here.
"""


class StoreError(Exception):
    """Base of every error the store raises."""


class CodecError(StoreError):
    """A record could not be decoded (or encoded) with the current schema."""


class InvalidEventError(StoreError):
    """An event decoded fine but breaks a rule of the store (say, an asset id over 511 bytes)."""


class AssetNotFound(StoreError, KeyError):  # noqa: N818 - the name others code against
    """The asset id is not in the store. Also a KeyError, so `except KeyError` catches it."""

    def __str__(self) -> str:
        # KeyError quotes its argument; this error is a sentence.
        return str(self.args[0]) if self.args else "asset not found"


class StoreVersionError(StoreError):
    """The store's on-disk format is newer than this assetline understands."""


class StoreLockedError(StoreError):
    """The store (or its writer) is held by someone else."""


class StoreClosedError(StoreError):
    """The store was used after close()."""
