"""Preprocessing: ink map, perspective, orientation, rotation estimate, deskew and flattening."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Preprocessed:
    """A page ready for grid and trace detection.

    Attributes
    ----------
    gray : (H, W) float32 array in [0, 1]
        Luminance, dark ink on light paper, background flattened.
    ink : (H, W) float32 array in [0, 1]
        Ink darkness ``1 - max(R, G, B)`` (HSV value), background flattened. Coloured grid
        lines are bright in at least one channel, so they are faint here while the black trace
        stays dark; this is the image the trace is binarized from.
    rotation_deg : float
        Rotation that was removed (counter-clockwise positive, as drawn on the page).
    rgb : (H, W, 3) uint8 array
        The deskewed page (for the QA overlay).
    orientation_deg : int
        Quarter turn that was removed: 0, 90, 180 or 270 (counter-clockwise, as found on the
        page).
    perspective_corrected : bool
        Whether a perspective distortion (photographed page) was rectified.
    curl_px : float
        Largest vertical displacement of page curl that was straightened, in pixels (0 when
        the lines were straight).
    warnings : tuple of str
        What the caller should report (e.g. an uncertain orientation).
    """

    gray: np.ndarray
    ink: np.ndarray
    rotation_deg: float
    rgb: np.ndarray
    orientation_deg: int = 0
    perspective_corrected: bool = False
    curl_px: float = 0.0
    warnings: tuple[str, ...] = ()


def _channel_maps(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rec. 601 luminance and HSV value ``max(R, G, B)`` of an RGB uint8 page, as uint8."""
    import cv2

    r, g, b = cv2.split(rgb)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.max(cv2.max(r, g), b)


