"""How the template bias falls with the search space, through ``einstein-from-noise study``.

Run from the repository root::

    python bench/search_space_study.py [--trials 10] [--n 1000] [--size 64] [--seed 2013]

For each search space it runs the real command line (in this process, so ImageJ starts once)::

    einstein-from-noise study --experiments classic --pad 1x --n-list N --trials T --seed S
        --size SIZE [--max-shift PX] [--mask-radius PX] --out DIR --force

on the bundled astronaut reference, reads ``study.json`` and prints a Markdown table of
CC(aligned average, reference) at N, mean ± standard error over the trials (independent noise
per trial; every search space sees the same noise images), beside the unaligned control.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

try:  # running as a script from anywhere: make the package importable from the checkout
    import fiji_bridge  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def spaces(size: int) -> list[tuple[str, list[str]]]:
    """(label, extra arguments) of each search space of the table."""
    r = str(size // 4)
    return [("whole box", []), ("±10 px", ["--max-shift", "10"]),
            ("±3 px", ["--max-shift", "3"]), ("±1 px", ["--max-shift", "1"]),
            ("none (`--max-shift 0`)", ["--max-shift", "0"]),
            (f"mask radius {r} px", ["--mask-radius", r]),
            (f"mask {r} px, ±3 px", ["--mask-radius", r, "--max-shift", "3"])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=2013)
    parser.add_argument("--out", default=None, help="keep the study outputs here")
    args = parser.parse_args(argv)

    from fiji_bridge import cli

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="search_space_"))
    rows = []
    for k, (label, extra) in enumerate(spaces(args.size)):
        folder = out / f"study_{k}"
        status = cli.main(["study", "--experiments", "classic", "--pad", "1x", "--n-list",
                           str(args.n), "--trials", str(args.trials), "--seed", str(args.seed),
                           "--size", str(args.size), "--out", str(folder), "--force", *extra])
        if status != 0:
            return status
        row = json.loads((folder / "study.json").read_text())["table"][-1]
        rows.append((label, row))
    print(f"\n{args.size}x{args.size}, N = {args.n}, astronaut reference, {args.trials} trials, "
          f"seed {args.seed}: CC(aligned average, reference), mean ± s.e. over trials")
    print("| search space | CC aligned | CC unaligned |\n|---|---:|---:|")
    for label, row in rows:
        print(f"| {label} | {row['cc_mean']:.3f} ± {row['cc_se']:.3f} | "
              f"{row['cc_unaligned_mean']:.3f} ± {row['cc_unaligned_se']:.3f} |")
    print(f"\noutputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
