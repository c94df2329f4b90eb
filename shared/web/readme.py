"""A package's description, rendered as PyPI renders it.

Warehouse's ``warehouse/utils/readme.py``, call for call: the content type is reduced to its media type
(``text/markdown; variant=CommonMark`` is rendered as readme-renderer's default, GFM, since Warehouse
never passes the variant), rendered by readme-renderer, whose output nh3 has sanitized (no script, no
event handler attribute, only http, https and mailto links, each ``rel="nofollow"``); plain text is
wrapped in ``<pre>``. Where Warehouse refuses at upload a description that does not render, this feed
took it, so such a description is shown as Warehouse shows one that fails later (its ``use_fallback``):
as plain text, escaped, never as its raw HTML.

readme-renderer (and docutils, comrak, Pygments under it) is imported on first use: the app's cold
start does not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from markupsafe import Markup, escape

PLAIN = "text/plain"
RST = "text/x-rst"
MARKDOWN = "text/markdown"


@dataclass(frozen=True)
class Rendered:
    html: Markup  # safe to put in a page as it is
    rendered: bool  # False: shown as text because it did not render in its format


def _media_type(content_type: str | None) -> str | None:
    if not content_type:
        return content_type
    message = EmailMessage()
    message["content-type"] = content_type
    return message.get_content_type()


def render(description: str | None, content_type: str | None) -> Rendered:
    if not description or not description.strip():
        return Rendered(Markup(""), True)
    import readme_renderer.markdown
    import readme_renderer.rst
    import readme_renderer.txt

    renderers = {
        None: readme_renderer.rst,
        "": readme_renderer.rst,
        PLAIN: readme_renderer.txt,
        RST: readme_renderer.rst,
        MARKDOWN: readme_renderer.markdown,
    }
    media_type = _media_type(content_type)
    html = renderers.get(media_type, readme_renderer.txt).render(description)
    if media_type == PLAIN and html is not None:
        html = f"<pre>{html}</pre>"
    if html is not None:
        # readme-renderer's output went through its nh3 sanitizer: it is what PyPI puts in its pages.
        return Rendered(Markup(html), True)  # noqa: S704 - sanitized by readme-renderer (nh3)
    # Warehouse's fallback: the text, escaped, its line breaks kept.
    fallback = readme_renderer.txt.render(description)
    if fallback is None:  # the sanitizer refused even that: escape it here
        return Rendered(Markup("<pre>") + escape(description) + Markup("</pre>"), False)
    return Rendered(Markup(fallback), False)  # noqa: S704 - escaped and sanitized by readme-renderer
