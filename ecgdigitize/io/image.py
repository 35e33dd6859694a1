"""Reading ECG pages from image files (PNG, JPEG, TIFF, BMP) and PDFs.

Raster images are decoded with Pillow (which also gives the resolution recorded in the file and
the EXIF orientation of phone photos); PDF pages are rasterised with pypdfium2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageReadError

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
PDF_SUFFIXES: tuple[str, ...] = (".pdf",)
SUPPORTED_SUFFIXES: tuple[str, ...] = IMAGE_SUFFIXES + PDF_SUFFIXES

DEFAULT_MAX_PIXELS = 40_000_000


@dataclass(frozen=True)
class Page:
    """One page to digitize.

    Attributes
    ----------
    rgb : (H, W, 3) uint8 array
        The page in RGB.
    dpi : float or None
        Resolution recorded in the file (or used to rasterise a PDF); None when unknown.
    source : str
        File the page came from, for messages (``"<array>"`` for in-memory images).
    page_number : int
        1-based page number inside the source (1 for single images).
    n_pages : int
        Number of pages in the source.
    """

    rgb: np.ndarray
    dpi: float | None = None
    source: str = "<array>"
    page_number: int = 1
    n_pages: int = 1

    @property
    def label(self) -> str:
        """``file`` or ``file (page k)`` for messages."""
        return self.source if self.n_pages == 1 else f"{self.source} (page {self.page_number})"


def page_from_array(
    image: np.ndarray, *, dpi: float | None = None, source: str = "<array>"
) -> Page:
    """Wrap an in-memory image as a :class:`Page`.

    Parameters
    ----------
    image : (H, W) or (H, W, 3|4) array
        Grayscale or RGB(A) image; uint8, or float in [0, 1].
    dpi : float, optional
        Resolution, if known.

    Raises
    ------
    ImageReadError
        If the array is not an image of a supported shape.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.number):
            raise ImageReadError(f"{source}: image array has dtype {arr.dtype}; expected numbers")
        scale = 255.0 if np.nanmax(arr, initial=0) <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 16:
        raise ImageReadError(
            f"{source}: image has shape {np.asarray(image).shape}; expected (H, W), (H, W, 3) "
            "or (H, W, 4) with H, W >= 16"
        )
    return Page(np.ascontiguousarray(arr), dpi=dpi, source=source)


