"""Who may do what on which organisation: the one place every command asks.

The rule follows the organisational tree (隶属关系): a member acts in their branch, a
secretary runs their branch, a leader acts anywhere in their subtree, an admin anywhere.
Each action names the least role that may take it; a refusal says which role that is.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from handlers.base import Context
from storage.models import Grant, Role


class Level(StrEnum):
    """What an action needs, from least to most."""

    PUBLIC = "public"  # anyone with a role in the organisation (villagers included)
    MEMBER = "member"  # a Party member (or the secretary) of the organisation
    SECRETARY = "secretary"  # its secretary, or a leader above it
    LEADER = "leader"  # a leader of the organisation or of one above it


class Action(StrEnum):
    # Issue 2 and the scheduler issue
    REPORT = "report"
    RECORD = "record"
    NUDGES = "nudges"
    NOTICE = "notice"  # 通知: a message to the whole branch
    # Polls and comments (群众评议)
    ANSWER_POLL = "answer_poll"
    COMMENT = "comment"
    CREATE_POLL = "create_poll"
    POLL_RESULTS = "poll_results"
    MODERATE_COMMENTS = "moderate_comments"
    # Commitments, recommendation, public notice, commentary, briefings
    COMMIT = "commit"
    BRANCH_COMMITMENT = "branch_commitment"
    RECOMMEND = "recommend"
    LIST_RECOMMENDATIONS = "list_recommendations"
    SHORTLIST = "shortlist"
    PUBLIC_NOTICE = "public_notice"
    OBJECT = "object"
    NOTICE_OUTCOME = "notice_outcome"
    SEE_OBJECTORS = "see_objectors"  # leaders above the branch only, never its secretary
    COMMENTARY = "commentary"
    BRIEFING = "briefing"
    # A branch's week from the phone (汇报情况 / 本周 / 查询 HX0101): who reported, who not
    BRANCH_WEEK = "branch_week"
    # Featured deeds (典型): a member's deed on the public pages (handlers/featured.py)
    FEATURE_DEED = "feature_deed"
    # The console's roster upload and download, and the records for commendation
    MANAGE_ROSTER = "manage_roster"
    EXPORT_RECORDS = "export_records"


NEEDS: dict[Action, Level] = {
    Action.REPORT: Level.MEMBER,
    Action.RECORD: Level.MEMBER,
    Action.NUDGES: Level.MEMBER,
    Action.NOTICE: Level.SECRETARY,
    Action.ANSWER_POLL: Level.PUBLIC,
    Action.COMMENT: Level.PUBLIC,
    Action.CREATE_POLL: Level.SECRETARY,
    Action.POLL_RESULTS: Level.SECRETARY,
    Action.MODERATE_COMMENTS: Level.SECRETARY,
    Action.COMMIT: Level.MEMBER,
    Action.BRANCH_COMMITMENT: Level.SECRETARY,
    Action.RECOMMEND: Level.PUBLIC,
    Action.LIST_RECOMMENDATIONS: Level.SECRETARY,
    Action.SHORTLIST: Level.SECRETARY,
    Action.PUBLIC_NOTICE: Level.SECRETARY,
    Action.OBJECT: Level.PUBLIC,
    Action.NOTICE_OUTCOME: Level.SECRETARY,
    Action.SEE_OBJECTORS: Level.LEADER,
    Action.COMMENTARY: Level.LEADER,
    Action.BRIEFING: Level.SECRETARY,
    Action.BRANCH_WEEK: Level.SECRETARY,
    Action.FEATURE_DEED: Level.SECRETARY,
    Action.MANAGE_ROSTER: Level.SECRETARY,
    Action.EXPORT_RECORDS: Level.SECRETARY,
}

# Roles that act on the organisation they are held in, per level.
_HERE: dict[Level, frozenset[Role]] = {
    Level.PUBLIC: frozenset({Role.PUBLIC, Role.MEMBER, Role.SECRETARY}),
    Level.MEMBER: frozenset({Role.MEMBER, Role.SECRETARY}),
    Level.SECRETARY: frozenset({Role.SECRETARY}),
    Level.LEADER: frozenset(),
}
# Leaders are Party members too: they report deeds and keep a record, filed in the
# organisation where they hold the leader role (they belong to no branch).
_ALSO_HERE: dict[Action, frozenset[Role]] = {
    Action.REPORT: frozenset({Role.LEADER}),
    Action.RECORD: frozenset({Role.LEADER}),
}
# Actions the organisation's own secretary never takes there, whatever else they hold.
_NEVER_OWN_SECRETARY = frozenset({Action.SEE_OBJECTORS})
# Roles that act on every organisation below (and at) the one they are held in.
_BELOW = frozenset({Role.LEADER})
# Where an action is taken when the sender names no organisation: their own first.
_HOME_ORDER = (Role.SECRETARY, Role.MEMBER, Role.PUBLIC, Role.LEADER, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an action was refused: the role it needs, on which organisation."""

    action: Action
    needed: Level
    org_name: str | None


