"""Page geometry: quarter-turn orientation and perspective rectification of photographed pages.

Two problems that the fine deskew (:func:`ecgdigitize.preprocess.estimate_rotation`, ±15°) does
not solve:

- **Orientation.** A page scanned in portrait (rotated by 90° or 270°) or upside down (180°).
  Trace rows are functions of time, so on an upright page every column crosses each row's
  trace once and the number of ink runs per column is nearly constant, while the number per
  row varies wildly (many on a baseline, none between rows); :func:`trace_direction_score`
  compares the two. Upright and upside-down pages are told apart by the calibration pulses,
  which always rise above their baseline (:func:`upright_evidence`), and, without pulses, by
  the upward skew of ECG waveforms (R and T waves).
- **Perspective.** A phone photo maps the page by a homography: grid lines stay straight but
  each family converges to a vanishing point. :func:`line_angles` measures the local direction
  of horizontal and vertical lines in tiles of the page, :func:`fit_vanishing_point` fits each
  family's vanishing point, and :func:`estimate_page_homography` builds the homography that
  sends both to infinity along the axes (affine rectification from the vanishing line, Hartley
  & Zisserman, *Multiple View Geometry*, 2nd ed., §2.7, followed by the affine map that makes
  the two directions the image axes).

All functions are pure: arrays in, small frozen dataclasses out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LineAngles",
    "Orientation",
    "PageHomography",
    "estimate_orientation",
    "estimate_page_homography",
    "fit_vanishing_point",
    "line_angles",
    "rectify",
    "trace_direction_score",
    "trace_mask_for_orientation",
    "upright_evidence",
]

# A landscape ECG page is about 280 mm wide: the scale prior used before the grid is measured.
_PAGE_LONG_SIDE_MM = 280.0


# --------------------------------------------------------------------------------------------
# Perspective
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineAngles:
    """Local direction of one family of lines, measured tile by tile.

    Attributes
    ----------
    centres : (T, 2) float array
        Tile centres, (x, y) pixels.
    angles_deg : (T,) float array
        For horizontal lines, the angle of the line from the x axis (y grows downward, so a
        line going down to the right is positive). For vertical lines, the angle of the line
        from the y axis, positive when the line leans left going down; with these conventions
        a rotation of the page changes both families by the same angle.
    confidence : (T,) float array
        Sharpness of the best angle over the median sharpness of all angles tried (about 1 when
        the tile shows no straight lines, 5–15 on a printed grid).
    """

    centres: np.ndarray
    angles_deg: np.ndarray
    confidence: np.ndarray


@dataclass(frozen=True)
class PageHomography:
    """A rectifying homography for a page seen in perspective.

    Attributes
    ----------
    matrix : (3, 3) float array
        Maps image pixel coordinates ``(x, y, 1)`` to rectified ones.
    output_size : (int, int)
        Width and height of the rectified image.
    distortion_deg : float
        How far the page was from a pure rotation: the largest spread of line angles across
        the image within a family, or the skew between the two families at its centre.
    vertical_lines_used : bool
        False when only horizontal structure was reliable (no vertical grid lines, e.g. a
        page without a grid); the vertical direction was then assumed perpendicular.
    """

    matrix: np.ndarray
    output_size: tuple[int, int]
    distortion_deg: float
    vertical_lines_used: bool


def _strip_profiles(
    img: np.ndarray, n_tiles: tuple[int, int], n_strips: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-sum profiles of `n_strips` vertical strips in each tile, and the geometry."""
    h, w = img.shape
    ny, nx = n_tiles
    th, tw_full = h // ny, w // nx
    sw = tw_full // n_strips
    tw = sw * n_strips
    a = img[: ny * th, : nx * tw_full].reshape(ny, th, nx, tw_full)[:, :, :, :tw]
    a = a.reshape(ny, th, nx, n_strips, sw).sum(axis=4, dtype=np.float64)
    profiles = a.transpose(0, 2, 3, 1).reshape(ny * nx, n_strips, th)
    iy, ix = np.divmod(np.arange(ny * nx), nx)
    centres = np.stack([ix * tw_full + (tw - 1) / 2.0, iy * th + (th - 1) / 2.0], axis=1)
    offsets = (np.arange(n_strips) - (n_strips - 1) / 2.0) * sw
    return profiles, centres, offsets


