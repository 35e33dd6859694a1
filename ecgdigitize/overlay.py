"""The QA overlay: recovered traces drawn in colour over the (deskewed) page."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .digitization import OverlayData
from .io.atomic import atomic_directory, check_writable, commit_files

# Distinct colours (RGB) cycled over leads; chosen to stand out on red, green and blue grids.
_COLOURS = ((0, 90, 255), (0, 170, 0), (200, 0, 200), (0, 160, 200), (230, 120, 0), (120, 60, 220))


def draw_overlay(data: OverlayData) -> np.ndarray:
    """Return an RGB image: the page lightened, each lead box outlined and named, each
    recovered trace drawn over the ink in its own colour, and a caption."""
    import cv2

    page = data.rgb.astype(np.float32)
    img = (255 - 0.45 * (255 - page)).astype(np.uint8)  # lighten so traces stand out
    h, w = img.shape[:2]
    thickness = max(1, round(min(h, w) / 900))
    font_scale = max(0.5, min(h, w) / 1500)
    for i, (label, x0, y0, x1, y1) in enumerate(data.boxes):
        colour = _COLOURS[i % len(_COLOURS)]
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, 1)
        cv2.putText(
            img,
            label,
            (x0 + 4, y0 + int(22 * font_scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            colour,
            thickness + 1,
            cv2.LINE_AA,
        )
    for i, (_label, x, y) in enumerate(data.traces):
        if x.size < 2:
            continue
        colour = _COLOURS[i % len(_COLOURS)]
        pts = np.round(np.stack([x, y], axis=1) * 4).astype(np.int32)
        cv2.polylines(img, [pts], False, colour, thickness + 1, cv2.LINE_AA, shift=2)
    cv2.putText(
        img,
        data.caption,
        (10, h - 12),
        cv2.FONT_HERSHEY_SIMPLEX,
        font_scale,
        (0, 0, 0),
        thickness + 1,
        cv2.LINE_AA,
    )
    return img


def write_overlay(
    data: OverlayData, path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Draw the overlay and write it as PNG, atomically."""
    import cv2

    p = Path(path)
    check_writable([p], overwrite=overwrite)
    img = draw_overlay(data)
    with atomic_directory(p.parent) as tmp:
        ok = cv2.imwrite(str(tmp / (p.stem + ".png")), img[:, :, ::-1])
        if not ok:
            raise OSError(f"{p}: could not encode the overlay image")
        os.replace(tmp / (p.stem + ".png"), tmp / p.name)
        commit_files(tmp, [p.name], p.parent)
    return p
