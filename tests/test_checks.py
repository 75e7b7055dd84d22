"""fiji_bridge.checks: the one error policy (TypeError for a type, ValueError for a value)."""

import numpy as np
import pytest

from fiji_bridge import checks

NOT_INTS = [True, False, np.bool_(True), 25.0, np.float64(25), 2.5, "25", None, [3], 1 + 0j]


@pytest.mark.parametrize("x", [0, 1, -3, 2**70, np.int8(5), np.uint64(2**63), np.int64(-1)])
def test_is_int_accepts_python_and_numpy_ints(x):
    assert checks.is_int(x)


@pytest.mark.parametrize("x", NOT_INTS)
def test_is_int_rejects_bools_floats_and_others(x):
    assert not checks.is_int(x)


def test_integer_returns_python_int_at_the_border():
    out = checks.integer(np.int16(3), "k", minimum=3)
    assert out == 3 and type(out) is int
    assert checks.integer(2**80, "k", minimum=1) == 2**80
    assert checks.integer(-(2**80), "k") == -(2**80)


@pytest.mark.parametrize("x", NOT_INTS)
def test_integer_wrong_type_is_type_error_with_fix(x):
    with pytest.raises(TypeError, match=r"^k must be an integer >= 1, got .*\. Fix: use k=7\.$"):
        checks.integer(x, "k", minimum=1, fix="use k=7")


def test_integer_below_minimum_is_value_error_with_fix():
    with pytest.raises(ValueError, match=r"^k must be >= 3, got 2\. Fix: pass a whole number"):
        checks.integer(2, "k", minimum=3)


@pytest.mark.parametrize("good", [0, 1, 2013, 2**64, np.uint32(7)])
def test_seed_accepts_non_negative_ints(good):
    assert checks.seed(good) == int(good)


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (np.int64(-5), ValueError),
                                     (1.0, TypeError), (True, TypeError), ("1", TypeError),
                                     (None, TypeError)])
def test_seed_rejects(bad, exc):
    with pytest.raises(exc, match=r"seed .*Fix: pass a non-negative integer"):
        checks.seed(bad)


def test_counts_sorted_unique_python_ints():
    out = checks.counts([100, 25, np.int64(100), 1])
    assert out == (1, 25, 100) and all(type(c) is int for c in out)
    assert checks.counts(5) == (5,)
    assert checks.counts(np.array([[4, 2], [2, 9]])) == (2, 4, 9)
    assert checks.counts((3, 7), maximum=7) == (3, 7)


@pytest.mark.parametrize("bad", [[25.0], [2.5], ["25"], "25", 25.0, None, [True], np.array([1.0])])
def test_counts_wrong_type_is_type_error(bad):
    with pytest.raises(TypeError, match="Fix: "):
        checks.counts(bad)


@pytest.mark.parametrize("bad,kwargs,match", [([], {}, "empty"), ([0, 5], {}, ">= 1, got 0"),
                                              ([-3], {}, ">= 1"), ([3, 8], {"maximum": 7},
                                                                   "<= 7 .*got 8")])
def test_counts_wrong_value_is_value_error(bad, kwargs, match):
    with pytest.raises(ValueError, match=match):
        checks.counts(bad, **kwargs)


@pytest.mark.parametrize("side", [checks.MIN_SIZE, checks.MIN_SIZE + 1, 128, np.int32(64)])
def test_size_accepts_odd_and_even_from_min_size(side):
    assert checks.size(side) == int(side)


@pytest.mark.parametrize("bad,exc", [(checks.MIN_SIZE - 1, ValueError), (0, ValueError),
                                     (-128, ValueError), (128.0, TypeError), (True, TypeError)])
def test_size_rejects(bad, exc):
    with pytest.raises(exc, match=r"size .*Fix: use e\.g\. size=128"):
        checks.size(bad)


def test_shape():
    assert checks.shape((np.int64(3), 5)) == (3, 5)
    assert checks.shape([2, 2], "s", minimum=2) == (2, 2)
    for bad in [(3,), (3, 4, 5), 7, (3.0, 4), (True, 4), "ab"]:
        with pytest.raises(TypeError, match="pair"):
            checks.shape(bad)
    with pytest.raises(ValueError, match=r">= 2, got \(1, 5\)"):
        checks.shape((1, 5), minimum=2)


def test_workers():
    assert checks.workers(None, default=3) == 3
    assert checks.workers(None) == checks.default_workers() >= 1
    assert checks.workers(np.int64(2)) == 2
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        checks.workers(0)
    with pytest.raises(TypeError, match="workers"):
        checks.workers(2.0)


