"""Counter-based standard normal numbers: Philox4x32-10 feeding numpy's float32 ziggurat.

Every value is a pure function of ``(key, stream, index)``: no state is carried from one value
to the next, so any range of values can be drawn directly, in any order, by any number of
threads or processes, and always gives the same bits.

Definitions
-----------
**Philox4x32-10** (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC11; the Random123 generator, cuRAND's ``CURAND_RNG_PSEUDO_PHILOX4_32_10``) maps a 128-bit
counter ``(c0, c1, c2, c3)`` and a 64-bit key ``(k0, k1)`` (32-bit words) to four 32-bit words.
One round with multipliers ``M0 = 0xD2511F53``, ``M1 = 0xCD9E8D57``::

    hi0:lo0 = M0 * c0,   hi1:lo1 = M1 * c2      (32 x 32 -> 64-bit products)
    (c0, c1, c2, c3) <- (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)

ten rounds, the key bumped by ``(0x9E3779B9, 0xBB67AE85)`` (mod 2**32) between rounds. It is
checked against Random123's known-answer vectors (``tests/kat_vectors``).

**Key of a seed**: ``(k0, k1) = numpy.random.SeedSequence(seed).generate_state(2, numpy.uint32)``
(numpy's documented, stable hash of a non-negative integer of any size), see :func:`seed_key`.

**Words of a stream**: stream ``s`` (``0 <= s < 2**64``; the noise uses one stream per image) is
the word sequence ``w_s[j] = Philox(key, (j // 4, s mod 2**32, s // 2**32, 0))[j % 4]``.
Value ``j`` of the stream also owns the *extra* word sequence
``e_{s,j}[t] = Philox(key, (j, s mod 2**32, s // 2**32, 1 + t // 4))[t % 4]``, used only when the
ziggurat rejects (about 1.2 % of the values).

**Gaussian value** ``g_s[j]``: numpy's float32 ziggurat (``Generator.standard_normal(dtype=
numpy.float32)``, 256 layers, numpy's tables :data:`WI`, :data:`KI`, :data:`FI`, regenerated
here by :func:`ziggurat_tables` and tested equal) run on the word sequence
``w_s[j], e_{s,j}[0], e_{s,j}[1], ...``: the first word gives layer ``idx = r & 0xff``, sign bit
``(r >> 8) & 1`` and 23-bit magnitude ``rabs = r >> 9``; ``x = rabs * WI[idx]`` is returned when
``rabs < KI[idx]``; otherwise the tail (layer 0) or wedge test of numpy's algorithm draws further
words from the extra sequence, uniform floats being ``(word >> 8) * 2**-24``. Fed numpy's own
word sequence the same code reproduces ``numpy.random.Generator(PCG64(...)).standard_normal(
dtype=float32)`` bit for bit (tested), so the values are exactly N(0, 1) ziggurat samples.

Portability: the words and the fast path (98.5 % of the values) are integer and IEEE float32
arithmetic, the same bits on every machine; the slow path calls the C library's ``exp`` and
``log1pf`` as numpy does, whose last bit could differ between libraries.

The kernels are compiled with numba (``nogil=True``, cached on disk) on first use.

References
----------
.. [1] J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers: as easy as
       1, 2, 3", Proc. SC11 (2011).
.. [2] G. Marsaglia, W. W. Tsang, "The ziggurat method for generating random variables",
       J. Stat. Softw. 5(8) (2000).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from fiji_bridge import checks

__all__ = [
    "FI",
    "KI",
    "WI",
    "ZIGGURAT_R",
    "ZIGGURAT_V",
    "fill_gaussians",
    "gaussian_stream",
    "philox4x32",
    "seed_key",
    "ziggurat_from_words",
    "ziggurat_tables",
]

#: Philox4x32 round multipliers and Weyl key increments (Random123).
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF

#: Ziggurat of f(x) = exp(-x**2 / 2) with 256 layers of area ZIGGURAT_V (numpy's constants):
#: the base layer is [0, R] plus the tail beyond R.
ZIGGURAT_R = 3.6541528853610087963519472518
ZIGGURAT_V = 0.00492867323399


def ziggurat_tables(r: float = ZIGGURAT_R, v: float = ZIGGURAT_V):
    """numpy's float32 ziggurat tables ``(wi, ki, fi)``, computed from ``r`` and ``v``.

    With ``f(x) = exp(-x**2 / 2)``: ``x_255 = r``, ``x_{i-1} = sqrt(-2 log(v / x_i + f(x_i)))``
    for ``i = 255 .. 2`` (layer ``i`` is the rectangle ``[0, x_i] x [f(x_i), f(x_{i-1})]``, of area
    ``v``), and the base layer 0 has width ``x_b = v / f(r)`` (rectangle plus tail). Then
    ``wi[i] = x_i / 2**23``, ``fi[i] = f(x_i)`` (``fi[0] = 1``: the top of layer 1),
    ``ki[i] = round(2**23 x_{i-1} / x_i)`` (the part of layer ``i`` under the curve for sure;
    ``ki[1] = 0``) and ``ki[0] = round(2**23 r f(r) / v)``, ``wi[0] = x_b / 2**23``. The
    rounding (to nearest, not down) is numpy's: the tables equal numpy's ``ziggurat_constants.h``.

    Returns
    -------
    wi : numpy.ndarray of float32, ki : numpy.ndarray of uint32, fi : numpy.ndarray of float32
    """
    x = np.empty(256, dtype=np.float64)
    x[255] = r
    for i in range(255, 1, -1):
        x[i - 1] = math.sqrt(-2.0 * math.log(v / x[i] + math.exp(-0.5 * x[i] * x[i])))
    x[0] = v / math.exp(-0.5 * r * r)
    scale = 2.0**23
    wi = (x / scale).astype(np.float32)
    fi = np.exp(-0.5 * x * x).astype(np.float32)
    fi[0] = 1.0
    ki = np.empty(256, dtype=np.uint32)
    ki[0] = round(scale * r * math.exp(-0.5 * r * r) / v)
    ki[1] = 0
    ki[2:] = np.rint(scale * x[1:255] / x[2:256]).astype(np.uint32)
    return wi, ki, fi


_TABLES = ziggurat_tables()
#: numpy's float32 ziggurat tables (float32 widths, uint32 thresholds, float32 heights).
WI = _TABLES[0]
KI = _TABLES[1]
FI = _TABLES[2]
#: The fast path's tables indexed by the word's low 9 bits (layer idx, then the sign bit):
#: ``WI[idx]`` for bit 8 clear, ``-WI[idx]`` for bit 8 set, and ``KI[idx]`` twice. Scratch of
#: the implementation (same values, one lookup per table), not part of the definition.
_WI_SIGNED = np.concatenate([WI, -WI]).astype(np.float32)
_KI_TWICE = np.concatenate([KI, KI]).astype(np.uint32)
_R_F = np.float32(ZIGGURAT_R)
_INV_R_F = np.float32(1.0 / ZIGGURAT_R)


# --------------------------------------------------------------------------------------------
# Philox4x32-10
# --------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True, inline="always")
def _philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0..c3) and key (k0, k1); all uint64 holding 32-bit words."""
    m = np.uint64(_MASK)
    s = np.uint64(32)
    for _ in range(10):
        p0 = np.uint64(PHILOX_M0) * c0
        p1 = np.uint64(PHILOX_M1) * c2
        c0 = (p1 >> s) ^ c1 ^ k0
        c1 = p1 & m
        c2 = (p0 >> s) ^ c3 ^ k1
        c3 = p0 & m
        k0 = (k0 + np.uint64(PHILOX_W0)) & m
        k1 = (k1 + np.uint64(PHILOX_W1)) & m
    return c0, c1, c2, c3