def read_pages(
    path: str | os.PathLike[str],
    *,
    pdf_dpi: float = 300.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> list[Page]:
    """Read every page of an image or PDF file.

    Parameters
    ----------
    path : str or path-like
        PNG, JPEG, TIFF (every frame), BMP or PDF (every page) file.
    pdf_dpi : float
        Resolution at which PDF pages are rasterised.
    max_pixels : int
        Refuse pages larger than this many pixels (memory guard).

    Returns
    -------
    list of Page

    Raises
    ------
    ImageReadError
        If the file is missing, empty, not a supported image or PDF, corrupt, or too large.
    """
    p = _check_file(path)
    if p.suffix.lower() in PDF_SUFFIXES:
        return _read_pdf(p, dpi=pdf_dpi, max_pixels=max_pixels)
    return _read_raster(p, max_pixels=max_pixels)


def _check_file(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path if it is a non-empty file of a supported type, else ImageReadError."""
    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"{p}: no such file")
    if p.is_dir():
        raise ImageReadError(f"{p}: is a folder, not an image (use `ecgdigitize batch`)")
    if p.stat().st_size == 0:
        raise ImageReadError(f"{p}: file is empty (0 bytes)")
    suffix = p.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImageReadError(
            f"{p}: unsupported file type {suffix or '(none)'!r}; expected one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}"
        )
    return p


def _check_size(p: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageReadError(
            f"{p}: image is {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{max_pixels:,}; downscale it or raise max_pixels"
        )


def _read_raster(p: Path, *, max_pixels: int, only: int | None = None) -> list[Page]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below
    try:
        with Image.open(p) as im:
            n_frames = int(getattr(im, "n_frames", 1))
            _check_page_number(p, only, n_frames)
            pages = []
            for k in range(n_frames) if only is None else [only - 1]:
                im.seek(k)
                _check_size(p, im.width, im.height, max_pixels)
                frame = ImageOps.exif_transpose(im) if k == 0 else im.copy()
                dpi = _pil_dpi(im.info.get("dpi"))
                rgb = np.asarray(frame.convert("RGB"))
                pages.append(
                    Page(rgb, dpi=dpi, source=str(p), page_number=k + 1, n_pages=n_frames)
                )
            return pages
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageReadError):
            raise
        raise ImageReadError(f"{p}: corrupt or truncated image ({exc})") from exc


def _check_page_number(p: Path, only: int | None, n_pages: int) -> None:
    if only is not None and not 1 <= only <= n_pages:
        raise ImageReadError(f"{p}: has {n_pages} page(s); page {only} does not exist")


def _pil_dpi(value: object) -> float | None:
    if not isinstance(value, tuple) or not value:
        return None
    try:
        dpi = float(value[0])
    except (TypeError, ValueError):
        return None
    # Many writers store 72 or 96 dpi as a meaningless default; keep it, callers treat dpi
    # only as the last fallback for the scale.
    return dpi if dpi > 1 else None


def _read_pdf(p: Path, *, dpi: float, max_pixels: int, only: int | None = None) -> list[Page]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(p))
    except pdfium.PdfiumError as exc:
        raise ImageReadError(f"{p}: not a readable PDF ({exc})") from exc
    try:
        n = len(pdf)
        if n == 0:
            raise ImageReadError(f"{p}: PDF has no pages")
        _check_page_number(p, only, n)
        pages = []
        for k in range(n) if only is None else [only - 1]:
            page = pdf[k]
            w_pt, h_pt = page.get_size()
            scale = dpi / 72.0
            _check_size(p, round(w_pt * scale), round(h_pt * scale), max_pixels)
            bitmap = page.render(scale=scale)
            rgb = np.asarray(bitmap.to_numpy())[:, :, :3]
            if bitmap.mode in ("BGRA", "BGRX", "BGR"):
                rgb = rgb[:, :, ::-1]
            pages.append(
                Page(
                    np.ascontiguousarray(rgb), dpi=dpi, source=str(p), page_number=k + 1, n_pages=n
                )
            )
        return pages
    finally:
        pdf.close()


def count_pages(path: str | os.PathLike[str]) -> int:
    """Number of pages of an image (frames of a TIFF) or PDF file, without decoding them.

    Raises
    ------
    ImageReadError
        If the file is missing, empty, of an unsupported type or not readable as its type.
    """
    p = _check_file(path)
    if p.suffix.lower() in PDF_SUFFIXES:
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(str(p))
        except pdfium.PdfiumError as exc:
            raise ImageReadError(f"{p}: not a readable PDF ({exc})") from exc
        try:
            return len(pdf)
        finally:
            pdf.close()
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            return int(getattr(im, "n_frames", 1))
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not a readable image (unknown or corrupt format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{p}: corrupt or truncated image ({exc})") from exc


def read_page(
    path: str | os.PathLike[str],
    page_number: int,
    *,
    pdf_dpi: float = 300.0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Page:
    """Read one page of an image or PDF file (only that page is decoded or rasterised).

    Parameters
    ----------
    path : str or path-like
        As for :func:`read_pages`.
    page_number : int
        1-based page (PDF) or frame (TIFF) number.
    pdf_dpi, max_pixels
        As for :func:`read_pages`.

    Raises
    ------
    ImageReadError
        As :func:`read_pages`, and when the file has no page `page_number`.
    """
    p = _check_file(path)
    if p.suffix.lower() in PDF_SUFFIXES:
        return _read_pdf(p, dpi=pdf_dpi, max_pixels=max_pixels, only=page_number)[0]
    return _read_raster(p, max_pixels=max_pixels, only=page_number)[0]
