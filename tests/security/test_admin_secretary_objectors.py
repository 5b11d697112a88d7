"""12.14: an admin who is also a branch's secretary does not see who objected there.

The exclusion of the branch's own secretary wins over the admin grant: objectors must stay
unknown to the people they object to, whatever else those people are.
"""

from __future__ import annotations

import pytest

from bot.app import App
from bot.messages import Address, AddressKind
from handlers.permissions import Action, allowed
from storage.models import Role
from storage.people import RosterEntry
from tests.conftest import SECRETARY
from tests.test_permissions import context, org_id


@pytest.fixture
async def admin_secretary(county: App) -> App:
    """东坡村's secretary also holds the county's admin role."""
    await county.repos.people.import_roster(
        [
            RosterEntry(
                await org_id(county, "HX"),
                "张建国",
                Address(AddressKind.SMS, SECRETARY),
                Role.ADMIN,
            )
        ],
        county.clock.now(),
    )
    return county


async def test_an_admin_secretary_does_not_see_objectors_in_own_branch(admin_secretary: App):
    ctx = await context(admin_secretary, SECRETARY)
    assert {g.role for g in ctx.sender.grants} >= {Role.ADMIN, Role.SECRETARY}
    assert not await allowed(ctx, Action.SEE_OBJECTORS, await org_id(admin_secretary, "HX0101"))


async def test_the_admin_grant_still_reaches_other_branches(admin_secretary: App):
    ctx = await context(admin_secretary, SECRETARY)
    assert await allowed(ctx, Action.SEE_OBJECTORS, await org_id(admin_secretary, "HX0102"))
    # Running the own branch is untouched by the exclusion.
    assert await allowed(ctx, Action.PUBLIC_NOTICE, await org_id(admin_secretary, "HX0101"))
