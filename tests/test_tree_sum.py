"""fiji_bridge.tree_sum: the fixed pairwise tree gives the same bits for any grouping."""

import numpy as np
import pytest

from fiji_bridge.tree_sum import TreeFolder, combine, leaf


def _leaves(n, counts_per_leaf=1, seed=0):
    """n leaves of random float64 sums (values that round differently in different orders),
    each with a partial sum at one count inside it."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n):
        s = rng.standard_normal(5) * 10.0 ** rng.integers(-8, 8, 5)
        part = s * rng.random(5)
        out.append(leaf((s,), {10 * b + 7: (part,)}))
    return out


def _canonical(leaves, lo, size):
    """The definition: the padded binary tree over leaves[lo:lo+size], recursively."""
    if size == 1:
        return leaves[lo] if lo < len(leaves) else None
    left = _canonical(leaves, lo, size // 2)
    right = _canonical(leaves, lo + size // 2, size // 2)
    if right is None:
        return left
    if left is None:  # pragma: no cover - a right subtree is never filled before its left
        return right
    return combine(left, right)


def _fold(leaves, group):
    """Fold the leaves in aligned groups of ``group`` (a task each), then the groups."""
    level = group.bit_length() - 1
    outer = TreeFolder()
    for g in range(0, len(leaves), group):
        inner = TreeFolder()
        for node in leaves[g : g + group]:
            inner.push(0, node)
        outer.push(level, inner.result())
    return outer.result()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 31])
def test_any_grouping_gives_the_canonical_bits(n):
    leaves = _leaves(n)
    size = 1 << (n - 1).bit_length()
    want = _canonical(leaves, 0, size)
    for group in (1, 2, 4, 8, 64):
        got = _fold(leaves, group)
        np.testing.assert_array_equal(got["sums"][0], want["sums"][0])
        assert got["prefix"].keys() == want["prefix"].keys()
        for c in want["prefix"]:
            np.testing.assert_array_equal(got["prefix"][c][0], want["prefix"][c][0])


def test_prefix_sums_are_the_sums_of_the_earlier_leaves_plus_the_partial():
    leaves = _leaves(6, seed=1)
    root = _fold(leaves, 2)
    for b, node in enumerate(leaves):
        earlier = sum((x["sums"][0] for x in leaves[:b]), np.zeros(5))
        np.testing.assert_allclose(root["prefix"][10 * b + 7][0],
                                   earlier + node["prefix"][10 * b + 7][0], rtol=1e-12, atol=0)
    np.testing.assert_allclose(root["sums"][0], sum(x["sums"][0] for x in leaves), rtol=1e-12)


def test_a_folder_with_nothing_pushed_refuses():
    with pytest.raises(ValueError):
        TreeFolder().result()
