"""SHA-256 compiled with numba, for hashing many short byte strings (n-grams) without a Python call each.

`sha256_mod(buf, start, end, m, ...)` equals `int(hashlib.sha256(buf[start:end]).hexdigest(), 16) % m`; the tests
check it against hashlib on random inputs of every length class (one block, two blocks, many blocks).
"""

from __future__ import annotations

import numpy as np
from numba import njit

MASK32 = np.uint64(0xFFFFFFFF)

ROUND_CONSTANTS = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.uint64,
)  # fmt: skip
INITIAL_STATE = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.uint64
)


@njit(cache=True, inline="always")
def _rotr(x, n):
    return ((x >> np.uint64(n)) | (x << np.uint64(32 - n))) & MASK32


@njit(cache=True)
def _compress(state, data, pos, w, k):
    """One 64-byte block of `data` at `pos` into `state` (8 words held in uint64, each < 2^32)."""
    for t in range(16):
        p = pos + 4 * t
        w[t] = (
            (np.uint64(data[p]) << np.uint64(24))
            | (np.uint64(data[p + 1]) << np.uint64(16))
            | (np.uint64(data[p + 2]) << np.uint64(8))
            | np.uint64(data[p + 3])
        )
    for t in range(16, 64):
        x, y = w[t - 15], w[t - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint64(3))
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint64(10))
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & MASK32
    a, b, c, d, e, f, g, h = state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7]
    for t in range(64):
        s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
        ch = (e & f) ^ ((e ^ MASK32) & g)
        t1 = (h + s1 + ch + k[t] + w[t]) & MASK32
        s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
        t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) & MASK32
        h, g, f, e, d, c, b, a = g, f, e, (d + t1) & MASK32, c, b, a, (t1 + t2) & MASK32
    state[0] = (state[0] + a) & MASK32
    state[1] = (state[1] + b) & MASK32
    state[2] = (state[2] + c) & MASK32
    state[3] = (state[3] + d) & MASK32
    state[4] = (state[4] + e) & MASK32
    state[5] = (state[5] + f) & MASK32
    state[6] = (state[6] + g) & MASK32
    state[7] = (state[7] + h) & MASK32


@njit(cache=True)
def sha256_mod(data, start, end, m, state, tail, w, k, init):
    """SHA-256 of data[start:end] read as a big-endian 256-bit integer, mod m (m < 2^32).

    `state` (8 uint64), `tail` (128 uint8), `w` (64 uint64) are scratch; `k`/`init` are the constants."""
    for i in range(8):
        state[i] = init[i]
    n = end - start
    full = n // 64
    for b in range(full):
        _compress(state, data, start + 64 * b, w, k)
    rest = n - 64 * full
    for i in range(128):
        tail[i] = 0
    for i in range(rest):
        tail[i] = data[start + 64 * full + i]
    tail[rest] = 0x80
    blocks = 1 if rest + 9 <= 64 else 2
    bits = np.uint64(n) * np.uint64(8)
    last = 64 * blocks
    for i in range(8):
        tail[last - 1 - i] = np.uint8((bits >> np.uint64(8 * i)) & np.uint64(0xFF))
    for b in range(blocks):
        _compress(state, tail, 64 * b, w, k)
    mod = np.uint64(m)
    r = np.uint64(0)
    for i in range(8):
        r = ((r << np.uint64(32)) | state[i]) % mod
    return r


def sha256_mod_bytes(data: bytes, m: int) -> int:
    """`int(sha256(data).hexdigest(), 16) % m` through the compiled kernel (for tests and one-off use)."""
    buf = np.frombuffer(data, dtype=np.uint8) if data else np.zeros(0, np.uint8)
    scratch = np.empty(8, np.uint64), np.empty(128, np.uint8), np.empty(64, np.uint64)
    return int(sha256_mod(buf, 0, len(buf), m, *scratch, ROUND_CONSTANTS, INITIAL_STATE))
