"""Throughput of the alignment engine against baselines, measured in one run.

Run ``python bench/bench_engine.py --n 5000 [--dask]`` (``--help`` for options). Every figure
is images per second, the best of ``--repeats`` rounds over all variants (the machines are
shared, so the best round is the least disturbed one); ratios are taken between figures of the
same run. "x RNG floor" compares with drawing the noise alone with numpy's default generator on
one thread.

The functions are importable (``from bench.bench_engine import naive_numpy_batch`` from the
repository root, or by path) so that other benchmarks can reuse them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

try:  # running as a script from anywhere: make the package importable from the checkout
    import fiji_bridge  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from fiji_bridge.align import check_backend
from fiji_bridge.engine import stream_alignment
from fiji_bridge.scheduler import DEFAULT_CONNECT_TIMEOUT, open_dask

__all__ = [
    "default_reference",
    "engine_throughput",
    "main",
    "naive_numpy_batch",
    "rng_floor",
    "skimage_loop",
]


def default_reference(size: int = 128) -> np.ndarray:
    """scikit-image's public-domain ``camera`` image, resized to ``size`` x ``size``, normalised
    to mean 0 and sigma 1 (float32). Falls back to smoothed noise without scikit-image."""
    try:
        from skimage import data, transform

        img = transform.resize(data.camera().astype(np.float64), (size, size), anti_aliasing=True)
    except ImportError:  # pragma: no cover
        from scipy import ndimage

        img = ndimage.gaussian_filter(np.random.default_rng(0).standard_normal((size, size)), 3)
    img = (img - img.mean()) / img.std()
    return img.astype(np.float32)


def naive_numpy_batch(reference, n, seed=0, *, batch=256) -> float:
    """Images/s of the straightforward numpy version of the experiment.

    Batches of ``batch`` images: ``default_rng(seed).standard_normal`` (float64), ``np.fft.rfft2``,
    multiply by ``conj(rfft2(r))``, ``np.fft.irfft2``, ``argmax`` per image (one reshaped call),
    ``np.roll`` of each image by minus its peak shift, float64 sum. Single-threaded, as numpy is.
    """
    ref = np.asarray(reference, dtype=np.float64)
    h, w = ref.shape
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    spec_ref = np.conj(np.fft.rfft2(ref))
    total = np.zeros((h, w))
    done = 0
    while done < n:
        b = min(batch, n - done)
        x = rng.standard_normal((b, h, w))
        c = np.fft.irfft2(np.fft.rfft2(x) * spec_ref, s=(h, w))
        idx = c.reshape(b, -1).argmax(axis=1)
        for i in range(b):
            dy, dx = divmod(int(idx[i]), w)
            total += np.roll(x[i], (-dy, -dx), axis=(0, 1))
        done += b
    elapsed = time.perf_counter() - t0
    return n / elapsed


def rng_floor(shape, n, *, bit_generator="PCG64", chunk=16) -> float:
    """Images/s of drawing the noise only: float32 ``Generator.standard_normal``, one thread.

    ``bit_generator="PCG64"`` is numpy's default generator (``default_rng``); the engine uses
    ``"SFC64"``.
    """
    h, w = shape
    gen = np.random.Generator(getattr(np.random, bit_generator)(0))
    out = np.empty((chunk, h, w), dtype=np.float32)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        gen.standard_normal(out=out, dtype=np.float32)
        done += chunk
    return done / (time.perf_counter() - t0)


def skimage_loop(reference, n, seed=0):
    """Images/s of a per-image loop over ``skimage.registration.phase_cross_correlation``
    (``normalization=None``, integer shifts), ``np.roll`` and a float64 sum; None if scikit-image
    is not importable."""
    try:
        from skimage.registration import phase_cross_correlation
    except ImportError:  # pragma: no cover
        return None
    ref = np.asarray(reference, dtype=np.float32)
    h, w = ref.shape
    rng = np.random.default_rng(seed)
    total = np.zeros((h, w))
    t0 = time.perf_counter()
    for _ in range(n):
        x = rng.standard_normal((h, w), dtype=np.float32)
        # skimage returns the shift that registers the moving image onto the reference.
        shift, _, _ = phase_cross_correlation(ref, x, normalization=None)
        total += np.roll(x, tuple(int(s) for s in shift), axis=(0, 1))
    return n / (time.perf_counter() - t0)


def engine_throughput(reference, n, **kw) -> float:
    """Images/s of :func:`fiji_bridge.engine.stream_alignment` (its streaming time: starting
    a Dask cluster is not counted). Keyword arguments go to ``stream_alignment``
    (default ``seed=0``, ``counts=[n]``, ``keep_examples=0``)."""
    kw.setdefault("seed", 0)
    kw.setdefault("counts", [n])
    kw.setdefault("keep_examples", 0)
    res = stream_alignment(reference, n, **kw)
    return n / res.elapsed_s


def imagej_fht_loop(reference, n, seed=0) -> float:
    """Alignment only through ImageJ's FHT, one JPype round trip per image (images/s)."""
    from fiji_bridge import imagej, noise

    imagej.start(display="headless")
    images = noise.noise_images(seed, 0, n, reference.shape)
    t0 = time.perf_counter()
    imagej.fht_align(images, reference)
    return n / (time.perf_counter() - t0)


