"""Exceptions raised by ecgdigitize.

Every error the library raises on bad input derives from :class:`EcgDigitizeError`, so callers
(and the command line) can catch one class. Messages name the file and say what was expected and
what was found.
"""

from __future__ import annotations


class EcgDigitizeError(Exception):
    """Base class for errors raised by ecgdigitize."""


class ImageReadError(EcgDigitizeError, OSError):
    """An image or PDF could not be read (missing, corrupt, unsupported, too large)."""


class RecordError(EcgDigitizeError, ValueError):
    """A WFDB record is missing, unreadable or unsuitable (leads, sampling rate, units)."""


class GridNotFoundError(EcgDigitizeError, ValueError):
    """No ECG grid or scale could be found on a page."""


class LayoutError(EcgDigitizeError, ValueError):
    """The lead layout of a page could not be determined or is unknown."""


class TraceNotFoundError(EcgDigitizeError, ValueError):
    """No ECG trace could be found on a page (empty page, not an ECG)."""


class ModelError(EcgDigitizeError, ValueError):
    """The classifier cannot run on the given signal (too few leads, too short, bad fs)."""