@njit(nogil=True, cache=True)
def _philox_many(counters, key, out):
    k0 = np.uint64(key[0])
    k1 = np.uint64(key[1])
    for i in range(counters.shape[0]):
        a, b, c, d = _philox(
            np.uint64(counters[i, 0]), np.uint64(counters[i, 1]),
            np.uint64(counters[i, 2]), np.uint64(counters[i, 3]), k0, k1,
        )
        out[i, 0] = a
        out[i, 1] = b
        out[i, 2] = c
        out[i, 3] = d


def philox4x32(counters, key) -> np.ndarray:
    """Philox4x32-10 of each counter: ``(N, 4)`` uint32 counters, 2-word key -> ``(N, 4)`` uint32.

    Examples
    --------
    >>> import numpy as np
    >>> from fiji_bridge.philox import philox4x32
    >>> [hex(w) for w in philox4x32(np.zeros((1, 4), np.uint32), [0, 0])[0]]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    ctr = np.ascontiguousarray(np.atleast_2d(np.asarray(counters, dtype=np.uint32)))
    if ctr.ndim != 2 or ctr.shape[1] != 4:
        raise ValueError(f"counters must have shape (N, 4), got {ctr.shape}. Fix: pass (N, 4) uint32 words")
    k = np.asarray(key, dtype=np.uint32).ravel()
    if k.shape != (2,):
        raise ValueError(f"key must be 2 uint32 words, got {k.shape}. Fix: pass e.g. [0, 0]")
    out = np.empty_like(ctr)
    _philox_many(ctr, k, out)
    return out


def seed_key(seed) -> np.ndarray:
    """The Philox key ``SeedSequence(seed).generate_state(2, uint32)`` of a non-negative seed."""
    return np.random.SeedSequence(checks.seed(seed)).generate_state(2, np.uint32)


# --------------------------------------------------------------------------------------------
# ziggurat
# --------------------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def _zig_slow(r, words, pos, wi, ki, fi):
    """numpy's float32 ziggurat from first word ``r``, further words ``words[pos:]``.

    Returns ``(value, next_pos, ok)``; ``ok`` is False when ``words`` ran out (then call again
    with more words: the result only depends on the sequence).
    """
    n = words.shape[0]
    inv24 = np.float32(1.0 / 16777216.0)
    while True:
        idx = r & np.uint64(0xFF)
        sign = (r >> np.uint64(8)) & np.uint64(1)
        rabs = (r >> np.uint64(9)) & np.uint64(0x7FFFFF)
        x = np.float32(rabs) * wi[idx]
        if sign:
            x = -x
        if rabs < ki[idx]:
            return x, pos, True
        if idx == 0:
            while True:
                if pos + 2 > n:
                    return np.float32(0.0), pos, False
                u1 = np.float32(np.uint64(words[pos]) >> np.uint64(8)) * inv24
                u2 = np.float32(np.uint64(words[pos + 1]) >> np.uint64(8)) * inv24
                pos += 2
                xx = -_INV_R_F * math.log1p(-u1)
                yy = -math.log1p(-u2)
                if yy + yy > xx * xx:
                    if (rabs >> np.uint64(8)) & np.uint64(1):
                        return -(_R_F + xx), pos, True
                    return _R_F + xx, pos, True
        else:
            if pos + 1 > n:
                return np.float32(0.0), pos, False
            u = np.float32(np.uint64(words[pos]) >> np.uint64(8)) * inv24
            pos += 1
            lhs = (fi[idx - 1] - fi[idx]) * u + fi[idx]
            if np.float64(lhs) < math.exp(-0.5 * np.float64(x) * np.float64(x)):
                return x, pos, True
            if pos + 1 > n:
                return np.float32(0.0), pos, False
            r = np.uint64(words[pos])
            pos += 1


@njit(nogil=True, cache=True)
def _zig_sequence(words, out, wi, ki, fi):
    pos = 0
    n = words.shape[0]
    for i in range(out.shape[0]):
        if pos >= n:
            return i
        r = np.uint64(words[pos])
        x, pos, ok = _zig_slow(r, words, pos + 1, wi, ki, fi)
        if not ok:
            return i
        out[i] = x
    return out.shape[0]


def ziggurat_from_words(words, n: int) -> np.ndarray:
    """The first values numpy's float32 ziggurat makes from a sequence of uint32 words.

    This is numpy's ``random_standard_normal_f`` consuming ``next_uint32`` from ``words``; used
    to check the tables and the algorithm against numpy bit for bit. Returns at most ``n``
    values (fewer if the words run out).
    """
    w = np.ascontiguousarray(words, dtype=np.uint32)
    out = np.empty(int(n), dtype=np.float32)
    k = _zig_sequence(w, out, WI, KI, FI)
    return out[:k]


@njit(nogil=True, cache=True)
def _extra_words(k0, k1, j, s0, s1, count, buf):
    """Extra words e_{s,j}[0 .. count-1] into buf (count a multiple of 4)."""
    for m in range(count // 4):
        a, b, c, d = _philox(np.uint64(j), s0, s1, np.uint64(1 + m), k0, k1)
        buf[4 * m] = a
        buf[4 * m + 1] = b
        buf[4 * m + 2] = c
        buf[4 * m + 3] = d


@njit(nogil=True, cache=True)
def _gauss_slow(k0, k1, s0, s1, j, r, wi, ki, fi):
    """Value j of stream (s0, s1), first word r, when 4 extra words were not enough (rare):
    regenerate a longer extra sequence until numpy's algorithm finishes."""
    count = 16
    while True:
        buf = np.empty(count, dtype=np.uint32)
        _extra_words(k0, k1, j, s0, s1, count, buf)
        x, pos, ok = _zig_slow(r, buf, 0, wi, ki, fi)
        if ok:
            return x
        count *= 4


