#!/usr/bin/env python3
"""Regenerates erfc_fit[] in core/cpu/kernels/act_body.h (gelu's erfc).

erfc(z) is computed there as t·exp(v·Q(v) - z²) with t = 1/(1 + z/2),
v = 1 - t, for z = |x|/√2 up to 10.5/√2. Q is the Chebyshev interpolant, of
degree N, of f(v) = (ln(erfc(z)/t) + z²)/v on (0, vmax], rewritten as
monomials in v (Horner in the kernel). Needs mpmath (pip or Debian's
python3-mpmath); not used by the build.

    tools/fit_erfc.py 10,12,14      degree, log2 of the worst error of v·Q(v)
                                    on 3000 points, largest coefficient
    tools/fit_erfc.py 12 print      ... and the coefficients, as C
"""
import sys

import mpmath as mp

mp.mp.dps = 40
p = mp.mpf("0.5")
zmax = mp.mpf(10.5) / mp.sqrt(2)
vmax = 1 - 1 / (1 + p * zmax)


def f(v):
    t = 1 - v
    z = (1 / t - 1) / p
    return (mp.log(mp.erfc(z) / t) + z * z) / v


def run(N):
    # Chebyshev interpolation at the N+1 Chebyshev nodes of s = 2v/vmax - 1.
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / (N + 1)) for k in range(N + 1)]
    vals = [f((s + 1) / 2 * vmax) for s in nodes]
    c = [2 * sum(vals[k] * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / (N + 1)) for k in range(N + 1)) / (N + 1)
         for j in range(N + 1)]
    c[0] /= 2
    # T_j(a·v + b) as monomials in v, by the recurrence T_n = 2s·T_{n-1} - T_{n-2}.
    a, b = 2 / vmax, mp.mpf(-1)

    def mul_lin(poly):
        out = [mp.mpf(0)] * (len(poly) + 1)
        for i, x in enumerate(poly):
            out[i] += b * x
            out[i + 1] += a * x
        return out

    T = [[mp.mpf(1)], [b, a]]
    for _ in range(2, N + 1):
        tt = [2 * x for x in mul_lin(T[-1])]
        for i, x in enumerate(T[-2]):
            tt[i] -= x
        T.append(tt)
    mono = [mp.mpf(0)] * (N + 1)
    for j in range(N + 1):
        for i, x in enumerate(T[j]):
            mono[i] += c[j] * x
    m = [float(x) for x in mono]
    # The error of v·Q(v) in double, against mpmath, where the kernel uses it.
    worst = 0
    for k in range(1, 3001):
        z = zmax * k / 3000
        tf = float(1 / (1 + p * z))
        v = 1.0 - tf
        acc = m[N]
        for i in range(N - 1, -1, -1):
            acc = acc * v + m[i]
        acc *= v
        tt = mp.mpf(tf)
        zz = (1 / tt - 1) / p
        worst = max(worst, abs(acc - (mp.log(mp.erfc(zz) / tt) + zz * zz)))
    return m, worst


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    for N in [int(x) for x in sys.argv[1].split(",")]:
        m, w = run(N)
        print(N, float(mp.log(w, 2)), max(abs(x) for x in m))
        if len(sys.argv) > 2:
            for x in m:
                print("    %r," % x)
