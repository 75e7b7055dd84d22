"""The one copy of every argument check of fiji_bridge, with one error policy.

Policy
------
* A value of the wrong *type* raises :class:`TypeError`; a value of the right type but a wrong
  *value* raises :class:`ValueError`.
* Every message reads ``"<what is wrong>. Fix: <what to do>."`` and names the argument and the
  value received.
* An *integer* is a Python or numpy integer (:class:`numbers.Integral`) and never a bool:
  ``25.0``, ``"25"``, ``True`` and ``numpy.float64(25)`` are wrong types, not counts of 25.
* A *real array* holds integers or floats: bool, complex, object or string data are wrong types.

The module is pure Python and numpy and imports nothing from :mod:`fiji_bridge`, so every layer
(numpy modules, ImageJ layer, command line) can use it.
"""

from __future__ import annotations

import numbers
import os
import sys
from typing import Any, Callable

import numpy as np

__all__ = [
    "DISPLAY_MODES",
    "MIN_SIZE",
    "dataset",
    "display",
    "block_size",
    "counts",
    "counts_array",
    "default_workers",
    "fht_size",
    "fits_in_memory",
    "human_bytes",
    "image_array",
    "memory_available",
    "integer",
    "is_int",
    "mask_radius",
    "max_shift",
    "progress",
    "real",
    "real_array",
    "seed",
    "shape",
    "size",
    "stream_options",
    "workers",
]

#: Smallest side (pixels) of the square reference the experiment accepts (``--size``).
MIN_SIZE = 8


def _fix(fix: str) -> str:
    return f" Fix: {fix.rstrip('.')}." if fix else ""