def _here(action: Action) -> frozenset[Role]:
    return _HERE[NEEDS[action]] | _ALSO_HERE.get(action, frozenset())


def _rank(grant: Grant) -> int:
    return _HOME_ORDER.index(grant.role) if grant.role in _HOME_ORDER else len(_HOME_ORDER)


def home_grants(ctx: Context, action: Action) -> list[Grant]:
    """The sender's grants through which `action` can be taken without naming an
    organisation (their branch, or a leader's own organisation), best first."""
    level = NEEDS[action]
    here = _here(action)
    # Leaders and admins run things; they are not the public of a branch.
    runs = level in (Level.SECRETARY, Level.LEADER)
    usable = [
        g
        for g in ctx.sender.grants
        if g.role in here or (runs and (g.role in _BELOW or g.role == Role.ADMIN))
    ]
    return sorted(usable, key=_rank)


async def allowed(ctx: Context, action: Action, org_id: int) -> bool:
    """May the sender take `action` on organisation `org_id`?"""
    level = NEEDS[action]
    grants = ctx.sender.grants
    here = _here(action)
    if level in (Level.PUBLIC, Level.MEMBER):  # one's own branch: nobody acts for others
        return any(g.org_id == org_id and g.role in here for g in grants)
    # Who objected must stay unknown to the people they object to: the branch's own
    # secretary is excluded whatever else they hold, the admin grant included.
    if action in _NEVER_OWN_SECRETARY and any(
        g.org_id == org_id and g.role == Role.SECRETARY for g in grants
    ):
        return False
    if any(g.role == Role.ADMIN for g in grants):
        return True
    if any(g.org_id == org_id and g.role in here for g in grants):
        return True
    leading = {g.org_id for g in grants if g.role in _BELOW}
    if not leading:
        return False
    if level is Level.LEADER:
        # Above the organisation, strictly, and not its secretary too: who objected must
        # stay unknown to the people they object to.
        if any(g.org_id == org_id and g.role == Role.SECRETARY for g in grants):
            return False
        return bool(leading.intersection((await ctx.repos.orgs.ancestor_ids(org_id))[1:]))
    if org_id in leading:
        return True
    return bool(leading.intersection(await ctx.repos.orgs.ancestor_ids(org_id)))


async def check(ctx: Context, action: Action, org_id: int, org_name: str | None = None) -> bool:
    """`allowed`, answering a refusal that names the role needed when it is not."""
    if await allowed(ctx, action, org_id):
        return True
    refuse(ctx, Refusal(action, NEEDS[action], org_name))
    return False


def refuse(ctx: Context, refusal: Refusal) -> None:
    role = ctx.texts.get(f"permission.role.{refusal.needed.value}")
    if refusal.org_name:
        ctx.reply("permission.refused_in", role=role, org=refusal.org_name)
    else:
        ctx.reply("permission.refused", role=role)


def require_home(ctx: Context, action: Action) -> Grant | None:
    """The grant to act through when no organisation is named; refuses when none."""
    grants = home_grants(ctx, action)
    if grants:
        return grants[0]
    refuse(ctx, Refusal(action, NEEDS[action], None))
    return None
