"""The campaign's activity aggregates (storage/activity.py), on both databases: members,
reporters week by week, the latest report, commitments, their roll-up over a subtree, and the
五带头 mix. The pages and the console read these figures; here they are checked one by one."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.messages import Address, AddressKind
from storage.activity import UNCATEGORISED, OrgActivity, local_week, rolled_up, week_starts
from storage.models import Category, Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, MEMBER_2, SECRETARY, START, VILLAGER

WEST_SECRETARY = "+8613800002100"
WEST_MEMBER = "+8613800002101"
TODAY = date(2026, 11, 26)  # START, a Thursday, in Beijing
MONDAY = date(2026, 11, 23)


async def _person(app: App, phone: str) -> int:
    record = await app.repos.people.resolve(Address(AddressKind.SMS, phone))
    assert record.person_id is not None
    return record.person_id


async def _org(app: App, code: str) -> int:
    org = await app.repos.orgs.by_code(code)
    assert org is not None
    return org.id


async def _deed(
    app: App, phone: str, code: str, day: date, category: Category | None = None
) -> None:
    await app.repos.deeds.add(
        person_id=await _person(app, phone),
        org_id=await _org(app, code),
        inbound_id=None,
        category=category,
        body="做了一件事",
        local_day=day,
        week_start=MONDAY,
        now=app.clock.now(),
    )


async def _commitment(
    app: App, code: str, due: date | None, *, published: bool = True, done: bool = False
) -> None:
    made = await app.repos.commitments.create(
        org_id=await _org(app, code),
        person_id=None,
        body="修路灯",
        due_on=due,
        created_by=None,
        publish_at=None,
        now=app.clock.now(),
        source=f"test:{code}:{due}:{published}:{done}",
    )
    if published:
        await app.repos.db.write(
            "UPDATE commitments SET published_at = :now WHERE id = :id",
            {"now": app.clock.now(), "id": made.id},
        )
    if done:
        assert await app.repos.commitments.complete(made.id, None, app.clock.now())


@pytest.fixture
async def active(county: App) -> App:
    """东坡村 (a secretary, two members, a villager) and 西岭村 (a secretary, a member)
    with reports over four weeks, and commitments in every state."""
    west = await _org(county, "HX0102")
    sms = AddressKind.SMS
    await county.repos.people.import_roster(
        [
            RosterEntry(west, "周海燕", Address(sms, WEST_SECRETARY), Role.SECRETARY),
            RosterEntry(west, "吴建华", Address(sms, WEST_MEMBER), Role.MEMBER),
        ],
        county.clock.now(),
    )
    # This week: 李秀英 twice, 王志强 once; last week 李秀英; three weeks ago the secretary.
    await _deed(county, MEMBER, "HX0101", MONDAY, Category.SERVICE)
    await _deed(county, MEMBER, "HX0101", TODAY, Category.SERVICE)
    await _deed(county, MEMBER_2, "HX0101", TODAY - timedelta(days=1), Category.STUDY)
    await _deed(county, MEMBER, "HX0101", MONDAY - timedelta(days=1))
    await _deed(county, SECRETARY, "HX0101", MONDAY - timedelta(weeks=3))
    # Before the window: the latest report of 西岭村 is old, and counted in no week.
    await _deed(county, WEST_MEMBER, "HX0102", MONDAY - timedelta(weeks=4, days=1))
    # A villager's deed (not a member) counts as a deed but not as a member reporting.
    await _deed(county, VILLAGER, "HX0101", TODAY)
    await _commitment(county, "HX0101", TODAY - timedelta(days=1))  # overdue
    await _commitment(county, "HX0101", TODAY)  # due today: not yet overdue
    await _commitment(county, "HX0101", TODAY - timedelta(days=9), done=True)
    await _commitment(county, "HX0101", None, published=False)  # held by the secretary
    await _commitment(county, "HX0102", None)
    return county


async def _by_code(app: App, **kwargs: object) -> dict[str, OrgActivity]:
    root = await _org(app, "HX")
    entries = await app.repos.activity.subtree(
        root, weeks=4, week_start=MONDAY, today=TODAY, **kwargs
    )
    return {e.code: e for e in entries}


async def test_each_organisation_has_its_own_members_reporters_and_commitments(
    active: App,
) -> None:
    found = await _by_code(active)
    assert list(found) == ["HX", "HX01", "HX0101", "HX0102"]  # the root included, code order
    east, west = found["HX0101"], found["HX0102"]
    assert (east.name, east.kind, east.theme) == ("东坡村党支部", "branch", "脱贫致富")
    assert east.parent_id == found["HX01"].org_id
    assert east.members == 3  # the villager is not a member
    assert east.weekly == (1, 0, 1, 2)  # oldest first; the last is this week
    assert east.reported_this_week == 2 and east.share == pytest.approx(2 / 3)
    assert east.deeds_this_week == 4  # the villager's deed included
    assert east.last_report == TODAY
    assert (east.commitments_open, east.commitments_done, east.commitments_overdue) == (2, 1, 1)
    assert east.commitments_made == 3
    assert west.members == 2 and west.weekly == (0, 0, 0, 0) and west.deeds_this_week == 0
    assert west.last_report == MONDAY - timedelta(weeks=4, days=1)
    assert (west.commitments_open, west.commitments_done, west.commitments_overdue) == (1, 0, 0)
    county = found["HX"]
    assert county.members == 0 and county.weekly == (0, 0, 0, 0) and county.last_report is None
    assert county.share == 0.0


async def test_the_console_may_count_commitments_not_yet_published(active: App) -> None:
    found = await _by_code(active, published_only=False)
    assert found["HX0101"].commitments_open == 3


async def test_a_subtree_below_the_county_starts_at_its_root(active: App) -> None:
    entries = await active.repos.activity.subtree(
        await _org(active, "HX0102"), weeks=2, week_start=MONDAY, today=TODAY
    )
    assert [e.code for e in entries] == ["HX0102"]
    assert entries[0].weekly == (0, 0)


async def test_a_week_later_this_week_is_empty_and_the_weeks_shift(active: App) -> None:
    found = {
        e.code: e
        for e in await active.repos.activity.subtree(
            await _org(active, "HX"),
            weeks=4,
            week_start=MONDAY + timedelta(weeks=1),
            today=TODAY + timedelta(weeks=1),
        )
    }
    assert found["HX0101"].weekly == (0, 1, 2, 0)
    assert found["HX0101"].deeds_this_week == 0
    assert found["HX0101"].commitments_overdue == 2


async def test_rolled_up_sums_each_subtree(active: App) -> None:
    own = await _by_code(active)
    totals = {e.code: e for e in rolled_up(list(own.values())).values()}
    township, county = totals["HX01"], totals["HX"]
    assert township.members == 5 and township.weekly == (1, 0, 1, 2)
    assert township.deeds_this_week == 4 and township.last_report == TODAY
    assert (township.commitments_open, township.commitments_done) == (3, 1)
    assert township.commitments_overdue == 1
    identity = ("org_id", "code", "name", "kind", "parent_id", "theme")
    assert replace(county, **{k: getattr(township, k) for k in identity}) == township
    assert totals["HX0102"] == own["HX0102"]  # a leaf is itself


async def test_categories_count_the_five_goods_since_a_day(active: App) -> None:
    east = await _org(active, "HX0101")
    west = await _org(active, "HX0102")
    assert await active.repos.activity.categories([east, west], MONDAY) == {
        "service": 2,
        "study": 1,
        UNCATEGORISED: 1,
    }
    everything = await active.repos.activity.categories([east, west], date(2026, 1, 1))
    assert sum(everything.values()) == 7
    assert await active.repos.activity.categories([], MONDAY) == {}


async def test_an_empty_subtree_and_a_single_week(county: App) -> None:
    entries = await county.repos.activity.subtree(
        await _org(county, "HX"), weeks=1, week_start=MONDAY, today=TODAY
    )
    assert all(e.weekly == (0,) and e.deeds_this_week == 0 for e in entries)
    with pytest.raises(ValueError):
        await county.repos.activity.subtree(1, weeks=0, week_start=MONDAY, today=TODAY)


def test_the_local_week_is_the_campaign_zone_monday() -> None:
    # Sunday 23:30 UTC is already Monday morning in Beijing.
    sunday_night = START.replace(day=29, hour=23, minute=30)
    assert local_week(sunday_night, ZoneInfo("Asia/Shanghai")) == (
        date(2026, 11, 30),
        date(2026, 11, 30),
    )
    assert local_week(START, ZoneInfo("Asia/Shanghai")) == (TODAY, MONDAY)
    assert week_starts(MONDAY, 3) == [
        MONDAY - timedelta(weeks=2),
        MONDAY - timedelta(weeks=1),
        MONDAY,
    ]
