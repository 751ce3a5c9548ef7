"""Server-rendered pages over `string.Template`: every value is HTML-escaped on the way in.

Pages work in WeChat's built-in browser with no JavaScript and no asset from elsewhere (the
CSS is inline, the QR image is served by us).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from aiohttp import web

from scrm.leads.form import FormField

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text("utf-8"))


def page(title: str, body: str, *, status: int = 200) -> web.Response:
    """The layout around ``body`` (already safe HTML); ``title`` is escaped here."""
    html = _template("layout.html").substitute(title=escape(title), body=body)
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"},
    )


def notice(
    title: str, heading: str, message: str, *, status: int = 200, extra: str = ""
) -> web.Response:
    body = _template("notice.html").substitute(
        heading=escape(heading), message=escape(message), extra=extra
    )
    return page(title, body, status=status)


def form_page(
    *,
    name: str,
    action: str,
    csrf: str,
    fields: list[FormField],
    consent: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    consented: bool,
    status: int = 200,
) -> web.Response:
    consent_error = errors.get("consent")
    body = _template("form.html").substitute(
        name=escape(name),
        action=escape(action),
        csrf=escape(csrf),
        fields="\n".join(_field(f, values.get(f.key, ""), errors.get(f.key)) for f in fields),
        consent=escape(consent),
        consent_class=" invalid" if consent_error else "",
        consent_checked=" checked" if consented else "",
        consent_error=_error("consent", consent_error),
    )
    return page(name, body, status=status)


def _error(key: str, message: str | None) -> str:
    if not message:
        return ""
    return f'<div class="error" id="{escape(key)}-error" role="alert">{escape(message)}</div>'


def _field(field: FormField, value: str, error: str | None) -> str:
    key = escape(field.key)
    required = '<span class="req">*</span>' if field.required else ""
    described = f' aria-describedby="{key}-error" aria-invalid="true"' if error else ""
    if field.type == "choice":
        options = ['<option value="">请选择</option>'] + [
            f'<option value="{escape(c)}"{" selected" if c == value else ""}>{escape(c)}</option>'
            for c in field.choices
        ]
        control = f'<select id="f-{key}" name="{key}"{described}>{"".join(options)}</select>'
    else:
        kind = "tel" if field.type == "phone" else "text"
        extra = ' inputmode="tel" autocomplete="tel"' if field.type == "phone" else ""
        control = (
            f'<input type="{kind}" id="f-{key}" name="{key}" value="{escape(value)}"'
            f' maxlength="200"{extra}{described}>'
        )
    wrapper = ' class="invalid"' if error else ""
    return (
        f'<div{wrapper}><label for="f-{key}">{escape(field.label)}{required}</label>'
        f"{control}{_error(field.key, error)}</div>"
    )
