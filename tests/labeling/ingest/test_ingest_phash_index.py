"""The multi-index-hashing index: exact radius semantics, and no all-pairs scan."""

from __future__ import annotations

import random

from labeling.algorithms.phash_index import PHashIndex, hamming, to_signed, to_unsigned


def _flip(code: int, bits: list[int]) -> int:
    for b in bits:
        code ^= 1 << b
    return code


def test_query_returns_exactly_the_codes_within_the_radius():
    rng = random.Random(0)
    codes = [rng.getrandbits(64) for _ in range(3000)]
    base = codes[0]
    near = [_flip(base, rng.sample(range(64), k)) for k in range(0, 11)]
    index = PHashIndex()
    index.extend((c, i) for i, c in enumerate(codes + near))
    everything = codes + near
    for radius in (0, 4, 8, 10):
        expected = sorted(i for i, c in enumerate(everything) if hamming(c, base) <= radius)
        got = sorted(payload for _, payload in index.query(base, radius))
        assert got == expected


def test_nearest_is_the_closest_hit_and_signed_codes_work():
    index = PHashIndex()
    code = (1 << 63) | 0b1011
    index.add(to_signed(_flip(code, [1, 2, 3])), "far")
    index.add(to_signed(_flip(code, [5])), "close")
    assert index.nearest(to_signed(code), 8) == (1, "close")
    assert index.nearest(code, 0) is None
    assert to_unsigned(to_signed(code)) == code


def test_lookup_verifies_far_fewer_candidates_than_the_index_holds():
    rng = random.Random(1)
    index = PHashIndex()
    index.extend((rng.getrandbits(64), i) for i in range(20_000))
    touched = 0
    probe = rng.getrandbits(64)
    for table, part in zip(index._tables, index._parts(probe), strict=True):
        for key in index._probes(part, 8 // index.m):
            touched += len(table.get(key, ()))
    assert touched < len(index) / 20


def test_phash64_matches_imagehash_phash():
    import imagehash
    import numpy as np
    from PIL import Image

    from labeling.algorithms.phash_index import phash64
    from tests.helpers.images import make_image

    for seed in range(5):
        img = make_image(300, 200, seed=seed)
        ours = phash64(np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS)))
        assert ours == int(str(imagehash.phash(img)), 16)
