"""Nothing personal on any public page: every page reachable from `/` and every
organisation's page, HTML and JSON, of a demo county with a campaign behind it (notices with
objections, comments, commentary, polls open and closed), is scanned for phone numbers in any
form, villagers' names, objectors and comment authors, and members' names outside what the
campaign publishes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.clock import FixedClock
from bot.privacy import mask_phone
from tests.web.conftest import Site, _site, web_config
from tests.web.populate_more import COMMENTS, OBJECTION, demo_people, more_demo

# A Chinese mobile number in any form: bare, +86, spaced, dashed or masked (138****1101).
_PHONE_LIKE = re.compile(r"(?<![\d.])(?:\+?86[ \-]?)?1\d{2}[ \-]?[\d*]{4}[ \-]?\d{4}(?!\d)")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "href" and value:
                self.links.append(value)


def _public(href: str) -> str | None:
    """The path of a link to a public page of this site, without its query; None else."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if parts.path.startswith(("/static/", "/console", "/sandbox")):
        return None
    return parts.path + (f"?{parts.query}" if "lang=" in parts.query else "")


@pytest.fixture
async def busy_site(db_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[Site]:
    async for opened in _site(web_config(db_url, tmp_path), clock):
        await more_demo(opened.app, clock)
        yield opened


async def _crawl(site: Site) -> dict[str, str]:
    """Every public page reachable from `/` and from each organisation's page, both
    languages, with each /o/ page's JSON twin: path -> body."""
    codes = [row[0] for row in demo_people()] + ["HX", "HX01", "HX02"]
    queue = ["/", "/?lang=en"]
    for code in dict.fromkeys(codes):
        queue += [f"/o/{code}", f"/o/{code}.json", f"/o/{code}?lang=en", f"/o/{code}.json?lang=en"]
    seen: dict[str, str] = {}
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        response = await site.get(path, headers={"accept": "text/html"})
        seen[path] = response.text
        if path == "/" or path.startswith("/?"):
            if response.status_code == 404:
                continue  # the index is another page's work; the /o/ pages are walked anyway
        assert response.status_code == 200, path
        if "html" in response.headers.get("content-type", ""):
            parser = _Links()
            parser.feed(response.text)
            queue += [p for p in map(_public, parser.links) if p is not None]
    return seen


async def test_no_public_page_shows_anything_personal(busy_site: Site) -> None:
    pages = await _crawl(busy_site)
    assert sum(1 for p in pages if p.startswith("/o/")) >= 8 * 4  # every unit, twice twice
    people = demo_people()
    villagers = [name for _, name, _, role in people if role == "public"]
    # Members' names may appear only where the campaign publishes them.
    db = busy_site.app.repos.db
    published = {
        r["name"]
        for r in await db.fetch(
            "SELECT p.name FROM commitments c JOIN people p ON p.id = c.person_id "
            "WHERE c.published_at IS NOT NULL "
            "UNION SELECT p.name FROM notice_candidates n JOIN people p ON p.id = n.person_id "
            "UNION SELECT p.name FROM featured_deeds f JOIN deeds d ON d.id = f.deed_id "
            "JOIN people p ON p.id = d.person_id WHERE f.withdrawn_at IS NULL"
        )
    }
    assert published  # the demo publishes some, so the check below means something
    others = [name for _, name, _, role in people if role != "public" and name not in published]
    phones = [phone for _, _, phone, _ in people]
    comment_texts = [r["body"] for r in await db.fetch("SELECT body FROM comments")] + COMMENTS
    comment_texts = [text for text in comment_texts if len(text) >= 4]  # not "好"
    assert len(pages) > 0
    for path, body in pages.items():
        for name in villagers:
            assert name not in body, f"villager {name} on {path}"
        for name in others:
            assert name not in body, f"{name} on {path}, who published nothing"
        for phone in phones:
            for form in (phone, "+86" + phone, mask_phone("+86" + phone), phone[-8:]):
                assert form not in body, f"phone {form} on {path}"
        assert not _PHONE_LIKE.findall(body), f"a phone number on {path}"
        assert OBJECTION not in body, f"an objection on {path}"
        for text in comment_texts:  # comments (and so their authors) are not public pages'
            assert text not in body, f"comment {text!r} on {path}"
