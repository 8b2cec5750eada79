"""An RFC 6962 Merkle tree (section 2.1), as Trillian keeps Rekor's log: leaf hashes, tree heads, inclusion proofs.

Recomputed from the leaf hashes on each call, which is plenty for the few entries a test writes and leaves nothing
to keep consistent.
"""

from __future__ import annotations

import hashlib
import threading


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_root(hashes[:k]), _root(hashes[k:]))


def _path(index: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) <= 1:
        return []
    k = _split(len(hashes))
    if index < k:
        return [*_path(index, hashes[:k]), _root(hashes[k:])]
    return [*_path(index - k, hashes[k:]), _root(hashes[:k])]


class MerkleTree:
    """Append-only; thread-safe. Sizes default to the current one."""

    def __init__(self) -> None:
        self._leaves: list[bytes] = []
        self._lock = threading.Lock()

    def append(self, data: bytes) -> tuple[int, int]:
        """Add a leaf; returns (its index, the tree size right after it), atomically."""
        with self._lock:
            self._leaves.append(leaf_hash(data))
            return len(self._leaves) - 1, len(self._leaves)

    def __len__(self) -> int:
        return len(self._leaves)

    def leaf(self, index: int) -> bytes:
        return self._leaves[index]

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[0:size])."""
        return _root(self._leaves[: len(self._leaves) if size is None else size])

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]): sibling hashes from the leaf up."""
        size = len(self._leaves) if size is None else size
        if not 0 <= index < size <= len(self._leaves):
            raise IndexError(f"no leaf {index} in a tree of size {size}")
        return _path(index, self._leaves[:size])
