"""Rendering the web pages: one Jinja2 environment, the reader's language, and each view as
one context rendered twice, as HTML and as its JSON twin (the open data never drifts from
the page: both are the same dict).

A view computes plain data (numbers, strings, dates, lists and dicts of them) and calls
`page(request, "name.html", data)`; `/o/HX0101.json` and `/o/HX0101` then differ only in
the rendering. Templates read texts with `t("web.key", name=...)` from the same catalogs as
the bot, in the reader's language.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.texts import DEFAULT_LANGUAGE, LANGUAGES, Texts, texts_for
from bot.web import charts

# Pages the public may cache for a short while: a village's page shared in a WeChat group
# is opened by many phones at once, and a minute-old figure is as good as a new one.
PUBLIC_MAX_AGE = 60

_env = Environment(
    loader=PackageLoader("bot.web", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,  # a misspelt variable fails the test, not the reader
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["bars"] = charts.bars
_env.globals["trend"] = charts.trend
_env.filters["pct"] = lambda share: f"{round(share * 100)}%"


def language_of(request: Request) -> str:
    """?lang= first (a link the reader chose), then the browser's Accept-Language, then
    zh-CN: the campaign's own language."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    header = request.headers.get("accept-language", "")
    ranked: list[tuple[float, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        ranked.append((-quality, f"{position:03d}{tag.strip().lower()}"))
    for _, keyed in sorted(ranked):
        tag = keyed[3:]
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def texts_of(request: Request) -> Texts:
    cached = getattr(request.state, "texts", None)
    if cached is None:
        cached = request.state.texts = texts_for(language_of(request))
    return cached


def link(request: Request, path: str, **query: str | int | None) -> str:
    """A path keeping the reader's chosen language (only when chosen by ?lang=)."""
    params = {k: v for k, v in query.items() if v is not None}
    if "lang" in request.query_params and "lang" not in params:
        params["lang"] = request.query_params["lang"]
    return path + ("?" + urlencode(params) if params else "")


def _with_query(request: Request, **changes: str) -> str:
    """This page's own address with some query parameters changed (the language switch
    keeps the rest: a sandbox chat's number, a page of results)."""
    params = dict(request.query_params)
    target = params.get("next", "")
    if target and not (target.startswith("/") and not target.startswith("//")):
        del params["next"]  # a link elsewhere is refused by sign-in; never echoed back
    params.update(changes)
    return request.url.path + "?" + urlencode(params)


def wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def as_json(data: dict[str, Any], status: int = 200, max_age: int | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, default=_plain, separators=(",", ":"))
    response = Response(body, status_code=status, media_type="application/json")
    response.headers["access-control-allow-origin"] = "*"  # open data: any site may read it
    if max_age is not None:
        response.headers["cache-control"] = f"public, max-age={max_age}"
    return response


def render(
    request: Request,
    template: str,
    data: dict[str, Any],
    *,
    status: int = 200,
    max_age: int | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """`template` rendered with `data`, the texts and helpers of the reader's language."""
    texts = texts_of(request)
    html = _env.get_template(template).render(
        data,
        request=request,
        lang=texts.language,
        t=texts.get,
        link=lambda path, **q: link(request, path, **q),
        other_language=(other := "en" if texts.language == "zh-CN" else "zh-CN"),
        switch_language=_with_query(request, lang=other),
        web=request.app.state.web if hasattr(request.app.state, "web") else {},
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if max_age is not None:
        response.headers["cache-control"] = f"public, max-age={max_age}"
    response.headers["content-language"] = texts.language
    response.headers["vary"] = "Accept-Language"
    return response


def page(
    request: Request, template: str, data: dict[str, Any], *, max_age: int | None = None
) -> Response:
    """The view's data as HTML, or as JSON when the path ends in `.json`: one context, two
    renderings."""
    if wants_json(request):
        return as_json(data, max_age=max_age)
    return render(request, template, data, max_age=max_age)


def not_found(request: Request) -> Response:
    """The same 404 for a page that does not exist and one the reader may not see: the
    answer must not tell which (an organisation outside a console user's scope)."""
    if wants_json(request):
        return as_json({"error": "not found"}, status=404)
    return render(request, "not_found.html", {}, status=404)
