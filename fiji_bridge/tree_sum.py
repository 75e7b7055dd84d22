"""Sums of summation blocks in a fixed pairwise tree, so that any split gives the same bits.

The float64 sums of a streamed alignment are kept per block of consecutive images (see
:mod:`fiji_bridge.fourier_engine`). Adding the block sums one by one on the client makes the
client the bottleneck of a cluster; adding them in whatever order tasks finish would change the
last bits from run to run. Here they are added in one fixed shape, whoever computes it:

* block ``b`` is leaf ``b`` of a binary tree over the blocks ``0 .. n_blocks - 1``, padded on
  the right to a power of two with empty leaves;
* a node's sums are ``left + right`` (an empty right subtree adds nothing, exactly);
* the prefix sum up to a requested count ``c`` (image ``c - 1`` in block ``b``) is defined
  recursively: inside the leaf it is the block's partial sum (its images up to ``c``, summed in
  image order), and in a node it is ``left.prefix(c)`` when ``b`` is in the left subtree, else
  ``left.sums + right.prefix(c)``.

Any aligned group of ``2**k`` blocks is a subtree, so a task that owns such a group can fold it
on its own (on a Dask worker), and the task results are folded the same way by
:class:`TreeFolder` (on the workers too, with :func:`combine` submitted as tasks): the bits
never depend on the task size, the thread count or the number of workers.

A node is a dict ``{"sums": tuple of arrays, "prefix": {count: tuple of arrays}}``.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["TreeFolder", "combine", "leaf"]


def leaf(sums: tuple, prefix: dict) -> dict:
    """The node of one block: its sums and its partial sums ``{count: sums up to count}``."""
    return {"sums": tuple(sums), "prefix": dict(prefix)}


def combine(left: dict, right: dict) -> dict:
    """The node of two sibling subtrees (``left`` holds the earlier images)."""
    base = left["sums"]
    prefix = dict(left["prefix"])
    for count, part in right["prefix"].items():
        prefix[count] = tuple(a + p for a, p in zip(base, part))
    return {"sums": tuple(a + b for a, b in zip(base, right["sums"])), "prefix": prefix}


class TreeFolder:
    """Fold subtrees pushed left to right into the canonical tree (module docstring).

    ``push(level, node)`` takes the next subtree of ``2**level`` leaves (every push but the
    last must be a complete, aligned subtree, i.e. pushes at one level, or decreasing levels);
    equal levels are combined as soon as both are there (a binary counter: at most one pending
    node per level). :meth:`result` folds what is left from the right, which is the padded
    tree. ``combine`` may return a future (e.g. ``client.submit(tree_sum.combine, a, b)``).
    """

    def __init__(self, combine_fn: Callable[[Any, Any], Any] = combine):
        self._combine = combine_fn
        self._stack: list[tuple[int, Any]] = []

    def push(self, level: int, node: Any) -> None:
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            node = self._combine(left, node)
            level += 1
        self._stack.append((level, node))

    def result(self) -> Any:
        if not self._stack:
            raise ValueError("nothing was pushed")  # internal invariant
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = self._combine(left, node)
        return node
