"""Plain records the repositories return; no SQL and no behaviour beyond reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Role(StrEnum):
    MEMBER = "member"
    SECRETARY = "secretary"
    LEADER = "leader"
    PUBLIC = "public"
    ADMIN = "admin"


class OrgKind(StrEnum):
    COUNTY = "county"  # county Party committee
    TOWNSHIP = "township"  # township / street Party committee
    BRANCH = "branch"  # village or community Party branch
    YOUTH_LEAGUE = "youth_league"  # 党建带团建
    UNION = "union"  # 党建带工建
    WOMENS_FEDERATION = "womens_federation"  # 党建带妇建


# Kinds a villager can join directly: the branches, not the committees above them.
JOINABLE_KINDS = frozenset(
    {OrgKind.BRANCH, OrgKind.YOUTH_LEAGUE, OrgKind.UNION, OrgKind.WOMENS_FEDERATION}
)


class Category(StrEnum):
    """五带头: the five ways a member leads by example."""

    STUDY = "study"  # 学习提高
    ACHIEVEMENT = "achievement"  # 争创佳绩
    SERVICE = "service"  # 服务群众
    DISCIPLINE = "discipline"  # 遵纪守法
    INTEGRITY = "integrity"  # 弘扬正气


CATEGORIES: tuple[Category, ...] = tuple(Category)


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    theme: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True)
class Grant:
    """One role a person holds in one organisation."""

    role: Role
    org_id: int
    org_code: str
    org_name: str
    org_kind: str
    org_timezone: str | None


@dataclass(frozen=True, slots=True)
class SenderRecord:
    """What storage knows of an address: its person (if any), their roles, opt-out state."""

    address_id: int | None
    person_id: int | None
    name: str | None
    language: str | None
    opted_out_at: datetime | None
    grants: tuple[Grant, ...] = field(default=())
    has_pending: bool = False  # a question asked back awaits this address's answer


@dataclass(frozen=True, slots=True)
class Recorded:
    """The result of recording an inbound message."""

    id: int
    is_new: bool
    status: str
    reply: str | None  # JSON of the replies given the first time
    sender: SenderRecord | None = None  # who sent it, when read in the same statement


@dataclass(frozen=True, slots=True)
class DeedStats:
    this_week: int
    streak_days: int
    total: int


@dataclass(frozen=True, slots=True)
class CategoryCount:
    category: Category | None
    this_week: int
    total: int


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    count: int
