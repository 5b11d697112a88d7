"""The permissions module: who may do what on which organisation, along the tree."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.messages import Address, AddressKind
from bot.texts import texts_for
from handlers.base import Context, Sender
from handlers.permissions import NEEDS, Action, Level, allowed, check, home_grants
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import MEMBER, SECRETARY, VILLAGER

LEADER = "+8613700000001"  # 青山镇党委 (HX01): leads both branches
COUNTY_ADMIN = "+8613700000002"
BRANCH_LEADER = "+8613700000003"  # a leader role held on 东坡村 itself: not "above" it


async def context(app: App, number: str) -> Context:
    address = Address(AddressKind.SMS, number)
    record = await app.repos.people.resolve(address)
    return Context(
        Sender(address, record), app.repos, texts_for("zh-CN"), app.clock, app.router.settings
    )


async def org_id(app: App, code: str) -> int:
    org = await app.repos.orgs.by_code(code)
    assert org is not None
    return org.id


@pytest.fixture
async def tree(county: App) -> App:
    now = county.clock.now()
    township, top = await org_id(county, "HX01"), await org_id(county, "HX")
    await county.repos.people.import_roster(
        [
            RosterEntry(township, "镇书记", Address(AddressKind.SMS, LEADER), Role.LEADER),
            RosterEntry(top, "县管理员", Address(AddressKind.SMS, COUNTY_ADMIN), Role.ADMIN),
            RosterEntry(
                await org_id(county, "HX0101"),
                "村主任",
                Address(AddressKind.SMS, BRANCH_LEADER),
                Role.LEADER,
            ),
        ],
        now,
    )
    return county


@pytest.mark.parametrize(
    ("number", "action", "code", "expected"),
    [
        (SECRETARY, Action.CREATE_POLL, "HX0101", True),
        (SECRETARY, Action.CREATE_POLL, "HX0102", False),  # another branch
        (SECRETARY, Action.CREATE_POLL, "HX01", False),  # the township above
        (MEMBER, Action.CREATE_POLL, "HX0101", False),  # a member, not the secretary
        (MEMBER, Action.REPORT, "HX0101", True),
        (VILLAGER, Action.REPORT, "HX0101", False),
        (VILLAGER, Action.COMMENT, "HX0101", True),
        (VILLAGER, Action.COMMENT, "HX0102", False),
        (LEADER, Action.CREATE_POLL, "HX0102", True),  # within the subtree
        (LEADER, Action.CREATE_POLL, "HX", False),  # above it
        (LEADER, Action.COMMENTARY, "HX0101", True),
        (SECRETARY, Action.COMMENTARY, "HX0101", False),  # commentary is a leader's
        (LEADER, Action.SEE_OBJECTORS, "HX0101", True),
        (SECRETARY, Action.SEE_OBJECTORS, "HX0101", False),  # objectors stay safe from them
        (BRANCH_LEADER, Action.SEE_OBJECTORS, "HX0101", False),  # not above the branch
        (BRANCH_LEADER, Action.COMMENTARY, "HX0101", False),
        (LEADER, Action.REPORT, "HX0101", False),  # a leader is not a branch member
        (COUNTY_ADMIN, Action.PUBLIC_NOTICE, "HX0102", True),
        (COUNTY_ADMIN, Action.COMMENT, "HX0102", False),  # the public speaks for itself
    ],
)
async def test_who_may_do_what_where(tree: App, number, action, code, expected):
    ctx = await context(tree, number)
    assert await allowed(ctx, action, await org_id(tree, code)) is expected


async def test_a_refusal_names_the_role_and_the_organisation(tree: App):
    ctx = await context(tree, SECRETARY)
    assert not await check(ctx, Action.CREATE_POLL, await org_id(tree, "HX0102"), "西岭村党支部")
    assert [r.body for r in ctx.replies] == [
        "在西岭村党支部此操作需要支部书记或上级党委负责人身份。"
    ]


async def test_home_is_the_own_branch_and_a_leader_reports_where_they_lead(tree: App):
    secretary = await context(tree, SECRETARY)
    assert [g.org_code for g in home_grants(secretary, Action.CREATE_POLL)] == ["HX0101"]
    leader = await context(tree, LEADER)
    assert [g.role for g in home_grants(leader, Action.CREATE_POLL)] == [Role.LEADER]
    # Leaders are Party members (issue 11.4): their deeds are filed where they lead.
    assert [g.org_code for g in home_grants(leader, Action.REPORT)] == ["HX01"]
    assert home_grants(await context(tree, VILLAGER), Action.NOTICE) == []


def test_every_action_has_a_level():
    assert set(NEEDS) == set(Action)
    assert {level for level in NEEDS.values()} <= set(Level)
