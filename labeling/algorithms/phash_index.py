"""Multi-index hashing (MIH) over 64-bit perceptual hashes: Hamming-radius lookup without all-pairs.

Method (Norouzi, Punjani & Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012):
split each 64-bit code into `m` disjoint 16-bit substrings and keep one hash table per substring.
If two codes are within Hamming distance `r`, then by the pigeonhole principle at least one of their
substrings differs in at most `r // m` bits. A query therefore probes, in each table, every key within
`r // m` bits of its own substring (for r=8, m=4: 1 + 16 + 120 = 137 keys per table), collects the
candidates, and verifies the full 64-bit distance. The probe cost is fixed; the candidate count grows
with the table occupancy (n / 65536 per key), so lookups grow far slower than n.

Pure Python, no Django: codes are unsigned ints in [0, 2**64); `to_unsigned`/`to_signed` convert
from/to the signed bigint stored in the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import combinations

import numpy as np

_MASK64 = (1 << 64) - 1


def to_unsigned(value: int) -> int:
    """A signed 64-bit integer (as stored in a bigint column) -> the unsigned code."""
    return value & _MASK64


def to_signed(value: int) -> int:
    """An unsigned 64-bit code -> the signed value that fits a bigint column."""
    value &= _MASK64
    return value - (1 << 64) if value >= (1 << 63) else value


def hamming(a: int, b: int) -> int:
    return ((a ^ b) & _MASK64).bit_count()


def _neighbours(key: int, bits: int, radius: int) -> list[int]:
    """Every `bits`-bit key within `radius` flips of `key` (including itself)."""
    out = [key]
    for r in range(1, radius + 1):
        for positions in combinations(range(bits), r):
            flipped = key
            for p in positions:
                flipped ^= 1 << p
            out.append(flipped)
    return out


class PHashIndex:
    """An in-memory MIH index of (code, payload) pairs with `query(code, radius)` lookup."""

    def __init__(self, *, substrings: int = 4) -> None:
        if 64 % substrings:
            raise ValueError("substrings must divide 64")
        self.m = substrings
        self.bits = 64 // substrings
        self._sub_mask = (1 << self.bits) - 1
        self._tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in range(self.m)]
        self._codes: list[int] = []
        self._payloads: list[object] = []
        self._probe_cache: dict[tuple[int, int], list[int]] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def _parts(self, code: int) -> list[int]:
        return [(code >> (i * self.bits)) & self._sub_mask for i in range(self.m)]

    def add(self, code: int, payload: object) -> None:
        code = to_unsigned(code)
        slot = len(self._codes)
        self._codes.append(code)
        self._payloads.append(payload)
        for table, part in zip(self._tables, self._parts(code), strict=True):
            table[part].append(slot)

    def extend(self, pairs: Iterable[tuple[int, object]]) -> None:
        for code, payload in pairs:
            self.add(code, payload)

    def _masks(self, sub_radius: int) -> list[int]:
        # The flip patterns depend only on (bits, radius): computed once, XORed onto each query's substrings.
        masks = self._probe_cache.get((self.bits, sub_radius))
        if masks is None:
            masks = _neighbours(0, self.bits, sub_radius)
            self._probe_cache[(self.bits, sub_radius)] = masks
        return masks

    def _probes(self, part: int, sub_radius: int) -> list[int]:
        return [part ^ mask for mask in self._masks(sub_radius)]

    def query(self, code: int, radius: int) -> list[tuple[int, object]]:
        """All (distance, payload) within `radius` of `code`, nearest first (ties: insertion order)."""
        code = to_unsigned(code)
        masks = self._masks(radius // self.m)
        candidates: set[int] = set()
        for table, part in zip(self._tables, self._parts(code), strict=True):
            get = table.get
            for mask in masks:
                bucket = get(part ^ mask)
                if bucket:
                    candidates.update(bucket)
        codes = self._codes
        hits = sorted((d, slot) for slot in candidates if (d := (codes[slot] ^ code).bit_count()) <= radius)
        return [(distance, self._payloads[slot]) for distance, slot in hits]

    def nearest(self, code: int, radius: int) -> tuple[int, object] | None:
        hits = self.query(code, radius)
        return hits[0] if hits else None


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


_DCT32 = _dct_matrix(32)


def phash64(gray32: np.ndarray) -> int:
    """DCT perceptual hash (as imagehash.phash): a 32×32 grayscale array -> 64-bit unsigned code.

    The 8×8 lowest frequencies of the 2-D DCT, each bit = coefficient above their median.
    """
    coeffs = _DCT32 @ np.asarray(gray32, dtype=np.float64) @ _DCT32.T
    low = coeffs[:8, :8].ravel()
    bits = low > np.median(low)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")
