"""The errors of the ImageJ layer (every message says what is wrong and the fix)."""

from __future__ import annotations

__all__ = ["ImageJCommandError", "ImageJError", "ImageJStartError"]


class ImageJError(RuntimeError):
    """Base class of the errors raised by the ImageJ layer."""


class ImageJStartError(ImageJError):
    """ImageJ could not be found or started; the message says what was tried and the fix."""


class ImageJCommandError(ImageJError):
    """An ImageJ menu command or macro could not run, or failed inside ImageJ."""

