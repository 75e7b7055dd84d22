"""Rejection rate of the template-bias check: false positives (SNR 0) and power (SNR > 0).

Run from the repository root::

    python bench/bias_check_power.py [--reps 20] [--draws 19] [--n 400] [--size 64]

For each noise colour and SNR, ``--reps`` independent stacks of ``--n`` particles (the bundled
astronaut template, prepared by ImageJ at ``--size``, times ``sqrt(SNR)``, plus noise of
variance 1) go through :func:`fiji_bridge.bias_check.template_bias_check` (``--draws`` null
draws, no half sets) and the fraction with ``p <= 0.05`` is printed with its binomial standard
error. SNR is the variance ratio signal / noise over the box. Noise: white N(0, 1), or white
filtered by a Gaussian of sigma 1.5 px (cyclic) and rescaled to variance 1.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

try:  # running as a script from anywhere: make the package importable from the checkout
    import fiji_bridge  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

GRID = {"white": (0.0, 0.001, 0.002, 0.005, 0.01), "low-pass 1.5 px": (0.0, 0.01, 0.03, 0.1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--draws", type=int, default=19)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    from scipy.ndimage import gaussian_filter

    from fiji_bridge import imagej, reference
    from fiji_bridge.bias_check import template_bias_check

    imagej.start()
    t = reference.prepare_reference(None, size=args.size).image.astype(np.float64)
    rng = np.random.default_rng(2013)
    print(f"{args.n} particles {args.size}x{args.size}, astronaut template, {args.draws} null "
          f"draws, {args.reps} repetitions, alpha 0.05")
    print("| noise | SNR | flagged | rate ± s.e. |\n|---|---:|---:|---:|")
    for colour, snrs in GRID.items():
        for snr in snrs:
            flagged = 0
            for r in range(args.reps):
                noise = rng.standard_normal((args.n, args.size, args.size))
                if colour != "white":
                    noise = np.stack([gaussian_filter(x, 1.5, mode="wrap") for x in noise])
                    noise /= noise.std(axis=(1, 2), keepdims=True)
                ds = template_bias_check(np.sqrt(snr) * t + noise, t, draws=args.draws, seed=r,
                                         half_sets=False, workers=1)
                flagged += ds.attrs["signal_beyond_bias"]
            rate = flagged / args.reps
            se = np.sqrt(rate * (1 - rate) / args.reps)
            print(f"| {colour} | {snr:g} | {flagged}/{args.reps} | {rate:.2f} ± {se:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
