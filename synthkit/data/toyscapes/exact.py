"""Small bit-exact numeric helpers of the Toyscapes renderer (only +, -, *, /, floor, comparisons: the same bytes on
every machine, see the package docstring)."""
from __future__ import annotations

import functools

import numpy as np

# --------------------------------------------------------------------------------------------------------------------
# Small exact helpers
# --------------------------------------------------------------------------------------------------------------------

def _tri(x: np.ndarray) -> np.ndarray:
    """Triangle wave with period 1 in [0, 1]: a sin-free, bit-exact stand-in for 0.5 + 0.5 cos(2 pi x)."""
    return np.abs(2.0 * (x - np.floor(x)) - 1.0)


def _sq(x):
    """x * x (not x ** 2, which may go through the platform's pow())."""
    return x * x


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


@functools.lru_cache(maxsize=64)
def _interp_table(size: int, grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear lookup of a (grid+1)-point lattice at the `size` pixel centres: (i0, i1, w1)."""
    u = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * np.float32(grid / size)
    i0 = np.floor(u).astype(np.int64)
    out = (i0, np.minimum(i0 + 1, grid), (u - i0).astype(np.float32))
    for a in out:
        a.setflags(write=False)  # shared by every render at this size
    return out


def _value_noise(lattice: np.ndarray, size: int, r0: int, r1: int) -> np.ndarray:
    """Bilinear value noise in [0, 1] on rows r0:r1 of a size x size image; lattice is [g+1, g+1] float32.

    The lattice is drawn at a fixed resolution, so the noise is the same function of normalised position at any size.
    """
    g = lattice.shape[0] - 1
    i0, i1, w = _interp_table(size, g)
    rows = lattice[:, i0] * (1 - w) + lattice[:, i1] * w                      # [g+1, W]
    a, b, wy = i0[r0:r1], i1[r0:r1], w[r0:r1, None]
    return rows[a] * (1 - wy) + rows[b] * wy                                   # [r1-r0, W]


def _curve(x: np.ndarray, xp: np.ndarray, yp: np.ndarray) -> np.ndarray:
    """Piecewise-linear curve through (xp, yp) evaluated at x (clamped at the ends).

    Like np.interp, but built from separate ufuncs, so no compiler can fuse a multiply-add and the result is
    bit-identical on every platform.
    """
    x = np.asarray(x, np.float64)
    k = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, len(xp) - 2)
    x0, x1, y0, y1 = xp[k], xp[k + 1], yp[k], yp[k + 1]
    t = np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
    return y0 + t * (y1 - y0)


@functools.lru_cache(maxsize=16)
def _centres(size: int) -> np.ndarray:
    """Normalised pixel-centre coordinates (i + 0.5) / size, float32 [size]."""
    xs = (np.arange(size, dtype=np.float32) + np.float32(0.5)) / np.float32(size)
    xs.setflags(write=False)
    return xs
