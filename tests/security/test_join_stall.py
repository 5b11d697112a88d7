"""12.6: one 加入 must not stall the service, however long the code and large the county.

Timings belong to bench/join_stall.py; here the structure that bounds the work is checked:
absurd input is answered before any lookup, what is compared is a bounded candidate set
(not every organisation) of bounded length, and the comparison runs off the event loop.
"""

from __future__ import annotations

import threading

import pytest

import handlers.registration as registration
from bot.app import App
from storage.models import Org
from tests.conftest import STRANGER

ORGS = 5000


@pytest.fixture
async def big_county(county: App) -> App:
    """东坡村 and 西岭村 among 5,000 branches coded as counties code them (HX0201, ...)."""
    many = [
        {"code": f"HX{i // 50 + 2:02d}{i % 50 + 1:02d}", "name": f"第{i}村党支部", "kind": "branch"}
        for i in range(ORGS)
    ]
    await county.repos.orgs.upsert_many(many, county.clock.now())
    return county


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, bool]]:
    """Each call of `suggest`: what was typed, how many organisations, on the loop's thread?"""
    calls: list[tuple[str, int, bool]] = []
    real = registration.suggest
    main = threading.main_thread()

    def spy(query: str, orgs: list[Org]) -> list[Org]:
        calls.append((query, len(orgs), threading.current_thread() is main))
        return real(query, orgs)

    monkeypatch.setattr(registration, "suggest", spy)
    return calls


async def test_an_absurd_code_is_answered_before_any_comparison(big_county, phone, compared):
    reply = await phone(STRANGER).says_one("加入 " + "H" * 1600)
    assert reply == "支部代码只有几个字符，请回复 加入+代码，代码可问村党支部。"
    assert compared == []


async def test_a_long_mistyped_code_compares_a_bounded_set_off_the_loop(
    big_county, phone, compared
):
    typed = "HX0101" + "9" * (registration.MAX_TYPED - 6)
    await phone(STRANGER).says("加入 " + typed)
    [(query, candidates, on_loop)] = compared
    assert len(query) <= registration.MAX_TYPED
    assert candidates <= registration.MAX_CANDIDATES < ORGS
    assert not on_loop


async def test_near_codes_and_names_are_still_found_among_thousands(big_county, phone, compared):
    assert "HX0101" in await phone(STRANGER).says_one("加入 HX0l01")
    assert "东坡村党支部" in await phone(STRANGER).says_one("加入 东破村")
    assert all(candidates <= registration.MAX_CANDIDATES for _, candidates, _ in compared)
