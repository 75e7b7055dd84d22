"""The user's search space of an alignment: limited shifts and a soft circular mask (numpy).

Alignment programs do not search every cyclic shift of the box: they limit the shifts
(``max_shift``) and mask the particles and the reference with a soft circular mask before
correlating (RELION's ``--particle_diameter`` with ``--width_mask_edge``). The template bias
grows with the number of poses searched, so :func:`fiji_bridge.align.align_to_reference` takes
both (issue 12).

Shift convention (as :mod:`fiji_bridge.align`): map pixel ``(iy, ix)`` of a non-centred
``(H, W)`` correlation map holds the shift ``dy = (iy + H//2) % H - H//2`` (and ``dx``
likewise), see :func:`signed_shift`.
"""

from __future__ import annotations

import numpy as np

from fiji_bridge import checks

__all__ = ["MASK_EDGE", "mask_or_none", "record", "search_window", "signed_shift",
           "soft_circular_mask"]

#: Width in pixels of the raised-cosine edge of :func:`soft_circular_mask` (RELION's default
#: ``--width_mask_edge``).
MASK_EDGE = 5.0


def signed_shift(index, n: int):
    """Wrap map indices ``0..n-1`` into signed shifts ``[-(n//2), n - n//2 - 1]``.

    ``(index + n // 2) % n - n // 2``; works on ints and integer arrays.
    """
    return (index + n // 2) % n - n // 2


def search_window(shape, max_shift) -> np.ndarray:
    """Flat indices of the non-centred map pixels whose shift is within ``max_shift``.

    The signed shift of map pixel ``(iy, ix)`` is ``dy = (iy + H//2) % H - H//2`` (and ``dx``
    likewise, :func:`signed_shift`); the window holds the pixels with ``|dy| <= max_shift``
    and ``|dx| <= max_shift``, in C order (so the first maximum found in it is the first in C
    order). A ``max_shift`` at least half the box keeps the whole map.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the maps.
    max_shift : int
        Largest absolute shift per axis, in pixels (>= 0; :func:`fiji_bridge.checks.max_shift`).

    Returns
    -------
    numpy.ndarray
        int64 sorted flat indices into an ``(H, W)`` map.
    """
    s = checks.max_shift(max_shift)
    if s is None:
        raise TypeError("max_shift must be a non-negative integer (pixels), got None. "
                        "Fix: pass e.g. max_shift=10, or do not build a window for the whole box.")
    h, w = (int(v) for v in shape)
    dy = np.abs(signed_shift(np.arange(h), h))
    dx = np.abs(signed_shift(np.arange(w), w))
    return np.flatnonzero((dy[:, None] <= s) & (dx[None, :] <= s)).astype(np.int64)


def soft_circular_mask(shape, radius, *, edge=MASK_EDGE) -> np.ndarray:
    r"""Soft circular mask centred in the box, as cryo-EM programs apply to particles.

    With ``r`` the distance of pixel ``(y, x)`` from the box centre ``(H//2, W//2)`` (the
    particle centre of RELION and ImageJ)::

        m = 1                                   for r <= radius
        m = (1 + cos(pi (r - radius) / edge)) / 2 for radius < r < radius + edge
        m = 0                                   for r >= radius + edge

    a raised-cosine edge of ``edge`` pixels (RELION's ``--particle_diameter`` mask with
    ``--width_mask_edge 5`` and ``--zero_mask``: zero, not noise, outside).

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    radius : float
        Radius in pixels of the flat part (> 0; :func:`fiji_bridge.checks.mask_radius`).
    edge : float, optional
        Width in pixels of the soft edge (>= 0; 0 gives a hard mask).

    Returns
    -------
    numpy.ndarray
        float32 ``(H, W)`` in ``[0, 1]``.
    """
    radius = checks.mask_radius(radius)
    if radius is None:
        raise TypeError("mask_radius must be a positive number of pixels, got None. "
                        "Fix: pass e.g. mask_radius=20.")
    edge = checks.real(edge, "edge", low=0.0, include_low=True,
                       fix="pass edge=5 (pixels), or 0 for a hard mask")
    h, w = (int(v) for v in shape)
    y = np.arange(h) - h // 2
    x = np.arange(w) - w // 2
    r = np.hypot(y[:, None], x[None, :])
    if edge == 0:
        return (r <= radius).astype(np.float32)
    t = np.clip((r - radius) / edge, 0.0, 1.0)
    return (0.5 * (1.0 + np.cos(np.pi * t))).astype(np.float32)


def mask_or_none(shape, mask_radius) -> np.ndarray | None:
    """:func:`soft_circular_mask` of ``shape`` and ``mask_radius``, or None when it is None."""
    return None if mask_radius is None else soft_circular_mask(shape, mask_radius)


def record(max_shift, mask_radius) -> dict | None:
    """``{"max_shift", "mask_radius", "mask_edge"}`` for a results file, or None (whole box).

    None when both are None: every shift of the box searched, no mask. The values are taken as
    checked (:func:`fiji_bridge.checks.max_shift`, :func:`fiji_bridge.checks.mask_radius`).
    """
    if max_shift is None and mask_radius is None:
        return None
    return {"max_shift": max_shift, "mask_radius": mask_radius, "mask_edge": MASK_EDGE}