def _got(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def is_int(x: Any) -> bool:
    """True for a Python or numpy integer, False for anything else (bools included)."""
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def integer(value: Any, name: str, *, minimum: int | None = None, fix: str = "") -> int:
    """``value`` as an ``int``, checked to be an integer ``>= minimum``.

    Parameters
    ----------
    value : object
        The value to check.
    name : str
        Argument name used in the messages.
    minimum : int, optional
        Smallest accepted value (no bound if None).
    fix : str, optional
        Advice appended to the message as ``" Fix: <fix>."``; a generic one if empty.

    Raises
    ------
    TypeError
        ``value`` is not an integer (see the module docstring).
    ValueError
        ``value < minimum``.
    """
    bound = "" if minimum is None else f" >= {minimum}"
    fix = fix or f"pass a whole number{bound}, e.g. {name}={max(minimum or 0, 1)}"
    if not is_int(value):
        raise TypeError(f"{name} must be an integer{bound}, got {_got(value)}.{_fix(fix)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be{bound}, got {value}.{_fix(fix)}")
    return value


def seed(value: Any) -> int:
    """A seed: a non-negative integer (TypeError for a non-integer, ValueError if negative)."""
    return integer(value, "seed", minimum=0, fix="pass a non-negative integer, e.g. seed=2013")


def counts(values: Any, *, maximum: int | None = None, name: str = "counts") -> tuple[int, ...]:
    """Numbers of images: positive integers, returned sorted and without repeats.

    Parameters
    ----------
    values : int or iterable of int
        One count or several (a list, a tuple, a numpy integer array of any shape).
    maximum : int, optional
        Largest accepted count (e.g. the number of images available).
    name : str, optional
        Argument name used in the messages.

    Raises
    ------
    TypeError
        ``values`` is neither an integer nor an iterable, or an item is not an integer
        (``25.0`` included).
    ValueError
        No count is given, or a count is ``< 1`` or ``> maximum``.
    """
    fix = f"pass e.g. {name}=[25, 100, 500, 1000] (--counts 25,100,500,1000)"
    if is_int(values):
        values = [values]
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be integers, got {_got(values)}.{_fix(fix)}")
    try:
        items = list(np.asarray(values).ravel()) if isinstance(values, np.ndarray) else list(values)
    except TypeError:
        raise TypeError(
            f"{name} must be a sequence of positive integers, got {_got(values)}.{_fix(fix)}"
        ) from None
    if not items:
        raise ValueError(f"{name} is empty: at least one count is needed.{_fix(fix)}")
    for c in items:
        if not is_int(c):
            raise TypeError(f"{name} must be integers, got {_got(c)}.{_fix(fix)}")
    out = sorted({int(c) for c in items})
    if out[0] < 1:
        raise ValueError(f"every count must be >= 1, got {out[0]}.{_fix(fix)}")
    if maximum is not None and out[-1] > maximum:
        raise ValueError(
            f"every count must be <= {maximum} (the number of images), got {out[-1]}. "
            f"Fix: drop that count or raise the number of images."
        )
    return tuple(out)


def counts_array(values: Any, n_images: int) -> np.ndarray:
    """:func:`counts` as a sorted int64 array in ``1 .. n_images``; None gives ``[n_images]``."""
    if values is None:
        return np.array([n_images], dtype=np.int64)
    return np.array(counts(values, maximum=n_images), dtype=np.int64)


def progress(value: Any, total: int) -> tuple[Callable[[int, int], Any] | None,
                                              Callable[[], Any] | None]:
    """A progress argument (None/False, True, or ``progress(done, total)``) as
    ``(callback, closer)``: True makes a tqdm bar on stderr (``closer`` closes it)."""
    if value is None or value is False:
        return None, None
    if value is True:
        from tqdm import tqdm

        bar = tqdm(total=total, file=sys.stderr, unit="img", unit_scale=True, desc="aligning")
        state = {"done": 0}

        def callback(done, _total):
            bar.update(done - state["done"])
            state["done"] = done

        return callback, bar.close
    if callable(value):
        return value, None
    raise TypeError(
        f"progress must be None, True (tqdm bar on stderr) or a callable progress(done, total), "
        f"got {type(value).__name__}. Fix: pass progress=True or a function."
    )


def stream_options(n_images: Any, seed_value: Any, counts_value: Any, keep_examples: Any,
                   keep_shifts: Any) -> tuple[int, int, np.ndarray, int, bool]:
    """The arguments every streamed alignment shares, checked: ``(n_images, seed, counts,
    keep_examples, keep_shifts)`` with counts as by :func:`counts_array`."""
    n_images = integer(n_images, "n_images", minimum=1, fix="pass e.g. n_images=1000")
    seed_value = seed(seed_value)
    counts_value = counts_array(counts_value, n_images)
    keep_examples = integer(keep_examples, "keep_examples", minimum=0,
                            fix="pass e.g. keep_examples=16, or 0 for none")
    if not isinstance(keep_shifts, (bool, np.bool_)):
        raise TypeError(
            f"keep_shifts must be True or False, got {keep_shifts!r}. Fix: pass keep_shifts=False "
            "to keep only the shift histogram."
        )
    return n_images, seed_value, counts_value, keep_examples, bool(keep_shifts)


def size(value: Any) -> int:
    """Side of the square reference: an integer ``>= MIN_SIZE``."""
    return integer(value, "size", minimum=MIN_SIZE, fix="use e.g. size=128 (--size 128)")


def shape(value: Any, name: str = "shape", *, minimum: int = 1) -> tuple[int, int]:
    """An image shape ``(H, W)``: a pair of integers, each ``>= minimum``.

    Raises
    ------
    TypeError
        ``value`` is not a pair of integers.
    ValueError
        A side is smaller than ``minimum``.
    """
    fix = f"pass a pair (H, W) of integers >= {minimum}, e.g. {name}=(128, 128)"
    try:
        dims = tuple(value)
    except TypeError:  # not iterable: the same error as a wrong pair, below
        dims = ()
    if len(dims) != 2 or not all(is_int(d) for d in dims):
        raise TypeError(f"{name} must be a pair (H, W) of integers, got {value!r}.{_fix(fix)}")
    h, w = int(dims[0]), int(dims[1])
    if h < minimum or w < minimum:
        raise ValueError(f"{name} must have sides >= {minimum}, got {(h, w)}.{_fix(fix)}")
    return h, w


def default_workers() -> int:
    """Number of CPU cores this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def workers(value: Any, *, default: int | None = None) -> int:
    """Number of threads: a positive integer; None gives ``default`` (all cores if None)."""
    if value is None:
        return default_workers() if default is None else default
    return integer(value, "workers", minimum=1,
                   fix="pass e.g. workers=2 (--workers 2), or None for all cores")


def real(value: Any, name: str, *, low: float = -np.inf, high: float = np.inf,
         include_low: bool = False, include_high: bool = True, fix: str = "") -> float:
    """``value`` as a ``float``, checked to be a finite real number in ``(low, high]``.

    ``include_low`` / ``include_high`` close or open the ends (default ``(low, high]``).

    Parameters
    ----------
    value : object
        The value to check (a Python or numpy integer or float; never a bool).
    name : str
        Argument name used in the messages.
    low, high : float, optional
        Open lower bound and upper bound of the accepted interval.
    include_low, include_high : bool, optional
        Whether ``low`` (default no) and ``high`` (default yes) themselves are accepted.
    fix : str, optional
        Advice appended to the message; a generic one if empty.

    Raises
    ------
    TypeError
        ``value`` is not a real number.
    ValueError
        ``value`` is not finite or lies outside the interval.
    """
    fix = fix or f"pass a number in the range, e.g. {name}=1"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {_got(value)}.{_fix(fix)}")
    value = float(value)
    inside = (low <= value if include_low else low < value) and (
        value <= high if include_high else value < high)
    if not (np.isfinite(value) and inside):
        if np.isinf(high):
            what = ("a positive number" if low == 0 and not include_low
                    else f"a finite number {'>=' if include_low else '>'} {low:g}")
        else:
            what = (f"in {'[' if include_low else '('}{low:g}, {high:g}"
                    f"{']' if include_high else ')'}")
        raise ValueError(f"{name} must be {what}, got {value!r}.{_fix(fix)}")
    return value


def max_shift(value: Any) -> int | None:
    """The largest searched shift per axis in pixels: an integer ``>= 0``, or None (whole box)."""
    if value is None:
        return None
    fix = "pass e.g. max_shift=10 (--max-shift 10), 0 for no shift, or None for the whole box"
    if not is_int(value):
        raise TypeError(f"max_shift must be a non-negative integer (pixels) or None, got "
                        f"{_got(value)}.{_fix(fix)}")
    return integer(value, "max_shift", minimum=0, fix=fix)


def mask_radius(value: Any) -> float | None:
    """Radius in pixels of the soft circular mask: a positive finite number, or None (no mask)."""
    if value is None:
        return None
    return real(value, "mask_radius", low=0.0,
                fix="pass a positive number of pixels, e.g. mask_radius=20 (--mask-radius 20)")


def block_size(value: Any) -> int | None:
    """Images per streamed block: a positive integer, or None (the caller's default)."""
    if value is None:
        return None
    return integer(value, "block_size", minimum=1,
                   fix="pass e.g. block_size=1024 (--block-size 1024), or None for the default")


def real_array(x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``numpy.asarray(x)`` checked to hold real numbers (integers or floats).

    The array is returned as converted by :func:`numpy.asarray` (no copy, no dtype change).

    Parameters
    ----------
    x : array_like
    name : str
        Argument name used in the messages.
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions (any if None).

    Raises
    ------
    TypeError
        ``x`` cannot be converted to an array (e.g. ragged lists), or its dtype is bool,
        complex, object or string.
    ValueError
        ``x.ndim`` is not in ``ndim``.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # e.g. ragged nested lists
        raise TypeError(
            f"{name} must be a numeric array, could not convert it: {exc}. "
            "Fix: pass a rectangular array of numbers."
        ) from None
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        advice = ("pass the real image (e.g. np.real(...) or np.abs(...)), not its Fourier "
                  "transform" if np.iscomplexobj(arr)
                  else "convert it, e.g. with np.asarray(x, dtype=np.float32)")
        raise TypeError(
            f"{name} must hold real numbers (integer or float), got dtype {arr.dtype}. "
            f"Fix: {advice}."
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(
                f"{name} must be a {want} array, got shape {arr.shape}. "
                f"Fix: pass a {want} array."
            )
    return arr


def image_array(x: Any, name: str, *, stack: bool = False) -> np.ndarray:
    """:func:`real_array` checked to be one image ``(H, W)`` of at least 2 x 2 pixels.

    With ``stack=True`` a stack ``(N, H, W)`` of such images is accepted too. The array is
    returned as :func:`numpy.asarray` gives it.

    Raises
    ------
    TypeError
        As :func:`real_array`.
    ValueError
        Another number of dimensions, or a side under 2 pixels.
    """
    arr = real_array(x, name)
    if arr.ndim not in ((2, 3) if stack else (2,)):
        want, fix = (("one image (H, W) or a stack (N, H, W)", "one image or a stack, e.g. "
                      "reshape(-1, H, W)") if stack else ("a 2-D image (H, W)", "a single "
                                                          "grey-level image"))
        raise ValueError(
            f"{name} must be {want}, got an array of shape {arr.shape}. Fix: pass {fix}."
        )
    if arr.shape[-2] < 2 or arr.shape[-1] < 2:
        raise ValueError(
            f"{name} must be at least 2 x 2 pixels, got shape {arr.shape}. Fix: pass larger images."
        )
    return arr


def dataset(data: Any, what: str) -> Any:
    """``data`` itself when it is an :class:`xarray.Dataset`; TypeError otherwise.

    ``what`` names the caller in the message (e.g. ``"experiment_figure"``). xarray is imported
    only here, when the check runs.
    """
    import xarray as xr

    if not isinstance(data, xr.Dataset):
        raise TypeError(
            f"{what} needs an xarray.Dataset (the result of fiji_bridge.einstein_from_noise); "
            f"got {type(data).__name__}. Fix: pass the Dataset itself, not one of its variables."
        )
    return data


#: ``display=`` / ``--display`` choices: use ``$DISPLAY`` or a private Xvfb, always a private
#: Xvfb, only ``$DISPLAY``, or no display at all (see :func:`fiji_bridge.imagej.start`).
DISPLAY_MODES = ("auto", "xvfb", "existing", "headless")


def display(value: Any) -> str:
    """One of :data:`DISPLAY_MODES`; ValueError otherwise."""
    if value not in DISPLAY_MODES:
        raise ValueError(f"display={value!r} is not one of {DISPLAY_MODES}. "
                         "Fix: --display auto.")
    return value


def fht_size(height: int, width: int) -> None:
    """ValueError unless ``height == width`` is a power of two ``>= 2`` (ImageJ's FHT needs it)."""
    if height != width or width < 2 or width & (width - 1):
        raise ValueError(
            f"ImageJ's FHT needs a square image whose side is a power of 2; got {height}x{width}. "
            "Fix: use --size 128 (or 64, 256, ...), or --engine numpy for other sizes."
        )


def human_bytes(n: float) -> str:
    """A size for messages: ``"1.3 MiB"``, ``"208.0 KiB"``, ``"12 B"`` (never ``"0.00 GiB"``).

    The unit is the largest power of 1024 that leaves at least 1 before the point; one
    decimal.
    """
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def memory_available() -> int | None:
    """Bytes of memory available to a new job (``MemAvailable`` of ``/proc/meminfo``), or None
    where the system does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def fits_in_memory(needed_bytes: float, what: str, *, fix: str) -> None:
    """ValueError when ``needed_bytes`` exceed the memory available now (:func:`memory_available`).

    The message reads ``"<what> needs about 6.2 GiB of memory, 3.1 GiB available. Fix: ..."``.
    Nothing is checked where the system does not report its available memory.
    """
    available = memory_available()
    if available is not None and needed_bytes > available:
        raise ValueError(f"{what} needs about {human_bytes(needed_bytes)} of memory, "
                         f"{human_bytes(available)} available.{_fix(fix)}")
