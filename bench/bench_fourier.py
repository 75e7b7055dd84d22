"""Throughput of the Fourier-space engine against the former engine and the honest floor, one run.

Run ``python bench/bench_fourier.py --n 5000`` (``--help`` for options). Every figure is images
per second, the best of ``--repeats`` rounds; each round runs every variant once, in turn
(interleaved), so a disturbance of the shared machine hits all variants alike. Ratios are taken
between figures of the same run:

* ``x former``: against the former engine (``stream_alignment(..., noise="sfc64")``: real-space
  SFC64 noise, forward and inverse FFT per image, scipy) on the same number of threads;
* ``x floor``: against drawing the same Fourier-space noise alone (Philox + ziggurat +
  spectrum, :class:`fiji_bridge.fourier_noise.SpectrumGenerator`) on the same number of
  threads: the honest floor of the new engine;
* ``x naive``: against the naive numpy batch (float64, np.fft, np.roll; one thread).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:  # running as a script from anywhere: make the package importable from the checkout
    import fiji_bridge  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_engine import default_reference, engine_throughput, naive_numpy_batch  # noqa: E402

from fiji_bridge.fourier_engine import CHUNK, stream_fourier  # noqa: E402
from fiji_bridge.fourier_noise import SpectrumGenerator  # noqa: E402


def generator_throughput(shape, n, *, workers=1, seed=0) -> float:
    """Images/s of drawing the spectra alone, ``CHUNK`` images per call, ``workers`` threads
    each with its own generator and buffer (contiguous halves of the range)."""

    def job(a, b):
        gen = SpectrumGenerator(seed, shape)
        buf = gen.empty(CHUNK)
        for i in range(a, b, CHUNK):
            gen.fill(i, buf, min(CHUNK, b - i))

    bounds = np.linspace(0, n, workers + 1).round().astype(int)
    t0 = time.perf_counter()
    if workers == 1:
        job(0, n)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for f in [pool.submit(job, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]:
                f.result()
    return n / (time.perf_counter() - t0)


def fourier_throughput(reference, n, **kw) -> float:
    """Images/s of :func:`fiji_bridge.fourier_engine.stream_fourier` (its streaming time)."""
    kw.setdefault("seed", 0)
    kw.setdefault("keep_examples", 0)
    res = stream_fourier(reference, n, **kw)
    return n / res.elapsed_s


def backend_shift_changes(reference, n, seed=0) -> int:
    """Images (of ``n``) whose shift differs between the scipy and pyFFTW maps: near-ties,
    where the top two map values are within the float32 rounding of the FFTs."""
    a = stream_fourier(reference, n, seed=seed, keep_examples=0)
    b = stream_fourier(reference, n, seed=seed, keep_examples=0, fft_backend="pyfftw")
    return int((a.shifts != b.shifts).any(axis=1).sum())


def profile_engine(reference, n, top=8) -> None:
    """cProfile of one single-thread run over ``n`` images: where the time goes."""
    import cProfile
    import pstats

    stream_fourier(reference, 256, seed=0, workers=1, keep_examples=0)  # warm up
    prof = cProfile.Profile()
    prof.enable()
    res = stream_fourier(reference, n, seed=0, workers=1, keep_examples=0)
    prof.disable()
    print(f"{n / res.elapsed_s:,.0f} images/s on one thread; per image:")
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    for (path, line, func), (_, _, tottime, _, _) in rows:
        print(f"  {1e6 * tottime / n:7.1f} us  {func} ({os.path.basename(path)}:{line})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="images per measurement (5000)")
    parser.add_argument("--size", type=int, default=128, help="image side (128)")
    parser.add_argument("--repeats", type=int, default=5, help="best of this many rounds (5)")
    parser.add_argument("--naive-n", type=int, default=2000, help="images for the naive batch (2000)")
    parser.add_argument("--pyfftw", action="store_true", help="also the new engine with pyFFTW")
    parser.add_argument("--compare-backends", type=int, default=0, metavar="N",
                        help="count shifts that differ between scipy and pyFFTW over N images")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile one single-thread run over N images and stop")
    args = parser.parse_args(argv)

    ref = default_reference(args.size)
    if args.profile:
        profile_engine(ref, args.profile)
        return 0
    if args.compare_backends:
        k = backend_shift_changes(ref, args.compare_backends)
        print(f"shifts that differ between scipy and pyFFTW: {k} of {args.compare_backends:,} "
              f"images ({args.size}x{args.size}, seed 0)")
        return 0
    n = args.n
    shape = ref.shape
    variants = [
        ("new engine (fourier, scipy), 1 thread", lambda: fourier_throughput(ref, n, workers=1)),
        ("new engine (fourier, scipy), 2 threads", lambda: fourier_throughput(ref, n, workers=2)),
    ]
    if args.pyfftw:
        variants += [
            ("new engine (fourier, pyfftw), 1 thread",
             lambda: fourier_throughput(ref, n, workers=1, fft_backend="pyfftw")),
            ("new engine (fourier, pyfftw), 2 threads",
             lambda: fourier_throughput(ref, n, workers=2, fft_backend="pyfftw")),
        ]
    variants += [
        ("former engine (sfc64, scipy), 1 thread", lambda: engine_throughput(ref, n, workers=1, noise="sfc64")),
        ("former engine (sfc64, scipy), 2 threads", lambda: engine_throughput(ref, n, workers=2, noise="sfc64")),
        ("generator alone (Philox spectra), 1 thread", lambda: generator_throughput(shape, n, workers=1)),
        ("generator alone (Philox spectra), 2 threads", lambda: generator_throughput(shape, n, workers=2)),
        ("naive numpy batch (float64, np.fft, np.roll)", lambda: naive_numpy_batch(ref, min(n, args.naive_n))),
    ]
    # Warm-up: compile/load the numba kernels and FFT plans outside the measurement.
    fourier_throughput(ref, 64, workers=2)
    generator_throughput(shape, 64)

    print(f"{args.size}x{args.size}, n={n}, best of {args.repeats} interleaved rounds, "
          f"{os.cpu_count()} CPUs", flush=True)
    best = {name: 0.0 for name, _ in variants}
    for r in range(args.repeats):
        for name, fn in variants:
            best[name] = max(best[name], fn())
        print(f"  round {r + 1}/{args.repeats} done", flush=True)

    def threads_of(name):
        return 2 if "2 threads" in name else 1

    former = {t: best[f"former engine (sfc64, scipy), {t} thread{'s' if t > 1 else ''}"] for t in (1, 2)}
    floor = {t: best[f"generator alone (Philox spectra), {t} thread{'s' if t > 1 else ''}"] for t in (1, 2)}
    naive = best["naive numpy batch (float64, np.fft, np.roll)"]
    width = max(len(name) for name in best)
    print()
    print(f"{'variant':<{width}}  {'images/s':>9}  {'x former':>8}  {'x floor':>7}  {'x naive':>7}")
    for name, value in best.items():
        t = threads_of(name)
        print(f"{name:<{width}}  {value:>9,.0f}  {value / former[t]:>8.2f}  {value / floor[t]:>7.2f}  "
              f"{value / naive:>7.2f}")
    new2 = best["new engine (fourier, scipy), 2 threads"]
    print()
    print(f"new engine, 2 threads: {new2 / former[2]:.2f}x the former engine (2 threads), "
          f"{new2 / floor[2]:.2f} of the generator-alone floor (2 threads), "
          f"{new2 / naive:.1f}x the naive batch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
