"""Tests of fiji_bridge.philox: Philox4x32-10 known answers, ziggurat against numpy, statistics."""

import numpy as np
import pytest
from scipy import stats

from fiji_bridge import philox
from fiji_bridge.philox import (
    gaussian_stream,
    philox4x32,
    seed_key,
    ziggurat_from_words,
    ziggurat_tables,
)

# Random123 tests/kat_vectors (github.com/DEShawResearch/random123), the three
# "philox4x32 10" lines: counter (4 words), key (2 words), expected output (4 words).
KAT = [
    ((0x00000000, 0x00000000, 0x00000000, 0x00000000), (0x00000000, 0x00000000),
     (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF),
     (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers(ctr, key, expected):
    out = philox4x32(np.array([ctr], dtype=np.uint32), key)
    assert tuple(int(v) for v in out[0]) == expected


def philox_python(ctr, key, rounds=10):
    """Philox4x32 written from the paper with Python integers (the test's own reference)."""
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    m = 0xFFFFFFFF
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & m, (k1 + 0xBB67AE85) & m
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & m, (p0 >> 32) ^ c3 ^ k1, p0 & m
    return c0, c1, c2, c3


def test_philox_equals_python_integers_on_random_inputs():
    rng = np.random.default_rng(5)
    ctrs = rng.integers(0, 2**32, size=(300, 4), dtype=np.uint64).astype(np.uint32)
    key = [int(k) for k in rng.integers(0, 2**32, size=2)]
    out = philox4x32(ctrs, key)
    for c, o in zip(ctrs.tolist(), out.tolist()):
        assert tuple(o) == philox_python(c, key)


def test_generated_tables_equal_numpys():
    # numba ships numpy's ziggurat_constants.h (float tables) as arrays: an independent copy.
    from numba.np.random import _constants as npy

    wi, ki, fi = ziggurat_tables()
    np.testing.assert_array_equal(wi, npy.wi_float)
    np.testing.assert_array_equal(ki, npy.ki_float)
    np.testing.assert_array_equal(fi, npy.fi_float)
    assert np.float32(philox.ZIGGURAT_R) == npy.ziggurat_nor_r_f


def test_ziggurat_reproduces_numpy_bit_for_bit():
    """Fed numpy's own uint32 stream, the ziggurat gives numpy's float32 normals exactly.

    PCG64's next_uint32 hands out the low then the high half of each 64-bit output. Two million
    values go through about 30,000 wedge tests and 500 tail draws.
    """
    n = 2_000_000
    words = np.random.PCG64(123).random_raw(n).view(np.uint32)  # 2n words, ample
    expected = np.random.Generator(np.random.PCG64(123)).standard_normal(n, dtype=np.float32)
    got = ziggurat_from_words(words, n)
    assert got.shape == (n,)
    np.testing.assert_array_equal(got, expected)
    assert (np.abs(expected) > philox.ZIGGURAT_R).sum() > 100  # the tail was exercised


def test_stream_is_a_pure_function_of_its_index():
    a = gaussian_stream(7, 3, 10_001)
    np.testing.assert_array_equal(gaussian_stream(7, 3, 17), a[:17])
    assert not np.array_equal(gaussian_stream(7, 4, 100), a[:100])
    assert not np.array_equal(gaussian_stream(8, 3, 100), a[:100])
    big = gaussian_stream(7, 2**32 + 3, 100)  # the high word of the stream index counts
    assert not np.array_equal(big, a[:100])


def test_every_value_follows_the_written_counter_layout():
    """Rebuild values from the public Philox: main word of value j at counter
    (j // 4, s_lo, s_hi, 0) lane j % 4; extra words at (j, s_lo, s_hi, 1 + t // 4)."""
    seed, stream, n = 11, 2**33 + 5, 4000
    key = seed_key(seed)
    g = gaussian_stream(seed, stream, n)
    s_lo, s_hi = stream & 0xFFFFFFFF, stream >> 32
    main = philox4x32(np.array([[q, s_lo, s_hi, 0] for q in range(n // 4)], np.uint32), key).ravel()
    rejected = 0
    for j in range(n):
        extra = philox4x32(np.array([[j, s_lo, s_hi, 1 + m] for m in range(8)], np.uint32), key)
        words = np.concatenate([[main[j]], extra.ravel()])
        assert ziggurat_from_words(words, 1)[0] == g[j]
        r = int(main[j])
        rejected += (r >> 9) >= int(philox.KI[r & 0xFF])
    assert rejected > 20  # the slow path was exercised


def test_seed_key_is_numpys_seedsequence_and_checks_its_argument():
    np.testing.assert_array_equal(seed_key(5), np.random.SeedSequence(5).generate_state(2, np.uint32))
    assert seed_key(2**100).shape == (2,)
    with pytest.raises(TypeError, match="Fix"):
        seed_key(1.5)
    with pytest.raises(ValueError, match="Fix"):
        seed_key(-1)


def test_philox4x32_rejects_bad_shapes():
    with pytest.raises(ValueError, match="Fix"):
        philox4x32(np.zeros((2, 3), np.uint32), [0, 0])
    with pytest.raises(ValueError, match="Fix"):
        philox4x32(np.zeros((2, 4), np.uint32), [0, 0, 0])


@pytest.fixture(scope="module")
def many_values():
    """40 million values from 40 streams (about 0.5 s)."""
    return np.concatenate([gaussian_stream(2024, s, 1_000_000) for s in range(40)])


def test_mean_and_variance(many_values):
    x = many_values.astype(np.float64)
    n = x.size
    assert abs(x.mean()) < 5 / np.sqrt(n)
    assert abs(x.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(x[:4_000_000])) < 5 * np.sqrt(6 / 4_000_000)
    assert abs(stats.kurtosis(x[:4_000_000])) < 5 * np.sqrt(24 / 4_000_000)


def test_chi_square_on_equiprobable_bins(many_values):
    bins = 200
    edges = stats.norm.ppf(np.linspace(0, 1, bins + 1)[1:-1])
    counts = np.bincount(np.searchsorted(edges, many_values), minlength=bins)
    chi2 = stats.chisquare(counts)
    assert chi2.pvalue > 1e-4, chi2


@pytest.mark.parametrize("k", [3.0, 4.0, 4.5, 5.0])
def test_tail_counts(many_values, k):
    """Counts beyond k sigma (both sides, and each side) match the normal law (Poisson)."""
    n = many_values.size
    p = 2 * stats.norm.sf(k)
    expected = n * p
    got = int((np.abs(many_values) > k).sum())
    assert abs(got - expected) < 5 * np.sqrt(expected) + 1, (k, got, expected)
    pos = int((many_values > k).sum())
    assert abs(pos - expected / 2) < 5 * np.sqrt(expected / 2) + 1


# SHA-256 of large blocks of output, written from the generator of commit 982c4bc (before the
# kernels were restructured for speed): any change of the kernels must keep every bit, fast
# path, slow path (about 17,000 rejected values here) and its regenerated longer extra sequences.
STREAM_BLOCKS = [(0, 0, 1_000_003), (2013, 2**40 + 7, 333_333), (2**70, 5, 17), (1, 3, 1)]
STREAM_SHA256 = "7d3980ba6823be1494edbd9c5c5a5ca8e1cad450393a11082c849b351a40a8ad"
SPECTRA_SHA256 = "b4a7934066de960420d44ea41597d60050baeefcfa146c59aee69fd3d104613e"


def test_large_blocks_keep_their_bits():
    import hashlib

    from fiji_bridge.fourier_noise import noise_spectra

    h = hashlib.sha256()
    for seed, stream, n in STREAM_BLOCKS:
        h.update(gaussian_stream(seed, stream, n).tobytes())
    assert h.hexdigest() == STREAM_SHA256
    h = hashlib.sha256()
    for shape in [(128, 128), (63, 50)]:
        h.update(noise_spectra(7, 1000, 1064, shape).tobytes())
    assert h.hexdigest() == SPECTRA_SHA256


def test_any_prefix_is_the_same_values():
    """Shorter requests are prefixes of longer ones (the batching of the slow path is scratch)."""
    full = gaussian_stream(11, 4, 20_001)
    for n in [1, 3, 4, 5, 255, 256, 257, 4097, 20_000]:
        assert np.array_equal(gaussian_stream(11, 4, n), full[:n])
