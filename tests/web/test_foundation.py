"""The web layer's shared parts: languages, the 404 page, static files, charts, the console's
session cookie and CSRF check, and [web] deciding which pages exist."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.config import load_config
from bot.messages import Address, AddressKind
from bot.web import charts
from bot.web.app import _HANDLERS, web_routes
from bot.web.console.access import COOKIE, IDLE, checked_form, cookie_value, require_user
from bot.web.pages import language_of
from tests.conftest import KEY_ENV
from tests.web.browser import ZH_PHONE, horizontal_overflow
from tests.web.conftest import Site
from tests.web.populate import SECRETARY_HX0101


def _request(query: str = "", accept: str = "") -> Request:
    headers = [(b"accept-language", accept.encode())] if accept else []
    return Request({"type": "http", "query_string": query.encode(), "headers": headers})


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("", "", "zh-CN"),
        ("", "en-US,en;q=0.9", "en"),
        ("", "fr-FR, en;q=0.5, zh-TW;q=0.8", "zh-CN"),  # Chinese ranks above English here
        ("", "de, en;q=0.3", "en"),
        ("", "de, fr", "zh-CN"),
        ("lang=en", "zh-CN", "en"),
        ("lang=zh-CN", "en", "zh-CN"),
        ("lang=xx", "en", "en"),
        ("", "en;q=bad, zh", "zh-CN"),
    ],
)
def test_the_reader_language_comes_from_the_link_then_the_browser(
    query: str, accept: str, expected: str
) -> None:
    assert language_of(_request(query, accept)) == expected


def test_bars_are_as_long_as_their_shares_and_say_what_they_show() -> None:
    svg = str(charts.bars([("满意", 0.6, "6"), ("不满意", 0.2, "2")], "结果 <P1>", highlight=0))
    bar_widths = [float(w) for w in re.findall(r'width="([\d.]+)" height="22" class="bar', svg)]
    assert len(bar_widths) == 2
    assert bar_widths[0] == pytest.approx(3 * bar_widths[1])
    assert 'aria-label="结果 &lt;P1&gt;"' in svg  # escaped: a question is user text
    assert 'class="bar strong"' in svg


def test_a_trend_marks_the_current_week_and_scales_to_the_peak() -> None:
    svg = str(charts.trend([0, 5, 10], ["W1", "W2", "W3"], "12 weeks"))
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" class="bar', svg)]
    assert heights[2] == pytest.approx(2 * heights[1])
    assert heights[0] == 1  # an empty week still shows a sliver
    assert svg.count("strong") == 1


async def test_an_unknown_page_is_a_404_page_in_the_reader_language(site: Site) -> None:
    zh = await site.get("/nowhere", headers={"accept": "text/html"})
    assert zh.status_code == 404 and "找不到这个页面" in zh.text
    assert '<html lang="zh-CN">' in zh.text
    en = await site.get("/nowhere?lang=en", headers={"accept": "text/html"})
    assert en.status_code == 404 and "Page not found" in en.text
    data = await site.get("/o/NOWHERE.json")
    assert data.status_code == 404 and data.json() == {"error": "not found"}


async def test_the_stylesheet_is_served_by_the_app(site: Site) -> None:
    css = await site.get("/static/site.css")
    assert css.status_code == 200 and "max-width" in css.text
    assert "http" not in css.text  # nothing fetched from elsewhere: intranets have no CDN


def _config(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path, env={**KEY_ENV, **(env or {})})


def test_the_sandbox_is_on_only_while_no_provider_is_configured(tmp_path: Path) -> None:
    assert _config(tmp_path, "").sandbox_on
    twilio = (
        f'[twilio]\naccount_sid = "AC{"1" * 32}"\nfrom_number = "+8610690000"\n'
        'public_url = "https://x.example.org"\n'
    )
    token = {"TWILIO_AUTH_TOKEN": "x"}
    assert not _config(tmp_path, twilio, token).sandbox_on
    assert _config(tmp_path, twilio + "[web]\nsandbox = true\n", token).sandbox_on
    assert not _config(tmp_path, "[web]\nsandbox = false\n").sandbox_on


def test_pages_that_are_off_have_no_routes(tmp_path: Path) -> None:
    off = _config(tmp_path, "[web]\npublic = false\nsandbox = false\nconsole = false\n")
    assert web_routes(off) == []
    assert web_routes(_config(tmp_path, ""))  # static files at least


def test_the_base_url_defaults_to_where_serve_listens(tmp_path: Path) -> None:
    assert _config(tmp_path, "").base_url() == "http://127.0.0.1:8080"
    given = _config(tmp_path, '[web]\nbase_url = "https://hx.example.org/"\n')
    assert given.base_url() == "https://hx.example.org"
    with pytest.raises(Exception, match="https://"):
        _config(tmp_path, '[web]\nbase_url = "hx.example.org"\n')


# --- the console's session contract (bot/web/console/access.py) --------------------------


async def _whoami(request: Request) -> Response:
    user = await require_user(request)
    if request.method == "POST":
        await checked_form(request, user)
    return PlainTextResponse(f"{user.name} {len(user.homes)}")


async def _probe(site: Site) -> httpx.AsyncClient:
    """A tiny app over the site's bot, serving one page through the access contract."""
    probe = Starlette(
        routes=[Route("/console/whoami", _whoami, methods=["GET", "POST"])],
        exception_handlers=_HANDLERS,
    )
    probe.state.bot = site.app
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=probe), base_url="http://t")


