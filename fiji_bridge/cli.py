"""Command line: ``einstein-from-noise doctor | run | study``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _add_imagej_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--imagej", metavar="PATH_OR_ENDPOINT", default=None,
        help="Fiji.app folder, Maven endpoint (sc.fiji:fiji) or ij.jar; default "
             "$FIJI_BRIDGE_IMAGEJ, a Fiji.app in a usual place, $IJ_JAR, /usr/share/java/ij.jar",
    )
    parser.add_argument(
        "--display", choices=("auto", "xvfb", "existing", "headless"), default="auto",
        help="AWT display for ImageJ 1.x menu commands and macros (default: auto = $DISPLAY, "
             "else Xvfb if installed, else headless)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="einstein-from-noise",
        description="Reproduce and measure the 'Einstein from noise' experiment with real "
                    "ImageJ/Fiji.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="report Java, ImageJ, display; advise fixes")
    _add_imagej_options(doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from fiji_bridge import doctor

        return doctor.checkup(imagej_location=args.imagej, display=args.display)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
