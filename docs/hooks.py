"""MkDocs hook: show Sphinx cross-reference roles of the docstrings as plain code.

The docstrings follow numpydoc and use Sphinx roles such as ``:func:`render``` or
``:data:`~ecgdigitize.config.LEAD_NAMES```. mkdocstrings renders the backticked part as code and
leaves the role name in front of it; this hook removes the role name (and, as Sphinx does for a
leading ``~``, shortens the target to its last component).
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):(<code>)(~?)([^<]*)")


def _plain(match: re.Match[str]) -> str:
    code, tilde, target = match.groups()
    if tilde:
        target = target.rsplit(".", 1)[-1]
    return f"{code}{target}"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Strip Sphinx role names from the rendered HTML of every page."""
    return _ROLE.sub(_plain, html)
