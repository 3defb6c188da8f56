"""The email templates of `resolvers/mail_templates/`, rendered with Jinja2: each mail is a plain-text part and an
HTML part from templates of the same name.

The HTML part escapes every value (names, references and notes are what customers typed); the text part has no
markup to protect. A missing value is an error, never an empty string in a sent mail.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined


def _environment(autoescape: bool) -> Environment:
    return Environment(loader=PackageLoader("resolvers", "mail_templates"), autoescape=autoescape,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False)


_TEXT, _HTML = _environment(False), _environment(True)


def render_mail(template: str, **context: object) -> tuple[str, str]:
    """(text body, HTML body) of `template`.txt and `template`.html with the same context."""
    return (_TEXT.get_template(f"{template}.txt").render(**context),
            _HTML.get_template(f"{template}.html").render(**context))