def ink_maps(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (gray, ink) float32 maps in [0, 1] from an RGB uint8 page.

    ``gray`` is the Rec. 601 luminance; ``ink`` is ``1 - max(R, G, B)``, the darkness of the
    least dark channel, which suppresses coloured (red, pink, orange, green, blue) grids.
    """
    gray, value = _channel_maps(rgb)
    return _as_maps(gray, value)


def _as_maps(gray: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return gray.astype(np.float32) / 255.0, 1.0 - value.astype(np.float32) / 255.0


def flatten_background(image: np.ndarray, *, window_px: int) -> np.ndarray:
    """Subtract a smooth background (morphological opening of the darkness) from `image`.

    Parameters
    ----------
    image : (H, W) float array
        Darkness map (ink = high).
    window_px : int
        Size of the structuring element; larger than a trace or grid line, smaller than a
        lighting gradient.

    Returns
    -------
    (H, W) float32 array
        Darkness with the slowly varying background level removed, clipped to [0, 1].
    """
    import cv2

    window_px = max(3, int(window_px) | 1)
    small = max(1, window_px // 8)
    # Estimate the background on a downsampled copy: a grey opening (min then max filter)
    # removes thin dark structures, a blur smooths what remains.
    h, w = image.shape
    sub = cv2.resize(image, (max(1, w // small), max(1, h // small)), interpolation=cv2.INTER_AREA)
    k = max(3, (window_px // small) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    bg = cv2.morphologyEx(sub, cv2.MORPH_OPEN, kernel)
    bg = cv2.blur(bg, (k, k))
    bg = cv2.resize(bg, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(image - bg, 0.0, 1.0).astype(np.float32)


def estimate_rotation(
    darkness: np.ndarray, *, max_angle_deg: float = 15.0, work_width_px: int = 640
) -> float:
    """Estimate the page rotation from the sharpness of its horizontal projection profile.

    Grid lines and trace baselines are horizontal on an upright page, so the variance of the
    row-sum profile is largest at the angle that makes them horizontal (the projection-profile
    method of document-skew estimation; Postl 1986, Bloomberg et al. 1995).

    Parameters
    ----------
    darkness : (H, W) float array
        Darkness map (ink/grid high, paper low).
    max_angle_deg : float
        Search range, degrees either way.
    work_width_px : int
        The image is downscaled to about this width for the search.

    Returns
    -------
    float
        The page's rotation in degrees (counter-clockwise positive); rotate by its negative to
        deskew.
    """
    import cv2

    h, w = darkness.shape
    scale = min(1.0, work_width_px / w)
    img = cv2.resize(
        darkness,
        (max(8, round(w * scale)), max(8, round(h * scale))),
        interpolation=cv2.INTER_AREA,
    )
    hh, ww = img.shape
    centre = (ww / 2.0, hh / 2.0)
    # Only the central region is scored, so rotated-in borders do not bias the profile.
    y0, y1 = hh // 6, hh - hh // 6
    x0, x1 = ww // 6, ww - ww // 6

    def sharpness(angle: float) -> float:
        m = cv2.getRotationMatrix2D(centre, angle, 1.0)
        rot = cv2.warpAffine(img, m, (ww, hh), flags=cv2.INTER_LINEAR)
        profile = rot[y0:y1, x0:x1].sum(axis=1)
        d = np.diff(profile)
        return float(np.dot(d, d))

    # Coarse 1° steps, then 0.25° steps around the best, then a parabola through the peak.
    best = 0.0
    for step, span in ((1.0, max_angle_deg), (0.25, 1.0)):
        angles = best + np.arange(-span, span + step / 2, step)
        scores = np.array([sharpness(float(a)) for a in angles])
        i = int(np.argmax(scores))
        best = float(angles[i])
    if 0 < i < len(scores) - 1:
        a, b, c = scores[i - 1], scores[i], scores[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            best += 0.25 * 0.5 * (a - c) / denom
    # warpAffine with a positive angle rotates the image counter-clockwise, so the page was
    # rotated by -best.
    return -best


def rotate_page(rgb: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate an RGB page by `angle_deg` (counter-clockwise positive) about its centre.

    Uncovered corners are filled with white paper.
    """
    import cv2

    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    return cv2.warpAffine(
        rgb,
        m,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(255, 255, 255),
    )


# Working copy for the page-level geometry (perspective, orientation): about 4 px/mm on a
# 280 mm wide page.
_GEOMETRY_LONG_SIDE_PX = 1100


def reduce_min(image: np.ndarray, factor: int) -> np.ndarray:
    """`image` reduced by an integer `factor`, each pixel the minimum (darkest) of its block.

    A grey erosion followed by subsampling: thin dark lines survive at full contrast, which an
    area average would dilute.
    """
    import cv2

    if factor <= 1:
        return image
    eroded = cv2.erode(image, np.ones((factor, factor), np.uint8))
    return np.ascontiguousarray(eroded[factor // 2 :: factor, factor // 2 :: factor])


def _small_maps(gray_u8: np.ndarray, value_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gray, ink) float maps of the page reduced to about 1100 px on its long side."""
    k = max(1, round(max(gray_u8.shape) / _GEOMETRY_LONG_SIDE_PX))
    return _as_maps(reduce_min(gray_u8, k), reduce_min(value_u8, k))


def preprocess(
    rgb: np.ndarray,
    *,
    max_rotation_deg: float = 15.0,
    min_rotation_deg: float = 0.05,
    correct_perspective: bool = True,
    detect_orientation: bool = True,
    correct_curl: bool = True,
    min_curl_px: float = 2.0,
) -> Preprocessed:
    """Rectify, turn upright and deskew a page, and compute its flattened gray and ink maps.

    Order: perspective (:func:`ecgdigitize.geometry.estimate_page_homography`, applied only
    when the line families are measurably not parallel, so scans are left untouched), then
    the fine rotation estimate, then the quarter-turn orientation
    (:func:`ecgdigitize.geometry.estimate_orientation`, on the deskewed reduced ink map), then
    the deskew, then page curl (:func:`ecgdigitize.curl.estimate_curl`, applied only when
    lines bow by ``min_curl_px`` or more), then background flattening.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 array
        The page.
    max_rotation_deg : float
        Largest rotation searched for, degrees either way.
    min_rotation_deg : float
        Rotations smaller than this are left alone (no resampling).
    correct_perspective : bool
        Look for (and undo) the perspective of a photographed page.
    detect_orientation : bool
        Look for (and undo) a page turned by 90°, 180° or 270°.
    correct_curl : bool
        Look for (and straighten) lines bowed by page curl (:mod:`ecgdigitize.curl`), after
        the deskew.
    min_curl_px : float
        Bows smaller than this (pixels) are left alone (no resampling).

    Returns
    -------
    Preprocessed
    """
    from .curl import estimate_curl, uncurl
    from .geometry import estimate_orientation, estimate_page_homography, rectify

    warnings: list[str] = []
    gray_u8, value_u8 = _channel_maps(rgb)
    gray, ink = _as_maps(gray_u8, value_u8)
    use_geometry = correct_perspective or detect_orientation
    small_gray, small_ink = _small_maps(gray_u8, value_u8) if use_geometry else (gray, ink)
    perspective = False
    if correct_perspective:
        h, w = gray.shape
        homography = estimate_page_homography(1.0 - small_gray, image_size=(w, h))
        if homography is not None:
            rgb = rectify(rgb, homography)
            gray_u8, value_u8 = _channel_maps(rgb)
            gray, ink = _as_maps(gray_u8, value_u8)
            small_gray, small_ink = _small_maps(gray_u8, value_u8)
            perspective = True
            if not homography.vertical_lines_used:
                warnings.append(
                    "perspective corrected from horizontal lines only (no vertical grid lines)"
                )
    angle = estimate_rotation(1.0 - gray, max_angle_deg=max_rotation_deg)
    orientation = 0
    if detect_orientation:
        found = estimate_orientation(small_ink, rotation_deg=angle)
        orientation = found.degrees
        if orientation:
            turns = -orientation // 90
            rgb = np.ascontiguousarray(np.rot90(rgb, turns))
            gray = np.ascontiguousarray(np.rot90(gray, turns))
            ink = np.ascontiguousarray(np.rot90(ink, turns))
        if found.ambiguous:
            warnings.append(
                f"page orientation uncertain (no clear calibration pulse or trace direction); "
                f"assumed {orientation} deg"
            )
    if abs(angle) >= min_rotation_deg:
        rgb = rotate_page(rgb, -angle)
        gray, ink = ink_maps(rgb)
    else:
        angle = 0.0
    curl_px = 0.0
    if correct_curl:
        curl = estimate_curl(1.0 - gray)
        if curl.reliable and curl.max_shift_px >= min_curl_px:
            rgb = uncurl(rgb, curl)
            gray, ink = ink_maps(rgb)
            curl_px = round(curl.max_shift_px, 2)
    window = max(31, min(gray.shape) // 20)
    dark = flatten_background(1.0 - gray, window_px=window)
    ink = flatten_background(ink, window_px=window)
    return Preprocessed(
        gray=1.0 - dark,
        ink=ink,
        rotation_deg=angle,
        rgb=rgb,
        orientation_deg=orientation,
        perspective_corrected=perspective,
        curl_px=curl_px,
        warnings=tuple(warnings),
    )