@njit(nogil=True, cache=True)
def _stream_words(k0, k1, s0, s1, words):
    """words[j] = w_s[j] for j < len(words) (a multiple of 4); vectorised by LLVM."""
    z = np.uint64(0)
    for q in range(words.shape[0] // 4):
        a, b, c, d = _philox(np.uint64(q), s0, s1, z, k0, k1)
        words[4 * q] = a
        words[4 * q + 1] = b
        words[4 * q + 2] = c
        words[4 * q + 3] = d


#: Rejected values handled per slow-path batch (scratch space, not part of the definition).
_SLOW_BATCH = 256


@njit(nogil=True, cache=True)
def _slow_batch(k0, k1, s0, s1, rej, nrej, ext, w, out, wi, ki, fi):
    """Slow path of the ``nrej`` rejected values ``rej[:nrej]``: their first extra Philox block
    in one vectorisable loop, then numpy's algorithm on it (regenerated longer if needed)."""
    z = np.uint64(1)
    for m in range(nrej):
        a, b, c, d = _philox(np.uint64(rej[m]), s0, s1, z, k0, k1)
        ext[4 * m] = a
        ext[4 * m + 1] = b
        ext[4 * m + 2] = c
        ext[4 * m + 3] = d
    for m in range(nrej):
        j = rej[m]
        r = np.uint64(w[j])
        x, pos, ok = _zig_slow(r, ext[4 * m : 4 * m + 4], 0, wi, ki, fi)
        if not ok:
            x = _gauss_slow(k0, k1, s0, s1, j, r, wi, ki, fi)
        out[j] = x


@njit(nogil=True, cache=True)
def fill_gaussians(k0, k1, stream, out, words, wi, ki, fi):
    """Numba kernel: ``out[j] = g_stream[j]`` for ``j < len(out)`` (see the module docstring).

    ``k0, k1``: the key words (uint64); ``stream``: the stream index; ``words``: uint32 scratch
    of at least ``len(out)`` rounded up to a multiple of 4; ``wi, ki, fi``: :data:`WI`,
    :data:`KI`, :data:`FI`. Passes: the Philox words (vectorised), the ziggurat fast path with
    a list of the rejected values, then their slow path in batches. Releases the
    GIL. Returns the number of slow-path values.
    """
    n = out.shape[0]
    s0 = np.uint64(stream) & np.uint64(_MASK)
    s1 = np.uint64(stream) >> np.uint64(32)
    nw = 4 * ((n + 3) // 4)
    w = words[:nw]
    _stream_words(k0, k1, s0, s1, w)
    rej = np.empty(n + 1, dtype=np.int64)
    nrej = 0
    for j in range(n):
        # The low 9 bits (layer and sign bit) index the signed tables: one float32 product,
        # numpy's x = rabs * wi[idx], negated when bit 8 is set (negation is exact).
        r = w[j]
        i = np.intp(r & np.uint32(0x1FF))
        rabs = r >> np.uint32(9)
        out[j] = np.float32(rabs) * _WI_SIGNED[i]
        if rabs >= _KI_TWICE[i]:  # rare (about 1.7 %): a well-predicted branch is cheaper
            rej[nrej] = j         # here than a store on every value (measured)
            nrej += 1
    ext = np.empty(4 * _SLOW_BATCH, dtype=np.uint32)
    for b0 in range(0, nrej, _SLOW_BATCH):
        b1 = min(b0 + _SLOW_BATCH, nrej)
        _slow_batch(k0, k1, s0, s1, rej[b0:b1], b1 - b0, ext, w, out, wi, ki, fi)
    return nrej


def gaussian_stream(seed, stream, n: int) -> np.ndarray:
    """Values ``g_stream[0 .. n-1]`` (float32) of ``seed`` (see the module docstring)."""
    key = seed_key(seed)
    out = np.empty(int(n), dtype=np.float32)
    words = np.empty(4 * ((int(n) + 3) // 4), dtype=np.uint32)
    fill_gaussians(np.uint64(key[0]), np.uint64(key[1]), np.uint64(stream), out, words, WI, KI, FI)
    return out
