#!/usr/bin/python3
"""xxh64.py -- expected XXH64 values for tests/unit/test_model.c, computed by
the xxHash project's own library (Debian's libxxhash0, through ctypes), an
implementation independent of lib/model.c's ctk_hash64.

Usage: xxh64.py   (prints one line per test input: length, seed, hash)
"""
import ctypes

lib = ctypes.CDLL("libxxhash.so.0")
lib.XXH64.restype = ctypes.c_uint64
lib.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]


def inputs():
    """The inputs test_model.c builds: byte i of input n is (i * 31 + n) mod 251."""
    for n in [0, 1, 3, 4, 7, 8, 31, 32, 33, 63, 64, 100, 1000]:
        yield n, bytes((i * 31 + n) % 251 for i in range(n))


for n, b in inputs():
    for seed in (0, 7):
        print("{%d, %d, 0x%016xu}," % (n, seed, lib.XXH64(b, len(b), seed)))
print("abc:", "0x%016x" % lib.XXH64(b"abc", 3, 0))
