"""Interleaved A/B of the noise-spectrum generator: a former commit's against this checkout's.

Usage (from the repository root)::

    PYTHONPATH=$PWD python bench/ab_generator.py [COMMIT]   # default 982c4bc

Extracts ``fiji_bridge/philox.py`` and ``fiji_bridge/fourier_noise.py`` of ``COMMIT`` with
``git show`` into a temporary folder, checks that both draw the same bits, then times
``SpectrumGenerator.fill`` (one thread, 128x128, blocks of 64 images) in alternating rounds and
prints µs per image, samples/s and the paired time ratio new/old, with the load average.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def load_old(commit: str, folder: str):
    """The former ``fourier_noise`` module (importing the former ``philox``)."""
    for name in ("philox", "fourier_noise"):
        text = subprocess.run(["git", "show", f"{commit}:fiji_bridge/{name}.py"], check=True,
                              capture_output=True, text=True).stdout
        text = text.replace("from fiji_bridge.philox import", "from old_philox import")
        with open(os.path.join(folder, f"old_{name}.py"), "w") as f:
            f.write(text)
    sys.path.insert(0, folder)
    return importlib.import_module("old_fourier_noise")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commit = argv[0] if argv else "982c4bc"
    from fiji_bridge import fourier_noise as new

    size, count, blocks, rounds = 128, 64, 8, 40
    with tempfile.TemporaryDirectory() as folder:
        old = load_old(commit, folder)
        ga, gb = old.SpectrumGenerator(2013, (size, size)), new.SpectrumGenerator(2013, (size, size))
        oa, ob = ga.empty(count), gb.empty(count)
        ga.fill(0, oa)
        gb.fill(0, ob)
        if not (oa.view(np.uint32) == ob.view(np.uint32)).all():
            print("the two generators draw different bits")
            return 1

        def run(g, o, first):
            t = time.perf_counter()
            for b in range(blocks):
                g.fill(first + b * count, o)
            return (time.perf_counter() - t) / (blocks * count) * 1e6

        ta, tb = [], []
        for r in range(rounds):
            ta.append(run(ga, oa, r * blocks * count))
            tb.append(run(gb, ob, r * blocks * count))
    ta, tb = np.array(ta), np.array(tb)
    samples = 2 * size * (size // 2 + 1)
    print(f"{size}x{size}, one thread, {rounds} interleaved rounds of {blocks * count} images, "
          f"same bits: yes")
    print(f"{commit}: {ta.min():.1f} us/image ({samples / ta.min():.0f} M samples/s)")
    print(f"this checkout: {tb.min():.1f} us/image ({samples / tb.min():.0f} M samples/s)")
    print(f"time new/old: {tb.min() / ta.min():.3f} (best rounds), "
          f"{np.median(tb / ta):.3f} (median of paired rounds); load average "
          f"{os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
