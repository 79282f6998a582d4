"""Templates: the one Jinja environment factory, and the email bodies rendered with it.

Every Jinja environment of leadsla comes from :func:`template_environment`: the
notification and digest emails (ours and the user's ``notifications.templates``),
the dashboard's pages, and any template added later. Whether what a template
writes is escaped is decided by what it renders, never by the template's file
name: an HTML body or page is autoescaped whatever its template is called
(``notification.html.j2``, ``digest.html``, ``mine.j2``), a plain-text body is
not. Deciding by suffix is what left ``*.html.j2`` bodies unescaped (issue #20):
``select_autoescape`` looks at the last suffix only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, PackageLoader


def url_segment(value: object) -> str:
    """``value`` as one segment of a URL path: everything but ASCII letters, digits and
    ``-._~`` percent-encoded, ``/``, ``?``, ``#``, ``:`` and ``%`` too (Jinja's own
    ``urlencode`` keeps ``/``). The filter ``url_segment`` of every environment."""
    return quote(str(value), safe="")


def template_environment(
    loader: BaseLoader,
    *,
    html: bool,
    trim_blocks: bool = False,
    lstrip_blocks: bool = False,
    keep_trailing_newline: bool = False,
) -> Environment:
    """A Jinja environment whose every template is autoescaped (``html``) or none is.

    ``html`` is the caller's to say, as it knows what it renders; the names of the
    templates play no part. Templates included or extended from one rendered here are
    escaped the same way.
    """
    environment = Environment(
        loader=loader,
        autoescape=html,
        trim_blocks=trim_blocks,
        lstrip_blocks=lstrip_blocks,
        keep_trailing_newline=keep_trailing_newline,
    )
    environment.filters["url_segment"] = url_segment
    return environment


class Templates:
    """The email bodies: Jinja2 templates, the user's directory first, ours behind it.

    :meth:`html` renders an HTML body, autoescaped; :meth:`text` a plain-text body, as
    written. Both look a name up the same way, so a user's template replaces ours by
    name whatever its contents.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        loaders: list[BaseLoader] = []
        if directory is not None:
            loaders.append(FileSystemLoader(str(directory)))
        loaders.append(PackageLoader("leadsla.notify", "templates"))
        loader = ChoiceLoader(loaders)
        self._html = template_environment(loader, html=True, keep_trailing_newline=True)
        self._text = template_environment(loader, html=False, keep_trailing_newline=True)

    def html(self, name: str, context: Mapping[str, Any]) -> str:
        """An HTML body: every value the template writes is escaped unless marked safe."""
        return self._html.get_template(name).render(**context)

    def text(self, name: str, context: Mapping[str, Any]) -> str:
        """A plain-text body: values written as they are."""
        return self._text.get_template(name).render(**context)
