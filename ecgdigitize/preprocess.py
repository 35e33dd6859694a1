"""Preprocessing: ink map, rotation estimate, deskew and background flattening."""

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
    """

    gray: np.ndarray
    ink: np.ndarray
    rotation_deg: float
    rgb: np.ndarray


def ink_maps(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (gray, ink) float32 maps in [0, 1] from an RGB uint8 page.

    ``gray`` is the Rec. 601 luminance; ``ink`` is ``1 - max(R, G, B)``, the darkness of the
    least dark channel, which suppresses coloured (red, pink, orange, green, blue) grids.
    """
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    r, g, b = cv2.split(rgb)
    ink = 1.0 - cv2.max(cv2.max(r, g), b).astype(np.float32) / 255.0
    return gray, ink


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


def preprocess(
    rgb: np.ndarray, *, max_rotation_deg: float = 15.0, min_rotation_deg: float = 0.05
) -> Preprocessed:
    """Deskew a page and compute its flattened gray and ink maps.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 array
        The page.
    max_rotation_deg : float
        Largest rotation searched for, degrees either way.
    min_rotation_deg : float
        Rotations smaller than this are left alone (no resampling).

    Returns
    -------
    Preprocessed
    """
    gray, ink = ink_maps(rgb)
    angle = estimate_rotation(1.0 - gray, max_angle_deg=max_rotation_deg)
    if abs(angle) >= min_rotation_deg:
        rgb = rotate_page(rgb, -angle)
        gray, ink = ink_maps(rgb)
    else:
        angle = 0.0
    window = max(31, min(gray.shape) // 20)
    dark = flatten_background(1.0 - gray, window_px=window)
    ink = flatten_background(ink, window_px=window)
    return Preprocessed(gray=1.0 - dark, ink=ink, rotation_deg=angle, rgb=rgb)