def peak_rss_mb(n_images: int, size: int) -> tuple[float, float]:
    """Peak RSS (MB) and seconds of stream_alignment over n_images, in a fresh child process.

    The child reports ``VmHWM`` from ``/proc/self/status``, the high-water mark of its own
    memory. Neither ``ru_maxrss`` works here: RUSAGE_CHILDREN also counts other children (Dask
    workers), and on Linux a child's own ``ru_maxrss`` starts at the parent's peak at fork and
    survives ``exec``.
    """
    import subprocess

    code = (
        "import re, time, numpy as np\n"
        "from fiji_bridge import engine\n"
        f"ref = np.random.default_rng(1).standard_normal(({size}, {size})).astype(np.float32)\n"
        "t = time.perf_counter()\n"
        f"engine.stream_alignment(ref, {n_images}, seed=1, counts=[{n_images}])\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)\n"
        "print(time.perf_counter() - t, hwm)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    seconds, max_rss_kb = out.stdout.split()[-2:]
    return float(max_rss_kb) / 1024, float(seconds)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="images per measurement (5000)")
    parser.add_argument("--size", type=int, default=128, help="image side (128)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many rounds (3)")
    parser.add_argument("--skimage-n", type=int, default=500, help="images for the skimage loop")
    parser.add_argument("--dask", action="store_true", help="also time a 2-worker LocalCluster")
    parser.add_argument("--imagej-n", type=int, default=1000,
                        help="images for the ImageJ FHT loop (1000; 0 skips it)")
    parser.add_argument("--rss-n", type=int, default=200_000,
                        help="images for the peak-RSS run in a child process (200000; 0 skips)")
    args = parser.parse_args(argv)

    ref = default_reference(args.size)
    n = args.n
    shape = ref.shape
    # The baselines the ratios are taken against, named once.
    floor_label = "RNG floor: float32 standard_normal, PCG64 (numpy default), 1 thread"
    naive_label = "naive numpy batch (float64, np.fft, np.roll)"
    fht_label = "ImageJ FHT loop through JPype (alignment only)"
    default_label = "engine, fft_backend=scipy, workers={}"
    variants = [
        (floor_label, lambda: rng_floor(shape, n)),
        ("RNG floor: float32 standard_normal, SFC64, 1 thread", lambda: rng_floor(shape, n, bit_generator="SFC64")),
        (naive_label, lambda: naive_numpy_batch(ref, n)),
        ("skimage phase_cross_correlation loop", lambda: skimage_loop(ref, min(args.skimage_n, n))),
    ]
    if args.imagej_n:
        variants.append((fht_label, lambda: imagej_fht_loop(ref, args.imagej_n)))
    backends = ["scipy"]
    try:
        check_backend("pyfftw")  # raises when pyfftw cannot be imported
        backends.append("pyfftw")
    except ValueError:  # pragma: no cover
        pass
    for backend in backends:
        for workers in (1, 2):
            variants.append(
                (
                    default_label.format(workers) if backend == "scipy"
                    else f"engine, fft_backend={backend}, workers={workers}",
                    lambda b=backend, w=workers: engine_throughput(ref, n, workers=w, fft_backend=b),
                )
            )
    client = None
    closers = []
    if args.dask:
        # The engine's own 2-worker, 1-thread LocalCluster on loopback; warmed up below so
        # worker start-up and first imports stay out of the measurement.
        client, closers, _ = open_dask("local", DEFAULT_CONNECT_TIMEOUT)
        engine_throughput(ref, 2 * 256, scheduler=client, block_size=256)  # warm the workers up
        variants.append(
            (
                "engine, Dask LocalCluster 2 workers x 1 thread (scipy)",
                lambda: engine_throughput(ref, n, scheduler=client, block_size=256),
            )
        )

    # Rounds over all variants, best per variant: a disturbance on a shared machine then hits
    # the variants alike instead of one of them.
    print(f"{args.size}x{args.size}, n={n}, best of {args.repeats} rounds, {os.cpu_count()} CPUs", flush=True)
    best = {name: 0.0 for name, _ in variants}
    try:
        for r in range(args.repeats):
            for name, fn in variants:
                value = fn()
                if value is not None:
                    best[name] = max(best[name], value)
            print(f"  round {r + 1}/{args.repeats} done", flush=True)
    finally:
        for close in closers:
            close()

    names = [name for name, _ in variants]
    floor = best[floor_label]
    naive = best[naive_label]
    width = max(len(name) for name in names)
    print()
    print(f"{'variant':<{width}}  {'images/s':>10}  {'x naive':>8}  {'x RNG floor':>11}")
    for name in names:
        value = best[name]
        if not value:
            print(f"{name:<{width}}  {'n/a':>10}")
            continue
        print(f"{name:<{width}}  {value:>10,.0f}  {value / naive:>8.2f}  {value / floor:>11.2f}")
    engine_best = max(best[default_label.format(w)] for w in (1, 2))
    print()
    print(f"default engine (scipy, all cores): {engine_best / naive:.1f}x the naive batch, "
          f"{engine_best / floor:.2f}x the RNG floor (PCG64)", end="")
    fht = best.get(fht_label)
    print(f", {engine_best / fht:.1f}x the ImageJ FHT loop" if fht else "")
    if args.rss_n:
        rss, seconds = peak_rss_mb(args.rss_n, args.size)
        print(f"peak RSS streaming {args.rss_n:,} images of {args.size}x{args.size}: "
              f"{rss:,.0f} MB ({seconds:.0f} s, {args.rss_n / seconds:,.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
