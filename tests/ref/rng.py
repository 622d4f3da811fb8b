#!/usr/bin/python3
"""rng.py -- an independent Python implementation of lib/rng.c's generator
(splitmix64 seeding, xoshiro256**, and the derived numbers defined in
lib/rng.h), used to derive the expected values in tests/unit/test_rng.c.

Usage: rng.py  (prints C initialisers for the test)
Standard library only.
"""
import math

M = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Rng:
    def __init__(self, seed):
        st = seed & M
        self.s = []
        for _ in range(4):
            st, z = splitmix64(st)
            self.s.append(z)
        self.spare = None

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def float(self):
        return (self.next() >> 40) * 2.0 ** -24

    def double(self):
        return (self.next() >> 11) * 2.0 ** -53

    def below(self, n):
        threshold = ((1 << 64) - n) % n
        while True:
            x = self.next()
            if x >= threshold:
                return x % n

    def index(self, n):
        threshold = ((1 << 32) - n) % n
        while True:
            m = (self.next() >> 32) * n
            if m & 0xFFFFFFFF >= threshold:
                return m >> 32

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u1 = 1.0 - self.double()
        u2 = self.double()
        r = math.sqrt(-2.0 * math.log(u1))
        th = 2.0 * math.pi * u2
        self.spare = r * math.sin(th)
        return r * math.cos(th)

    def shuffle(self, a):
        for i in range(len(a) - 1, 0, -1):
            j = self.below(i + 1)
            a[i], a[j] = a[j], a[i]


def main():
    st, outs = 0, []
    for _ in range(3):
        st, z = splitmix64(st)
        outs.append(z)
    print("splitmix64(0):", ", ".join("0x%016xu" % z for z in outs))
    r = Rng(42)
    print("next(42):", ", ".join("0x%016xu" % r.next() for _ in range(5)))
    r = Rng(7)
    print("double(7):", ", ".join(repr(r.double()) for _ in range(3)))
    r = Rng(7)
    print("float(7):", ", ".join(repr(r.float()) for _ in range(3)))
    r = Rng(1)
    print("below(1, 10):", ", ".join(str(r.below(10)) for _ in range(10)))
    r = Rng(1)
    print("below(1, 2^63+1):", ", ".join("%du" % r.below((1 << 63) + 1) for _ in range(4)))
    r = Rng(1)
    print("index(1, 10):", ", ".join(str(r.index(10)) for _ in range(10)))
    r = Rng(1)
    print("index(1, 2^31+1):", ", ".join(str(r.index((1 << 31) + 1)) for _ in range(4)))
    r = Rng(3)
    print("normal(3):", ", ".join(repr(r.normal()) for _ in range(6)))
    r = Rng(5)
    a = list(range(10))
    r.shuffle(a)
    print("shuffle(5, 0..9):", ", ".join(map(str, a)))


if __name__ == "__main__":
    main()