def line_angles(
    darkness: np.ndarray,
    *,
    n_tiles: tuple[int, int] = (4, 5),
    n_strips: int = 8,
    max_angle_deg: float = 15.0,
    step_deg: float = 0.5,
) -> LineAngles:
    """Angle of the horizontal lines in each tile, by sheared projection profiles.

    Each tile is cut into `n_strips` vertical strips whose row-sum profiles are shifted
    against each other by ``tan(angle) * x`` and summed: the sheared projection profile of the
    tile. Its sharpness (energy of the first difference, the projection-profile criterion of
    document skew estimation; Postl 1986, Bloomberg et al. 1995) peaks at the angle of the
    tile's lines. Shifts are applied exactly in the Fourier domain (shift theorem), and by
    Parseval the sharpness is ``sum_f 4 sin^2(pi f) |sum_k F_k(f) exp(2 pi i f x_k tan a)|^2``,
    so no profile is ever resampled. Search: `step_deg` steps over ±`max_angle_deg`, a
    parabola through the best three, then least-squares parabolas through five points
    ``step_deg / 5`` apart (and again four times closer, until 0.1° or less).

    Parameters
    ----------
    darkness : (H, W) float array
        Darkness map (grid and ink high).
    n_tiles : (int, int)
        Tiles along y and x.
    n_strips : int
        Strips per tile.
    max_angle_deg : float
        Search range, degrees either way.
    step_deg : float
        Step of the coarse search (the sharpness peak of a grid is about 0.5° wide at 200 px
        tiles).

    Returns
    -------
    LineAngles
        Horizontal lines only; call on ``darkness.T`` for vertical lines (the returned angle is
        then minus the vertical-line angle, and the centres are transposed).
    """
    profiles, centres, offsets = _strip_profiles(
        np.asarray(darkness, dtype=np.float32), n_tiles, n_strips
    )
    t, k, th = profiles.shape
    profiles -= profiles.mean(axis=2, keepdims=True)
    n = 2 * th  # zero padding: shifts never wrap around
    spectra = np.fft.rfft(profiles, n=n, axis=2)  # (T, K, F)
    freqs = np.fft.rfftfreq(n)
    weight = 4.0 * np.sin(np.pi * freqs) ** 2
    # |sum_k F_k e^{i theta x_k}|^2 = C_0 + 2 sum_{m>0} Re(C_m e^{i theta m dx}) with the cross
    # spectra C_m = sum_l F_{l+m} conj(F_l) of strips m apart (dx = strip width), so every
    # angle costs one real matrix product.
    cross = np.stack(
        [(spectra[:, m:] * np.conj(spectra[:, : k - m])).sum(axis=1) for m in range(k)], axis=1
    )  # (T, K, F)
    cross *= weight
    cross[:, 1:] *= 2.0
    dx = float(offsets[1] - offsets[0]) if k > 1 else 0.0  # strip width
    c_re = cross.real.reshape(t, -1)
    c_im = cross.imag.reshape(t, -1)

    def sharpness(angles: np.ndarray) -> np.ndarray:
        """Sharpness at `angles`, shape (A,) shared or (T, A) per tile; returns (T, A)."""
        # e^{i theta m dx} for strip distances m = 0 .. K-1, as powers of e^{i theta dx}.
        step = np.exp(1j * (2.0 * np.pi * dx) * np.tan(np.radians(angles))[..., None] * freqs)
        powers = np.empty((*angles.shape, k, freqs.size), dtype=np.complex128)
        powers[..., 0, :] = 1.0
        for m in range(1, k):
            powers[..., m, :] = powers[..., m - 1, :] * step
        powers = powers.reshape(*angles.shape, -1)  # (..., A, K*F)
        if angles.ndim == 1:
            return c_re @ powers.real.T - c_im @ powers.imag.T
        return np.einsum("tm,tam->ta", c_re, powers.real) - np.einsum(
            "tm,tam->ta", c_im, powers.imag
        )

    coarse = np.arange(-max_angle_deg, max_angle_deg + step_deg / 2, step_deg)
    scores = sharpness(coarse)  # (T, A)
    i = np.argmax(scores, axis=1)
    best = coarse[i]
    confidence = scores[np.arange(t), i] / np.maximum(np.median(scores, axis=1), 1e-12)
    inner = (i > 0) & (i < coarse.size - 1)
    ic = np.clip(i, 1, coarse.size - 2)
    a, b, c = (scores[np.arange(t), ic + d] for d in (-1, 0, 1))
    denom = a - 2 * b + c
    ok = inner & (denom < 0)
    best = best + np.where(ok, step_deg * 0.5 * (a - c) / np.where(ok, denom, -1.0), 0.0)

    spacing = step_deg / 5
    while True:
        fine = np.arange(-2, 3) * spacing
        s5 = sharpness(best[:, None] + fine)  # (T, 5)
        # Least-squares parabola through the five points: s = c0 + c1 d + c2 d^2.
        design = np.stack([np.ones_like(fine), fine, fine**2], axis=1)
        coef = np.linalg.lstsq(design, s5.T, rcond=None)[0]  # (3, T)
        concave = coef[2] < 0
        vertex = np.where(concave, -coef[1] / (2 * np.where(concave, coef[2], -1.0)), 0.0)
        vertex = np.where(concave, np.clip(vertex, fine[0], fine[-1]), fine[np.argmax(s5, axis=1)])
        best = best + vertex
        if spacing <= 0.1:
            break
        spacing /= 4
    return LineAngles(centres=centres, angles_deg=best, confidence=confidence.astype(np.float64))


