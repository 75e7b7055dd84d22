"""Issue 12's table through ``einstein-from-noise check``, and the bias against the search space.

Run from the repository root::

    python bench/bias_check_table.py [--out DIR] [--draws 99] [--n 400] [--size 64]

Part 1 builds the three particle stacks of the issue's table at 64 x 64, N = 400 (plus white
noise for comparison), writes each as a TIFF stack and runs the real command line
``einstein-from-noise check --particles FILE --out DIR --force`` on it (in this process, so
ImageJ starts once): the bundled astronaut template, prepared by ImageJ at the particles' box
size. Inputs (seeded, numpy ``default_rng(2013)``):

* low-pass pure noise: white N(0, 1) images filtered by ``scipy.ndimage.gaussian_filter``,
  sigma 1.5 px (default 'reflect' boundaries, as an image filter would do it);
* signal: the template at SNR 0.01 (variance ratio, amplitude 0.1) plus white N(0, 1) noise;
* high-pass pure noise: white minus its sigma-1.5 Gaussian low-pass;
* white pure noise.

Part 2 aligns 1000 white-noise images to the same template with the search space limited
(``max_shift``) or masked (``mask_radius``) and prints CC(aligned average, template).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

try:  # running as a script from anywhere: make the package importable from the checkout
    import fiji_bridge  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def inputs(template: np.ndarray, n: int, seed: int = 2013) -> dict[str, np.ndarray]:
    """The particle stacks of the issue's table (module docstring), float32 ``(n, H, W)``."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    shape = (n,) + template.shape
    white = rng.standard_normal(shape)
    low = np.stack([gaussian_filter(x, 1.5) for x in white])
    white2 = rng.standard_normal(shape)
    high = white2 - np.stack([gaussian_filter(x, 1.5) for x in white2])
    signal = 0.1 * template + rng.standard_normal(shape)
    white3 = rng.standard_normal(shape)
    return {"low-pass pure noise (sigma 1.5 px)": low,
            "template at SNR 0.01 + white noise": signal,
            "high-pass pure noise": high,
            "white pure noise": white3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="keep the check outputs here")
    parser.add_argument("--draws", type=int, default=99)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)

    import tifffile

    from fiji_bridge import cli, imagej, reference
    from fiji_bridge.align import align_to_reference
    from fiji_bridge.metrics import pearson_cc
    from fiji_bridge.particles import compare_with_noise

    imagej.start()
    template = reference.prepare_reference(None, size=args.size).image
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bias_check_"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, (name, stack) in enumerate(inputs(template, args.n).items()):
        path = out / f"particles_{k}.tif"
        tifffile.imwrite(path, stack.astype(np.float32), imagej=True,
                         metadata={"axes": "ZYX"})
        status = cli.main(["check", "--particles", str(path), "--out", str(out / f"check_{k}"),
                           "--draws", str(args.draws), "--force"])
        if status != 0:
            return status
        record = json.loads((out / f"check_{k}" / "check.json").read_text())
        old = compare_with_noise(stack, template, seed=0)  # the white-noise comparison of run
        rows.append((name, old["cc_particles"], old["cc_noise"], record))

    print(f"\n{args.n} particles {args.size}x{args.size}, astronaut template, "
          f"{args.draws} null draws")
    print("| particles | CC observed | white-noise CC (old) | null mean ± sd | z | p | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, cc_p, cc_n, rec in rows:
        cc = rec["cc"]
        verdict = "significant" if rec["signal_beyond_bias"] else "not significant"
        print(f"| {name} | {cc['observed']:.3f} | {cc_n:.3f} | {cc['null_mean']:.3f} ± "
              f"{cc['null_sd']:.3f} | {cc['z']:.1f} | {cc['p_value']:.2f} | {verdict} |")
    print("\nhalf-set FRC > 0.143 up to (cycles/px): same template / low-passed at 0.125")
    for name, _, _, rec in rows:
        half = rec["half_set_frc"]
        print(f"  {name}: {half['same_template_last_frequency_above_threshold']} / "
              f"{half['lowpass_template_last_frequency_above_threshold']}")

    rng = np.random.default_rng(7)
    noise = rng.standard_normal((1000,) + template.shape).astype(np.float32)
    print(f"\nsearch space: 1000 white-noise images {args.size}x{args.size}, "
          "CC(aligned average, template)")
    print("| search space | CC |\n|---|---:|")
    for label, opts in (("whole box", {}), ("max shift 10 px", {"max_shift": 10}),
                        ("max shift 3 px", {"max_shift": 3}), ("max shift 1 px", {"max_shift": 1}),
                        ("max shift 0", {"max_shift": 0}),
                        (f"mask radius {args.size // 4} px", {"mask_radius": args.size // 4}),
                        (f"mask radius {args.size // 4} px, max shift 3 px",
                         {"mask_radius": args.size // 4, "max_shift": 3})):
        avg = align_to_reference(noise, template, **opts).aligned.mean(axis=0)
        print(f"| {label} | {pearson_cc(avg, template):.3f} |")
    print(f"\noutputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