async def test_a_signed_in_secretary_is_known_and_forms_need_the_session_token(
    site: Site,
) -> None:
    client = await site.signed_in(SECRETARY_HX0101)
    probe = await _probe(site)
    probe.cookies = client.cookies
    page = await probe.get("/console/whoami")
    assert page.status_code == 200 and page.text == "张建国 1"
    refused = await probe.post("/console/whoami", data={"x": "1"})
    assert refused.status_code == 403
    session = await site.app.repos.console_sessions.find(
        client.cookies[COOKIE].split(".")[0].strip('"'), site.clock.now(), IDLE, IDLE
    )
    assert session is None  # the cookie is a signature over the token, not the token


async def test_no_cookie_a_foreign_cookie_or_an_ended_session_signs_nobody_in(
    site: Site,
) -> None:
    probe = await _probe(site)
    anonymous = await probe.get("/console/whoami?x=1&y=2")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/console/sign-in?next=/console/whoami%3Fx%3D1%26y%3D2"

    client = await site.signed_in(SECRETARY_HX0101)
    token_cookie = client.cookies[COOKIE]
    probe.cookies.set(COOKIE, token_cookie)
    assert (await probe.get("/console/whoami")).status_code == 200
    # The same token signed by another deployment's secret.
    record = await site.app.repos.people.resolve(Address(AddressKind.SMS, SECRETARY_HX0101))
    assert record.person_id is not None
    token, _ = await site.app.repos.console_sessions.open(record.person_id, site.clock.now(), IDLE)
    probe.cookies.set(COOKIE, cookie_value(b"another deployment", token))
    assert (await probe.get("/console/whoami")).status_code == 303
    # Ended: revoke ends every session of the person at once.
    assert await site.app.repos.console_sessions.end_all(record.person_id, site.clock.now()) == 2
    probe.cookies.set(COOKIE, token_cookie)
    assert (await probe.get("/console/whoami")).status_code == 303


async def test_a_session_expires_when_idle_and_after_its_maximum_age(site: Site) -> None:
    client = await site.signed_in(SECRETARY_HX0101)
    probe = await _probe(site)
    probe.cookies = client.cookies
    site.clock.advance(IDLE - timedelta(minutes=1))
    assert (await probe.get("/console/whoami")).status_code == 200  # and renewed
    site.clock.advance(IDLE - timedelta(minutes=1))
    assert (await probe.get("/console/whoami")).status_code == 200
    site.clock.advance(IDLE + timedelta(minutes=1))
    assert (await probe.get("/console/whoami")).status_code == 303


async def test_the_404_page_fits_a_phone(site: Site, browser, shoot) -> None:  # type: ignore[no-untyped-def]
    page = await browser.new_page(**ZH_PHONE)
    response = await page.goto(site.url + "/nowhere")
    assert response.status == 404
    assert await page.inner_text("h1") == "找不到这个页面"
    assert await horizontal_overflow(page) == 0
    await shoot(page, "not-found")


async def test_pages_are_compressed_for_slow_phones(site: Site) -> None:
    page = await site.get("/", headers={"accept-encoding": "gzip"})
    assert page.status_code == 200
    assert page.headers["content-encoding"] == "gzip"
    assert int(page.headers["content-length"]) < len(page.content) / 3  # httpx inflated it
    plain = await site.get("/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers


async def test_the_language_link_keeps_the_page_query_but_not_a_foreign_next(
    site: Site,
) -> None:
    page = await site.get("/nowhere?page=2", headers={"accept": "text/html"})
    assert 'href="/nowhere?page=2&amp;lang=en"' in page.text
    signin = await site.get("/console/sign-in?next=/console/o/HX01")
    assert "next=%2Fconsole%2Fo%2FHX01&amp;lang=en" in signin.text
    foreign = await site.get("/console/sign-in?next=//evil.example/x")
    assert "evil.example" not in foreign.text