def _directions(angles_deg: np.ndarray, *, vertical: bool) -> np.ndarray:
    """Unit direction vectors (x, y) of lines at `angles_deg` (see :class:`LineAngles`)."""
    a = np.radians(angles_deg)
    if vertical:
        return np.stack([-np.sin(a), np.cos(a)], axis=-1)
    return np.stack([np.cos(a), np.sin(a)], axis=-1)


def _angles_towards(point: np.ndarray, at: np.ndarray, *, vertical: bool) -> np.ndarray:
    """Angle (degrees, :class:`LineAngles` convention) of the lines through `at` towards the
    homogeneous `point`."""
    d = point[:2][None, :] - point[2] * at  # direction from each position to the point
    if vertical:
        ang = np.degrees(np.arctan2(-d[:, 0], d[:, 1]))
    else:
        ang = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
    return (ang + 90.0) % 180.0 - 90.0


def fit_vanishing_point(
    points: np.ndarray, angles_deg: np.ndarray, weights: np.ndarray, *, vertical: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Vanishing point of a family of lines known by one point and direction each.

    The point ``V`` (homogeneous, unit norm) minimises ``sum w_i (l_i . V)^2`` where ``l_i`` is
    the line through ``points[i]`` at ``angles_deg[i]`` with a unit normal (the algebraic
    least-squares estimate, solved by SVD; Hartley & Zisserman §8.6.1). Lines that are nearly
    parallel give a point near infinity (third coordinate near 0), which is represented exactly.

    Parameters
    ----------
    points : (N, 2) float array
        A point on each line, in coordinates of order 1 (centred and scaled).
    angles_deg : (N,) float array
        Line directions (:class:`LineAngles` convention).
    weights : (N,) float array
    vertical : bool
        Whether these are the vertical lines.

    Returns
    -------
    point, residuals_deg
        The vanishing point (3,) and, for each line, the angle between the measured line and
        the line through its point towards the vanishing point.
    """
    d = _directions(angles_deg, vertical=vertical)
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
    lines = np.column_stack([normal, -(normal * points).sum(axis=1)])
    _, _, vt = np.linalg.svd(lines * np.sqrt(np.maximum(weights, 0.0))[:, None])
    point = vt[-1]
    predicted = _angles_towards(point, points, vertical=vertical)
    residual = (predicted - angles_deg + 90.0) % 180.0 - 90.0
    return point, residual


def _robust_vanishing_point(
    family: LineAngles,
    norm: tuple[float, float, float],
    *,
    vertical: bool,
    min_confidence: float,
    min_tiles: int,
    max_residual_deg: float,
) -> np.ndarray | None:
    """Vanishing point of the reliable tiles (normalised coordinates), or None."""
    cx, cy, r = norm
    pts = (family.centres - np.array([cx, cy])) / r
    keep = family.confidence >= min_confidence
    if keep.sum() < min_tiles:
        return None
    point = None
    for _ in range(3):
        point, residual = fit_vanishing_point(
            pts[keep], family.angles_deg[keep], family.confidence[keep], vertical=vertical
        )
        full = (_angles_towards(point, pts, vertical=vertical) - family.angles_deg + 90) % 180
        full -= 90.0
        spread = 1.4826 * float(np.median(np.abs(residual)))
        new_keep = (family.confidence >= min_confidence) & (
            np.abs(full) <= max(max_residual_deg, 3.0 * spread)
        )
        if new_keep.sum() < min_tiles:
            return None
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    assert point is not None
    _, residual = fit_vanishing_point(
        pts[keep], family.angles_deg[keep], family.confidence[keep], vertical=vertical
    )
    if float(np.sqrt(np.mean(residual**2))) > max_residual_deg:
        return None
    return point


def estimate_page_homography(
    darkness: np.ndarray,
    *,
    image_size: tuple[int, int] | None = None,
    n_tiles: tuple[int, int] | None = None,
    max_angle_deg: float = 15.0,
    min_distortion_deg: float = 0.2,
    min_confidence: float = 3.0,
    min_tiles: int = 8,
    max_residual_deg: float = 0.3,
    max_growth: float = 1.6,
    refine_passes: int = 2,
) -> PageHomography | None:
    """Find the homography that undoes the perspective of a photographed page.

    The local direction of horizontal and of vertical lines (grid lines, trace baselines) is
    measured in tiles (:func:`line_angles`); each family's vanishing point is fitted robustly
    (:func:`fit_vanishing_point`, tiles more than ``max(max_residual_deg, 3 sigma)`` off are
    dropped, three passes). The line through the two vanishing points is the image of the
    line at infinity; the projective map that sends it back to infinity, followed by the
    affine map that turns the two (now parallel) families into the x and y axes, rectifies
    the page up to a scale along each axis (Hartley & Zisserman §2.7.1). The map is the
    identity to first order at the image centre, so the scale there is kept.

    When the vertical lines are not reliable (a page without grid), the vertical vanishing
    point is taken at infinity perpendicular to the horizontal lines at the centre.

    Parameters
    ----------
    darkness : (H, W) float array
        Darkness map (grid and ink high), possibly a downscaled copy of the page.
    image_size : (int, int), optional
        Width and height of the image the homography is for, when `darkness` is a downscaled
        copy of it (same aspect ratio); default: the size of `darkness`.
    n_tiles : (int, int), optional
        Tiles along y and x; default 4 x 5 for a landscape image, 5 x 4 for portrait.
    max_angle_deg : float
        Largest line angle searched for, degrees either way.
    min_distortion_deg : float
        Below this departure from a pure rotation (angle spread within a family, or skew
        between them) the page is left alone and None is returned.
    min_confidence, min_tiles, max_residual_deg : float, int, float
        A family is reliable when at least `min_tiles` tiles reach `min_confidence` and agree
        with the fitted vanishing point within `max_residual_deg` (RMS).
    max_growth : float
        Largest growth of the image's width or height accepted (a larger one means a wrong
        fit); None is returned beyond it.
    refine_passes : int
        Passes that measure the lines again on the rectified image and compose the
        correction (under strong perspective the lines within a tile are not parallel, so one
        pass does not remove it all). The first pass accepts weaker evidence (0.7 x
        `min_confidence`, 3 x `max_residual_deg`); the rectified page must then confirm it
        with full evidence, and be within ``2 * min_distortion_deg`` after the last pass,
        otherwise None is returned.

    Returns
    -------
    PageHomography or None
        None when the page shows no significant perspective or no reliable lines.
    """
    dark = np.asarray(darkness, dtype=np.float32)
    h, w = dark.shape
    if min(h, w) < 100:
        return None  # too small for tiles of lines
    # A loose, coarse first pass (1° steps): under strong perspective the lines within a tile
    # are not parallel, so their sharpness peaks are weak; every later pass works on a nearly
    # rectified page, within ±3°.
    first = _rectifying_homography(
        dark,
        n_tiles=n_tiles,
        max_angle_deg=max_angle_deg,
        step_deg=1.0,
        min_tiles=min_tiles,
        min_distortion_deg=min_distortion_deg,
        min_confidence=0.7 * min_confidence,
        max_residual_deg=3.0 * max_residual_deg,
    )
    if first is None or first[0] is None:
        return None
    matrix: np.ndarray = first[0]
    distortion, vertical_used = first[1], first[2]
    for k in range(refine_passes + 1):
        # Measure what is left on the rectified page: compose the correction, or accept.
        placed, size = _on_canvas(matrix, (w, h), max_growth=max_growth)
        if placed is None:
            return None
        warped = _warp(dark, placed, size)
        again = _rectifying_homography(
            warped,
            n_tiles=n_tiles,
            max_angle_deg=3.0,  # what is left after a pass is small
            step_deg=0.5,
            min_tiles=min_tiles,
            min_distortion_deg=0.05,
            min_confidence=min_confidence,
            max_residual_deg=max_residual_deg,
        )
        if again is None or (vertical_used and not again[2]):
            return None  # the rectified page does not confirm the lines found
        if again[0] is None:
            break
        if k == refine_passes:
            if again[1] > 2 * min_distortion_deg:
                return None  # still distorted after every pass: a wrong model
            break
        matrix = again[0] @ placed
    if image_size is not None:
        fw, fh = image_size
        sx, sy = w / fw, h / fh
        # Pixel centres at integers: x_small = (x + 0.5) * s - 0.5.
        down = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1.0]])
        matrix = np.linalg.inv(down) @ matrix @ down
    else:
        fw, fh = w, h
    placed, size = _on_canvas(matrix, (fw, fh), max_growth=max_growth)
    if placed is None:
        return None
    return PageHomography(
        matrix=placed / placed[2, 2],
        output_size=size,
        distortion_deg=distortion,
        vertical_lines_used=vertical_used,
    )


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.warpPerspective(
        image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _on_canvas(
    matrix: np.ndarray, size: tuple[int, int], *, max_growth: float
) -> tuple[np.ndarray | None, tuple[int, int]]:
    """`matrix` followed by the shift that puts the warped image at the origin, and its size.

    None when the warped image would grow beyond `max_growth` times the input along an axis.
    """
    fw, fh = size
    corners = np.array([[0, 0, 1], [fw - 1, 0, 1], [fw - 1, fh - 1, 1], [0, fh - 1, 1]], float)
    mapped = corners @ matrix.T
    if np.any(mapped[:, 2] <= 0):
        return None, (0, 0)
    xy = mapped[:, :2] / mapped[:, 2:3]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    out_w, out_h = int(np.ceil(hi[0] - lo[0])) + 1, int(np.ceil(hi[1] - lo[1])) + 1
    if out_w > max_growth * fw or out_h > max_growth * fh:
        return None, (0, 0)
    shift = np.array([[1.0, 0.0, -lo[0]], [0.0, 1.0, -lo[1]], [0.0, 0.0, 1.0]])
    return shift @ matrix, (out_w, out_h)


def _rectifying_homography(
    dark: np.ndarray,
    *,
    n_tiles: tuple[int, int] | None,
    max_angle_deg: float,
    step_deg: float,
    min_distortion_deg: float,
    min_confidence: float,
    min_tiles: int,
    max_residual_deg: float,
) -> tuple[np.ndarray | None, float, bool] | None:
    """One pass of :func:`estimate_page_homography`.

    Returns None when no family of lines is reliable, else the rectifying matrix (pixels of
    `dark`; None when the distortion is below `min_distortion_deg` or cannot be undone), the
    distortion and whether vertical lines were used.
    """
    h, w = dark.shape
    if n_tiles is None:
        n_tiles = (4, 5) if w >= h else (5, 4)
    horizontal = line_angles(dark, n_tiles=n_tiles, max_angle_deg=max_angle_deg, step_deg=step_deg)
    tr = line_angles(
        np.ascontiguousarray(dark.T),
        n_tiles=(n_tiles[1], n_tiles[0]),
        max_angle_deg=max_angle_deg,
        step_deg=step_deg,
    )
    vertical_family = LineAngles(
        centres=tr.centres[:, ::-1].copy(), angles_deg=-tr.angles_deg, confidence=tr.confidence
    )
    cx, cy, r = (w - 1) / 2.0, (h - 1) / 2.0, max(w, h) / 2.0
    vp_h, vp_v = (
        _robust_vanishing_point(
            family,
            (cx, cy, r),
            vertical=vertical,
            min_confidence=min_confidence,
            min_tiles=min_tiles,
            max_residual_deg=max_residual_deg,
        )
        for family, vertical in ((horizontal, False), (vertical_family, True))
    )
    if vp_h is None and vp_v is None:
        return None
    centre = np.zeros((1, 2))
    vertical_used = vp_v is not None
    if vp_h is None:
        assert vp_v is not None
        a = np.radians(_angles_towards(vp_v, centre, vertical=True)[0])
        vp_h = np.array([np.cos(a), np.sin(a), 0.0])
    if vp_v is None:
        a = np.radians(_angles_towards(vp_h, centre, vertical=False)[0])
        vp_v = np.array([-np.sin(a), np.cos(a), 0.0])

    # Departure from a pure rotation, over the corners and the centre of the image.
    x0, y0, x1, y1 = -cx / r, -cy / r, (w - 1 - cx) / r, (h - 1 - cy) / r
    corners_n = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [0.0, 0.0]])
    ah = _angles_towards(vp_h, corners_n, vertical=False)
    av = _angles_towards(vp_v, corners_n, vertical=True)
    distortion = max(float(np.ptp(ah)), float(np.ptp(av)), abs(float(av[-1] - ah[-1])))
    if distortion < min_distortion_deg:
        return None, distortion, vertical_used

    # Projective part: send the vanishing line l = vp_h x vp_v to infinity.
    line = np.cross(vp_h, vp_v)
    if abs(line[2]) < 1e-12:
        return None
    line = line / line[2]
    if np.any(corners_n[:4] @ line[:2] + 1.0 < 0.3):
        return None  # the vanishing line crosses (or nearly) the image: not a page photo
    projective = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [line[0], line[1], 1.0]])
    # Affine part: the two families' directions become the x and y axes.
    dh = (projective @ vp_h)[:2]
    dv = (projective @ vp_v)[:2]
    dh = dh / np.linalg.norm(dh) * np.sign(dh[0] or 1.0)
    dv = dv / np.linalg.norm(dv) * np.sign(dv[1] or 1.0)
    basis = np.column_stack([dh, dv])
    if abs(np.linalg.det(basis)) < 0.5:
        return None  # the two families are far from perpendicular: not a page
    affine = np.eye(3)
    affine[:2, :2] = np.linalg.inv(basis)
    normalise = np.array([[1 / r, 0, -cx / r], [0, 1 / r, -cy / r], [0, 0, 1.0]])
    matrix = np.linalg.inv(normalise) @ affine @ projective @ normalise
    return matrix, distortion, vertical_used


def rectify(
    rgb: np.ndarray, homography: PageHomography, *, fill: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """Warp a page by a :class:`PageHomography`; uncovered areas get `fill`.

    Bicubic interpolation: it keeps thin traces sharper than bilinear (+0.5 dB pooled SNR on
    rendered perspective photos).
    """
    import cv2

    return cv2.warpPerspective(
        np.ascontiguousarray(rgb),
        homography.matrix,
        homography.output_size,
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )


# --------------------------------------------------------------------------------------------
# Orientation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Orientation:
    """The quarter-turn orientation of a page.

    Attributes
    ----------
    degrees : int
        0, 90, 180 or 270: how far the page is turned counter-clockwise. ``np.rot90(image,
        -degrees // 90)`` makes it upright.
    direction_score : float
        :func:`trace_direction_score` of the page (> 0: trace rows run horizontally).
    pulses_up, pulses_down : int
        Calibration pulses found rising above / hanging below their baseline, once the rows
        run horizontally.
    moment : float
        Upward skew of the trace ink about the baselines, in [-1, 1] (> 0: upright).
    ambiguous : bool
        True when the evidence was weak and the upright reading (0°, or the more likely of
        90°/270°) was kept by default.
    """

    degrees: int
    direction_score: float
    pulses_up: int
    pulses_down: int
    moment: float
    ambiguous: bool


def _remove_long_lines(mask: np.ndarray, *, min_fraction: float) -> np.ndarray:
    """Clear rows and columns holding one unbroken run of ink over `min_fraction` of the mask.

    Grid lines left in the mask run unbroken across the page; a trace's baseline, however
    flat, is broken by every QRS complex, and pulses stacked in one column are separate.
    """
    out = mask.copy()
    for axis in (0, 1):
        lines = mask if axis == 0 else mask.T
        length = lines.shape[1]
        candidates = np.flatnonzero(lines.mean(axis=1) >= min_fraction)
        if candidates.size:
            longest, _ = _longest_runs(lines[candidates])
            full = candidates[longest >= min_fraction * length]
            if axis == 0:
                out[full, :] = False
            else:
                out[:, full] = False
    return out


def trace_mask_for_orientation(
    ink: np.ndarray,
    *,
    px_per_mm: float,
    level_fraction: float = 0.6,
    flattened: bool = False,
    rotation_deg: float = 0.0,
) -> np.ndarray:
    """A rough trace mask from an ink map: background flattened, darkest ink kept, grid removed.

    The threshold is `level_fraction` times the 99.5th percentile of the flattened ink (the
    trace is the darkest thing on the page; 0.6 stays above the major lines of a black grid,
    about 0.45 keeps thin, faint traces). Rows and columns crossed by one unbroken run of ink
    over half the page (grid lines left by a black or black-and-white grid) are cleared, and
    so are pieces under 4 mm (noise, JPEG blocks, dashes left by grid lines, letters). With
    `flattened`, `ink` is taken as already background-flattened. A small page rotation
    (`rotation_deg`, counter-clockwise) is removed from the thresholded mask, not from the ink,
    so that thin lines do not lose their contrast to interpolation.
    """
    import cv2

    from .preprocess import flatten_background

    flat = np.asarray(ink, dtype=np.float32)
    if not flattened:
        flat = flatten_background(flat, window_px=max(15, round(8 * px_per_mm)))
    level = float(np.percentile(flat[::3, ::3], 99.5))
    mask = flat > max(level_fraction * level, 0.08)
    if rotation_deg:
        h, w = mask.shape
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -rotation_deg, 1.0)
        turned = cv2.warpAffine(mask.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR)
        mask = turned > 0.3  # a one-pixel line keeps at least half its weight in one pixel
    mask = _remove_long_lines(mask, min_fraction=0.5)
    binary = mask.astype(np.uint8)
    try:  # 16-bit labels are faster; a very noisy mask may need more labels
        _, labels, stats, _ = cv2.connectedComponentsWithStats(
            binary, connectivity=8, ltype=cv2.CV_16U
        )
    except cv2.error:
        _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    size = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = size >= 4.0 * px_per_mm
    keep[0] = False
    return np.asarray(keep[labels])


def trace_direction_score(mask: np.ndarray) -> float:
    """Whether trace rows run horizontally (> 0) or vertically (< 0) in a binary mask.

    An ECG trace is a function of time: on an upright page each column crosses every row's
    trace once, so the number of ink runs per column is nearly constant, while the number
    per row is large on baselines and zero between rows (the run-length statistics used for
    document orientation, e.g. Le, Thoma & Wechsler, 1994). The score is
    ``log((CV_rows + 0.01) / (CV_columns + 0.01))`` of the run counts over the central 80 % of
    the mask, where CV is the coefficient of variation (0 for an empty mask).
    """
    h, w = mask.shape
    m = np.asarray(mask[h // 10 : h - h // 10, w // 10 : w - w // 10], dtype=np.int8)
    per_column = (np.diff(m, axis=0) == 1).sum(axis=0)
    per_row = (np.diff(m, axis=1) == 1).sum(axis=1)

    def cv(x: np.ndarray) -> float:
        mean = float(x.mean()) if x.size else 0.0
        return float(x.std()) / mean if mean > 0 else 0.0

    # A small floor keeps the score finite for perfectly regular (synthetic) masks.
    return float(np.log((cv(per_row) + 0.01) / (cv(per_column) + 0.01)))


def _longest_runs(window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length and end column of the longest horizontal ink run in each row of `window`."""
    h, w = window.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = window
    d = np.diff(padded, axis=1)
    rows_s, starts = np.nonzero(d == 1)  # row-major order: runs pair up one to one
    _, ends = np.nonzero(d == -1)
    length = np.zeros(h, dtype=np.int64)
    end = np.zeros(h, dtype=np.int64)
    if rows_s.size:
        lengths = ends - starts
        # Per row, the longest run: sort by (row, length) and keep each row's last entry.
        order = np.lexsort((lengths, rows_s))
        last = np.r_[rows_s[order][1:] != rows_s[order][:-1], True]
        pick = order[last]
        length[rows_s[pick]] = lengths[pick]
        end[rows_s[pick]] = ends[pick] - 1
    return length, end


def _has_pulse(
    mask: np.ndarray, baseline: int, x0: int, x1: int, *, px_per_mm: float, above: bool
) -> bool:
    """Whether columns [x0, x1) hold a calibration pulse on one side of the baseline.

    A pulse is a flat top 2.5–14 mm long (0.2 s at 25 or 50 mm/s, with the scale prior's
    slack) 3–25 mm from the baseline, not touching the window's ends, joined to the baseline by
    two vertical strokes (each within 1 mm of an end of the top, as a grid line cleared beside
    a stroke may cut the corner). ECG waves have pointed tops; a grid line spans the window.
    """
    h = mask.shape[0]
    near, far = round(3.0 * px_per_mm), round(25.0 * px_per_mm)
    if above:
        y0, y1 = max(0, baseline - far), max(0, baseline - near)
    else:
        y0, y1 = min(h, baseline + near), min(h, baseline + far)
    if y1 - y0 < 2 or x1 - x0 < 4:
        return False
    window = mask[y0:y1, x0:x1]
    slack = max(1, round(1.0 * px_per_mm))  # a stroke may sit beside the top's end
    length, end = _longest_runs(window)
    start = end - length + 1
    ok = (
        (length >= 2.5 * px_per_mm)
        & (length <= 14.0 * px_per_mm)
        & (start > 0)
        & (end < window.shape[1] - 1)
    )
    for r in np.flatnonzero(ok):
        y = y0 + int(r)
        lo, hi = (y, baseline) if above else (baseline, y + 1)
        if hi - lo < 2:
            continue
        strokes = 0
        for c in (x0 + int(start[r]), x0 + int(end[r])):
            column = mask[lo:hi, max(0, c - slack) : c + slack + 1].any(axis=1)
            strokes += float(column.mean()) >= 0.6
        if strokes == 2:
            return True
    return False


def _longest_stretch(present: np.ndarray, *, max_gap: int) -> tuple[int, int] | None:
    """First and last index of the longest run of True in `present`, bridging short gaps."""
    idx = np.flatnonzero(present)
    if idx.size < 2:
        return None
    breaks = np.flatnonzero(np.diff(idx) > max_gap + 1)
    starts = np.r_[idx[0], idx[breaks + 1]]
    ends = np.r_[idx[breaks], idx[-1]]
    k = int(np.argmax(ends - starts))
    return int(starts[k]), int(ends[k])


def upright_evidence(mask: np.ndarray, *, px_per_mm: float) -> tuple[int, int, float]:
    """Calibration pulses up and down, and the upward skew of the ink, in a row-wise mask.

    Rows are the peaks of the mask's horizontal projection (at least 12 mm apart, so a pulse's
    top or a label is not a row); a row spans the longest stretch of columns holding ink in
    its band (gaps up to 6 mm bridged). At both ends of each row (its first and last 18 mm) a
    pulse is looked for above and below the baseline (:func:`_has_pulse`): pulses always rise
    on an upright page, wherever they are printed. The skew is
    ``sum(ink * dy) / sum(ink * |dy|)`` with ``dy`` the height above the row's baseline, over
    each row's band: R and T waves make it positive on most upright ECGs (not all: it is a
    weak cue).

    Returns
    -------
    pulses_up, pulses_down, moment
    """
    from scipy.ndimage import gaussian_filter1d
    from scipy.signal import find_peaks

    h, w = mask.shape
    profile = gaussian_filter1d(mask.sum(axis=1).astype(np.float64), sigma=0.7 * px_per_mm)
    if profile.max() <= 0:
        return 0, 0, 0.0
    peaks, _ = find_peaks(
        profile,
        distance=max(1, int(12 * px_per_mm)),
        height=0.25 * profile.max(),
        prominence=0.1 * profile.max(),
    )
    up = down = 0
    num = den = 0.0
    span = round(18.0 * px_per_mm)
    pad = round(1.0 * px_per_mm)
    gap = max(1, round(6.0 * px_per_mm))
    for i, b in enumerate(peaks):
        above = b - peaks[i - 1] if i > 0 else (peaks[1] - b if peaks.size > 1 else 20 * px_per_mm)
        below = peaks[i + 1] - b if i + 1 < peaks.size else above
        y0, y1 = int(max(0, b - 0.5 * above)), int(min(h, b + 0.5 * below))
        band = mask[y0:y1]
        dy = (b - np.arange(y0, y1, dtype=np.float64))[:, None]
        num += float((band * dy).sum())
        den += float((band * np.abs(dy)).sum())
        stretch = _longest_stretch(np.asarray(band.any(axis=0)), max_gap=gap)
        if stretch is None:
            continue
        xa, xb = stretch
        for x0, x1 in ((xa - pad, xa + span), (xb - span, xb + pad + 1)):
            x0, x1 = max(0, x0), min(w, x1)
            up += _has_pulse(mask, int(b), x0, x1, px_per_mm=px_per_mm, above=True)
            down += _has_pulse(mask, int(b), x0, x1, px_per_mm=px_per_mm, above=False)
    return up, down, (num / den if den > 0 else 0.0)


def estimate_orientation(
    ink: np.ndarray,
    *,
    rotation_deg: float = 0.0,
    px_per_mm: float | None = None,
    min_direction_score: float = 0.25,
    min_moment: float = 0.2,
) -> Orientation:
    """Find whether a page is turned by 0°, 90°, 180° or 270°.

    First the direction of the trace rows (:func:`trace_direction_score` on a rough trace
    mask): below ``-min_direction_score`` the rows are vertical, above `min_direction_score`
    horizontal; in between the page is left as it is (0°, ambiguous). Images under 200 px
    are left as they are too. Then, with the rows horizontal, upright against upside down:
    calibration pulses rise above their baseline on an upright page (:func:`upright_evidence`).
    Pulses are counted in the trace mask and, when they do not decide, again in a lighter mask
    that keeps thin lines. Without a clear pulse majority (a margin of at least three pulses
    and half of those found: grid cells left in a mask, and letters of printed text, look like
    pulses both ways), the upward skew of the ink decides between 90° and 270° (ambiguous
    below `min_moment`); a horizontal page is turned upside down only when the skew is below
    ``-2 * min_moment`` (some ECGs are mostly negative), otherwise it is kept upright and
    flagged ambiguous.

    Parameters
    ----------
    ink : (H, W) float array
        Ink darkness (``1 - max(R, G, B)``), ideally downscaled to 3–5 px/mm.
    rotation_deg : float
        Small rotation of the page (counter-clockwise), removed before the analysis.
    px_per_mm : float, optional
        Scale of `ink`; default: the long side is taken as 280 mm.
    min_direction_score, min_moment : float
        Evidence needed to turn the page by 90° / to turn it upside down without pulses.

    Returns
    -------
    Orientation
    """

    from .preprocess import flatten_background

    img: np.ndarray = np.asarray(ink, dtype=np.float32)
    h, w = img.shape
    if min(h, w) < 200:
        return Orientation(0, 0.0, 0, 0, 0.0, ambiguous=True)  # too small to tell
    ppm = px_per_mm if px_per_mm is not None else max(h, w) / _PAGE_LONG_SIDE_MM
    flat = flatten_background(img, window_px=max(15, round(8 * ppm)))
    mask = trace_mask_for_orientation(
        flat, px_per_mm=ppm, flattened=True, rotation_deg=rotation_deg
    )
    direction = trace_direction_score(mask)
    if abs(direction) < min_direction_score:
        # No clear trace rows either way: not a page to turn.
        return Orientation(0, direction, 0, 0, 0.0, ambiguous=True)
    vertical = direction < -min_direction_score
    quarter = 1 if vertical else 0

    def evidence(m: np.ndarray) -> tuple[int, int, float]:
        # Turned counter-clockwise when vertical, so the rows run horizontally.
        return upright_evidence(
            np.ascontiguousarray(np.rot90(m, 1)) if vertical else m, px_per_mm=ppm
        )

    def decisive(up: int, down: int) -> bool:
        return abs(up - down) >= max(3.0, 0.5 * (up + down))

    up, down, moment = evidence(mask)
    if not decisive(up, down):
        # Look again in a lighter mask that keeps thin, faint lines (pulses drawn 1 px wide).
        light = trace_mask_for_orientation(
            flat, px_per_mm=ppm, level_fraction=0.45, flattened=True, rotation_deg=rotation_deg
        )
        more_up, more_down, _ = evidence(light)
        up, down = up + more_up, down + more_down
    ambiguous = False
    if decisive(up, down):
        flipped = down > up
    elif vertical:
        # 90 or 270 must be chosen anyway: the skew of the waveforms decides.
        flipped = moment < 0
        ambiguous = abs(moment) < min_moment
    else:
        # Upside down only on strong evidence: some ECGs are mostly negative.
        flipped = moment <= -2 * min_moment
        ambiguous = not flipped
    # np.rot90(page, quarter + 2 * flipped) makes it upright, so it was turned by minus that.
    turns = (quarter + (2 if flipped else 0)) % 4
    return Orientation(
        degrees=(-90 * turns) % 360,
        direction_score=direction,
        pulses_up=up,
        pulses_down=down,
        moment=moment,
        ambiguous=ambiguous,
    )
