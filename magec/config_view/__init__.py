"""The runtime's input: an expanded, immutable :class:`StoreSnapshot` of every resource at one
epoch, built incrementally by :class:`SnapshotCache` from the rows the store hands it.

Imports the store's helpers (crypto, sensitive fields) and the resource models; the store does not
import this package (the composition root injects the cache), so there is no cycle.
"""

from magec.config_view.snapshot import PUBLIC_FIELDS, SnapshotCache, StoreSnapshot, build_snapshot, expand

__all__ = ["PUBLIC_FIELDS", "SnapshotCache", "StoreSnapshot", "build_snapshot", "expand"]