def test_block_size():
    assert checks.block_size(None) is None
    assert checks.block_size(1) == 1
    assert checks.block_size(np.int64(100)) == 100  # rounding to RNG blocks is the engine's job
    with pytest.raises(ValueError, match="block_size must be >= 1"):
        checks.block_size(-64)
    with pytest.raises(TypeError, match="block_size"):
        checks.block_size(False)


@pytest.mark.parametrize("x", [[[1, 2], [3, 4]], np.zeros((2, 3), np.uint8),
                               np.zeros(4, np.float16)])
def test_real_array_returns_asarray_unchanged(x):
    arr = checks.real_array(x, "x")
    assert arr.dtype == np.asarray(x).dtype and np.array_equal(arr, np.asarray(x))
    if isinstance(x, np.ndarray):
        assert arr is x


@pytest.mark.parametrize("x,match", [(np.ones(3, complex), "np.real"),
                                     (np.ones(3, bool), "bool"),
                                     (np.array(["a"]), "<U1"),
                                     (np.array([1, None], dtype=object), "object"),
                                     ([[1, 2], [3]], "could not convert")])
def test_real_array_non_real_is_type_error(x, match):
    with pytest.raises(TypeError, match=match):
        checks.real_array(x, "x")


def test_real_array_ndim():
    assert checks.real_array(np.zeros((2, 2)), "x", ndim=(2, 3)).ndim == 2
    with pytest.raises(ValueError, match=r"x must be a 2-D or 3-D array, got shape \(4,\)"):
        checks.real_array(np.zeros(4), "x", ndim=(2, 3))
    with pytest.raises(ValueError, match="3-D"):
        checks.real_array(np.zeros((2, 2)), "x", ndim=3)


@pytest.mark.parametrize("side", [2, 4, 64, 128, 2**12])
def test_fht_size_accepts_square_powers_of_two(side):
    assert checks.fht_size(side, side) is None


@pytest.mark.parametrize("h,w", [(1, 1), (0, 0), (96, 96), (127, 127), (128, 64), (3, 3)])
def test_fht_size_rejects(h, w):
    with pytest.raises(ValueError, match=rf"got {h}x{w}\. Fix: use --size 128"):
        checks.fht_size(h, w)


def test_checks_imports_nothing_from_fiji_bridge():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(checks))
    modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in modules if m.startswith(("fiji_bridge", "."))]


def test_image_array():
    img = np.zeros((2, 3), np.int16)
    assert checks.image_array(img, "x") is img
    assert checks.image_array(np.zeros((0, 2, 2)), "x", stack=True).shape == (0, 2, 2)
    with pytest.raises(ValueError, match=r"x must be a 2-D image \(H, W\), got .*\(1, 2, 2\)\. Fix"):
        checks.image_array(np.zeros((1, 2, 2)), "x")
    with pytest.raises(ValueError, match=r"one image \(H, W\) or a stack.*\(4,\)\. Fix"):
        checks.image_array(np.zeros(4), "x", stack=True)
    for bad in [np.zeros((1, 5)), np.zeros((3, 5, 1))]:
        with pytest.raises(ValueError, match=r"at least 2 x 2 pixels.*Fix: pass larger images"):
            checks.image_array(bad, "x", stack=True)
    with pytest.raises(TypeError, match="real numbers"):
        checks.image_array(np.zeros((2, 2), complex), "x")


def test_human_bytes_is_readable_at_every_scale():
    assert [checks.human_bytes(n) for n in (12, 208556, 1.3 * 2**20, 5 * 2**30, 3 * 2**40)] == [
        "12 B", "203.7 KiB", "1.3 MiB", "5.0 GiB", "3.0 TiB"]


def test_fits_in_memory_reads_memavailable_and_refuses_with_both_sizes():
    available = checks.memory_available()
    if available is None:
        pytest.skip("this system does not report MemAvailable in /proc/meminfo")
    checks.fits_in_memory(available // 2, "half of it", fix="nothing")
    with pytest.raises(ValueError, match=r"twice it needs about [\d.]+ [KMGT]iB of memory, "
                                         r"[\d.]+ [KMGT]iB available\. Fix: use fewer images\."):
        checks.fits_in_memory(2 * available, "twice it", fix="use fewer images")


def test_dataset_accepts_a_dataset_and_rejects_one_of_its_variables():
    import xarray as xr

    data = xr.Dataset({"cc": ("count", np.zeros(2))})
    assert checks.dataset(data, "caller") is data
    with pytest.raises(TypeError, match="caller needs an xarray.Dataset.*DataArray.*Fix"):
        checks.dataset(data["cc"], "caller")
