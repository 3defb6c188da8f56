"""The Authorizer's decision cache against Casbin itself, deny by default, and the role table.

The API never calls `enforce()` per request: it caches the role rules by (role, permission) and
applies a member's restrictions from the actor. These tests build the state Casbin would hold
if every membership and restriction were a rule (g rules per company, deny rules per member)
and prove that both give the same answer for every member and permission.
"""

from __future__ import annotations

import itertools
import random
import shutil
from types import SimpleNamespace

import casbin
import pytest

from models import ApiScope, Role
from policies.actor import Actor
from policies.authorizer import MODEL_PATH, POLICY_PATH, Authorizer
from policies.errors import Forbidden, NotAuthenticated
from policies.permissions import OPERATOR_ROLE, Permission
from tests.policies.roles import (
    ADMIN_ONLY,
    COMPANY_PERMISSIONS,
    EXPECTED_ROLE_PERMISSIONS,
    OPERATOR_ONLY,
    SCOPE_ROLES,
)

P = Permission
COMPANIES = 20
ROLES = list(Role)
ROLE_NAMES = [r.value for r in Role] + [OPERATOR_ROLE, *SCOPE_ROLES]
OPERATOR_PERMISSIONS = EXPECTED_ROLE_PERMISSIONS[OPERATOR_ROLE]  # its own, and reading the catalogue
USER_PERMISSIONS = frozenset(p for p in Permission if p.obj == "user")


def actor(
    role: Role | None = Role.ADMIN, *, company_id: int | None = 1, restricted=(), user_id: int = 1,
    operator: bool = False,
) -> Actor:
    return Actor(
        user_id=user_id, session_id=user_id, membership_id=user_id if company_id else None, company_id=company_id,
        role=role, restricted=frozenset(p.value if isinstance(p, Permission) else p for p in restricted),
        is_operator=operator,
    )


def operator_outside_companies(user_id: int = 9) -> Actor:
    """As policies.actor.load_actor builds an operator signed in without a company."""
    return Actor(user_id=user_id, session_id=user_id, membership_id=None, company_id=None, role=None,
                 restricted=frozenset(), is_operator=True)


def policy_rules() -> list[list[str]]:
    rows = []
    for line in POLICY_PATH.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append([cell.strip() for cell in line.split(",")])
    return rows


def granted_in_csv() -> dict[str, set[Permission]]:
    """role -> permissions, read straight from policy.csv's text (not through Casbin)."""
    roles: dict[str, set[Permission]] = {}
    for kind, role, domain, obj, act, effect in policy_rules():
        assert (kind, domain, effect) == ("p", "*", "allow"), f"unexpected rule in policy.csv: {role} {obj}:{act}"
        roles.setdefault(role, set()).add(Permission(f"{obj}:{act}"))
    return roles


# --- the cache agrees with Casbin ----------------------------------------------------------------------------

def populated_enforcer(seed: int = 20240601):
    """A Casbin enforcer holding every membership (g) and restriction (deny p) of 20 companies x 4 roles,
    plus one platform operator acting in each of a few companies; and the same people as the API loads
    them (Actor objects)."""
    rng = random.Random(seed)
    enforcer = casbin.Enforcer(str(MODEL_PATH), str(POLICY_PATH))
    members: list[Actor] = []
    user_id = 0
    for company_id in range(1, COMPANIES + 1):
        domain = f"company:{company_id}"
        for role in ROLES:
            user_id += 1
            assert enforcer.add_grouping_policy(f"user:{user_id}", role.value, domain)
            restricted: set[str] = set()
            if rng.random() < 0.5:  # half of the members lose one to three permissions, granted or not
                for permission in rng.sample(list(Permission), rng.randint(1, 3)):
                    restricted.add(permission.value)
                    assert enforcer.add_policy(f"user:{user_id}", domain, permission.obj, permission.act, "deny")
            members.append(actor(role, company_id=company_id, restricted=restricted, user_id=user_id))
        if company_id % 5 == 0:  # an operator who is also a customer here: operator rights hold in any company
            user_id += 1
            enforcer.add_grouping_policy(f"user:{user_id}", Role.CUSTOMER.value, domain)
            enforcer.add_grouping_policy(f"user:{user_id}", OPERATOR_ROLE, domain)
            members.append(actor(Role.CUSTOMER, company_id=company_id, user_id=user_id, operator=True))
    return enforcer, members


def test_cached_decisions_equal_casbin_for_every_member_and_permission():
    enforcer, members = populated_enforcer()
    authorizer = Authorizer()
    assert len(members) == COMPANIES * len(ROLES) + COMPANIES // 5
    assert sum(1 for m in members if m.restricted) >= COMPANIES // 2, "the generator should restrict many members"
    disagreements = []
    checked = allowed = 0
    for member in members:
        for permission in Permission:
            expected = enforcer.enforce(f"user:{member.user_id}", member.domain, permission.obj, permission.act)
            got = authorizer.allows(member, permission)
            checked += 1
            allowed += got
            if expected != got:
                disagreements.append((member.user_id, member.role.value, member.is_operator, sorted(member.restricted),
                                      permission.value, expected, got))
    assert disagreements == []
    assert checked == len(members) * len(Permission)
    assert 0 < allowed < checked  # both outcomes were exercised
    # and a second pass, now served from the cache, gives the same answers
    assert all(
        authorizer.allows(m, p) == enforcer.enforce(f"user:{m.user_id}", m.domain, p.obj, p.act)
        for m in members[:8] for p in Permission
    )


def api_client(scopes, *, company_id: int = 1, client_id: int = 1) -> Actor:
    """As policies.actor.client_actor builds the actor of an API client."""
    return Actor(user_id=None, session_id=None, membership_id=None, company_id=company_id, role=None,
                 restricted=frozenset(), is_operator=False, api_client_id=client_id,
                 scopes=frozenset(scope.policy_role for scope in scopes))


def test_an_api_client_is_decided_by_its_scopes_as_casbin_decides_them():
    """Every combination of scopes, as Casbin sees a client subject holding its scopes as roles in its company."""
    enforcer = casbin.Enforcer(str(MODEL_PATH), str(POLICY_PATH))
    authorizer = Authorizer()
    combinations = [combo for size in range(len(ApiScope) + 1) for combo in itertools.combinations(ApiScope, size)]
    allowed = 0
    for client_id, scopes in enumerate(combinations, start=1):
        client = api_client(scopes, company_id=client_id % 3 + 1, client_id=client_id)
        for scope in scopes:
            assert enforcer.add_grouping_policy(f"api_client:{client_id}", scope.policy_role, client.domain)
        for permission in Permission:
            expected = enforcer.enforce(f"api_client:{client_id}", client.domain, permission.obj, permission.act)
            assert authorizer.allows(client, permission) is expected, (scopes, permission)
            allowed += expected
        assert set(authorizer.effective_permissions(client)) == set().union(
            *(EXPECTED_ROLE_PERMISSIONS[scope.policy_role] for scope in scopes))
    assert allowed > 0
    assert authorizer.effective_permissions(api_client(())) == []  # no scope, no right


def test_an_api_client_never_gets_a_right_of_a_role_or_of_the_operator():
    authorizer = Authorizer()
    everything = api_client(ApiScope)
    # A client's role, restrictions and operator flag are not consulted: only its scopes.
    assert not authorizer.allows(everything, P.ORDER_CREATE)
    assert not authorizer.allows(everything, P.API_CLIENT_MANAGE)
    assert authorizer.require(everything, P.ORDER_READ_ALL) is everything
    with pytest.raises(Forbidden):
        authorizer.require(everything, P.AUDIT_READ)
    with pytest.raises(Forbidden):
        authorizer.require_operator(everything, P.CATALOGUE_MANAGE)


def test_a_restriction_denies_only_that_member_and_only_that_permission():
    enforcer, members = populated_enforcer()
    authorizer = Authorizer()
    admin = next(m for m in members if m.role == Role.ADMIN and m.company_id == 3)
    colleague = next(m for m in members if m.role == Role.ADMIN and m.company_id == 4)
    enforcer.add_policy(f"user:{admin.user_id}", admin.domain, "group", "manage", "deny")
    restricted_admin = actor(Role.ADMIN, company_id=3, user_id=admin.user_id,
                             restricted=admin.restricted | {"group:manage"})
    assert enforcer.enforce(f"user:{admin.user_id}", admin.domain, "group", "manage") is False
    assert authorizer.allows(restricted_admin, P.GROUP_MANAGE) is False
    assert authorizer.allows(restricted_admin, P.GROUP_READ) is ("group:read" not in admin.restricted)
    assert authorizer.allows(actor(Role.ADMIN, company_id=4, user_id=colleague.user_id), P.GROUP_MANAGE) is True
    # the cached role decision was not poisoned by the restricted member
    assert authorizer.role_allows("admin", P.GROUP_MANAGE) is True


def test_casbin_binds_a_membership_to_its_own_company():
    """The model behind the cache: a role held in one company grants nothing in another. The
    Authorizer relies on this by taking the company from the actor (the token), never from input."""
    enforcer, members = populated_enforcer()
    admins = [m for m in members if m.role == Role.ADMIN]
    assert len(admins) == COMPANIES
    for member in admins:
        other = f"company:{member.company_id % COMPANIES + 1}"
        granted = "company:update" not in member.restricted
        assert enforcer.enforce(f"user:{member.user_id}", member.domain, "company", "update") is granted
        assert enforcer.enforce(f"user:{member.user_id}", other, "company", "update") is False
    assert sum("company:update" not in m.restricted for m in admins) > COMPANIES // 2


def test_restricting_a_permission_the_role_lacks_changes_nothing():
    authorizer = Authorizer()
    customer = actor(Role.CUSTOMER, restricted={P.USER_RESTRICT, P.BUDGET_MANAGE})
    assert set(authorizer.effective_permissions(customer)) == EXPECTED_ROLE_PERMISSIONS["customer"]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_effective_permissions_are_the_role_minus_restrictions(role):
    authorizer = Authorizer()
    restricted = {P.COMPANY_READ, P.ORDER_CREATE}
    effective = set(authorizer.effective_permissions(actor(role, restricted=restricted)))
    assert effective == EXPECTED_ROLE_PERMISSIONS[role.value] - restricted


def test_an_operator_gets_operator_permissions_only():
    authorizer = Authorizer()
    assert set(authorizer.effective_permissions(operator_outside_companies())) == OPERATOR_PERMISSIONS
    # an operator who is also a member has both, and restrictions never touch operator rights
    member = actor(Role.CUSTOMER, operator=True, restricted={P.ORDER_FULFIL, P.ORDER_CREATE})
    assert set(authorizer.effective_permissions(member)) == (
        (EXPECTED_ROLE_PERMISSIONS["customer"] - {P.ORDER_CREATE}) | OPERATOR_PERMISSIONS
    )
    # and no company role carries an operator permission
    for role in ROLES:
        assert not set(authorizer.effective_permissions(actor(role))) & OPERATOR_ONLY


# --- deny by default -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("permission", list(Permission), ids=lambda p: p.value)
def test_deny_by_default(permission):
    authorizer = Authorizer()
    assert authorizer.allows(None, permission) is False
    assert authorizer.allows(operator_outside_companies(), permission) is (permission in OPERATOR_PERMISSIONS)
    assert authorizer.allows(actor(role=None), permission) is False
    unknown = actor(role=SimpleNamespace(value="superuser"))  # a role name that policy.csv does not know
    assert authorizer.allows(unknown, permission) is False
    assert authorizer.role_allows("superuser", permission) is False
    assert authorizer.role_allows("", permission) is False
    assert authorizer.role_allows("*", permission) is False
    assert authorizer.allows(actor(Role.ADMIN, restricted={permission}), permission) is False


def test_deny_by_default_gives_no_effective_permissions():
    authorizer = Authorizer()
    assert authorizer.effective_permissions(None) == []
    assert authorizer.effective_permissions(actor(role=None)) == []
    assert authorizer.effective_permissions(actor(Role.ADMIN, restricted=Permission)) == []
    not_operator = Actor(user_id=9, session_id=9, membership_id=None, company_id=None, role=None,
                         restricted=frozenset(), is_operator=False)
    assert authorizer.effective_permissions(not_operator) == []


# --- require -------------------------------------------------------------------------------------------------

def test_require_without_actor_is_not_authenticated():
    with pytest.raises(NotAuthenticated) as raised:
        Authorizer().require(None, P.COMPANY_READ)
    assert raised.value.code == "UNAUTHENTICATED"
    with pytest.raises(NotAuthenticated):
        Authorizer().require_operator(None, P.CATALOGUE_MANAGE)


@pytest.mark.parametrize("permission", [P.COMPANY_READ, P.CATALOGUE_MANAGE], ids=lambda p: p.value)
def test_require_for_operator_outside_a_company_is_forbidden(permission):
    with pytest.raises(Forbidden) as raised:
        Authorizer().require(operator_outside_companies(), permission)
    assert not isinstance(raised.value, NotAuthenticated)
    assert raised.value.code == "FORBIDDEN"
    assert "switch to one of your companies" in str(raised.value)


def test_require_operator():
    authorizer = Authorizer()
    operator = operator_outside_companies()
    assert authorizer.require_operator(operator, P.ORDER_FULFIL) is operator
    with pytest.raises(Forbidden) as raised:
        authorizer.require_operator(operator, P.COMPANY_UPDATE)
    assert raised.value.code == "FORBIDDEN"
    for role in ROLES:  # not even an administrator
        with pytest.raises(Forbidden):
            authorizer.require_operator(actor(role), P.CATALOGUE_MANAGE)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_require_matches_allows_for_every_role_and_permission(role):
    authorizer = Authorizer()
    member = actor(role, restricted={P.COMPANY_READ})
    for permission in Permission:
        if authorizer.allows(member, permission):
            assert authorizer.require(member, permission) is member
        else:
            with pytest.raises(Forbidden) as raised:
                authorizer.require(member, permission)
            assert not isinstance(raised.value, NotAuthenticated)
            assert raised.value.code == "FORBIDDEN"
            assert permission.value in str(raised.value)
    with pytest.raises(Forbidden):  # restricted although the role grants it
        authorizer.require(member, P.COMPANY_READ)


# --- reload and policy validation -----------------------------------------------------------------------------

@pytest.fixture
def policy_copy(tmp_path):
    path = tmp_path / "policy.csv"
    shutil.copyfile(POLICY_PATH, path)
    return path


def test_reload_clears_the_cache_and_applies_the_new_policy(policy_copy):
    authorizer = Authorizer(policy_path=policy_copy)
    customer = actor(Role.CUSTOMER)
    assert authorizer.allows(customer, P.ORDER_CREATE) is True
    assert authorizer.allows(customer, P.GROUP_READ) is False
    text = policy_copy.read_text()
    assert "p, customer, *, order, create, allow\n" in text
    policy_copy.write_text(
        text.replace("p, customer, *, order, create, allow\n", "") + "p, customer, *, group, read, allow\n"
    )
    # until reloaded, the cached decisions stand
    assert authorizer.allows(customer, P.ORDER_CREATE) is True
    assert authorizer.allows(customer, P.GROUP_READ) is False
    authorizer.reload()
    assert authorizer.allows(customer, P.ORDER_CREATE) is False
    assert authorizer.allows(customer, P.GROUP_READ) is True
    assert set(authorizer.role_permissions("customer")) == (
        EXPECTED_ROLE_PERMISSIONS["customer"] - {P.ORDER_CREATE} | {P.GROUP_READ}
    )


def test_reload_drops_every_cached_decision(policy_copy):
    authorizer = Authorizer(policy_path=policy_copy)
    for role in ROLE_NAMES:
        authorizer.role_permissions(role)
    assert len(authorizer._decisions) == len(ROLE_NAMES) * len(Permission)
    authorizer.reload()
    assert authorizer._decisions == {}


@pytest.mark.parametrize("rule", [
    "p, admin, *, invoice, pay, allow",          # unknown object
    "p, manager, *, order, delete, allow",       # unknown action of a known object
    "p, customer, company:7, order, read_all, allow",  # a role rule bound to one company
], ids=["unknown-object", "unknown-action", "company-domain"])
def test_a_policy_with_an_unknown_permission_or_domain_is_refused(tmp_path, rule):
    path = tmp_path / "policy.csv"
    path.write_text(POLICY_PATH.read_text().rstrip("\n") + "\n" + rule + "\n")
    with pytest.raises(ValueError, match="unknown permission or domain"):
        Authorizer(policy_path=path)


def test_reload_refuses_an_unknown_permission(policy_copy):
    authorizer = Authorizer(policy_path=policy_copy)
    policy_copy.write_text(policy_copy.read_text().rstrip("\n") + "\np, admin, *, invoice, pay, allow\n")
    with pytest.raises(ValueError, match="invoice:pay"):
        authorizer.reload()


def test_a_refused_reload_keeps_the_previous_policy_in_force(policy_copy):
    """A reload that is refused must not half-apply the bad file: decisions that were cached and
    decisions computed afterwards must both still come from the previous, valid policy."""
    authorizer = Authorizer(policy_path=policy_copy)
    before = {role: set(authorizer.role_permissions(role)) for role in ROLE_NAMES}
    authorizer._decisions.clear()  # nothing cached: every later decision is computed afresh
    assert authorizer.allows(actor(Role.ADMIN), P.COMPANY_READ) is True  # one decision cached
    # an edit that drops every customer and manager rule and adds a typo
    kept = [line for line in policy_copy.read_text().splitlines() if not line.startswith(("p, customer", "p, manager"))]
    policy_copy.write_text("\n".join([*kept, "p, admin, *, invoice, pay, allow", ""]))
    with pytest.raises(ValueError):
        authorizer.reload()
    after = {role: set(authorizer.role_permissions(role)) for role in ROLE_NAMES}
    assert after == before, (
        "a refused reload left the enforcer holding the rejected policy: uncached decisions now come from it "
        "(Authorizer.reload must validate a fresh enforcer before swapping it in)"
    )


# --- the policy file and the role table ----------------------------------------------------------------------

def test_every_permission_is_granted_by_some_role_and_admin_only_ones_are_intended():
    granted = granted_in_csv()
    holders = {p: {role for role, perms in granted.items() if p in perms} for p in Permission}
    assert [p.value for p, roles in holders.items() if not roles] == [], "a permission no role holds"
    only_admin = {p for p, roles in holders.items() if roles == {"admin"}}
    assert only_admin == ADMIN_ONLY, "a permission became admin-only (or stopped being) without updating ADMIN_ONLY"
    only_operator = {p for p, roles in holders.items() if roles == {OPERATOR_ROLE}}
    assert only_operator == OPERATOR_ONLY
    assert set(granted) == set(ROLE_NAMES), "policy.csv names a role the application does not have (or lacks one)"


def test_policy_csv_has_no_duplicate_rules():
    rows = [tuple(r) for r in policy_rules()]
    assert len(rows) == len(set(rows))


def test_casbin_reads_policy_csv_as_its_text_says():
    authorizer = Authorizer()
    granted = granted_in_csv()
    for role in ROLE_NAMES:
        assert set(authorizer.role_permissions(role)) == granted[role]


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_roles_table_matches_the_source_rules(role):
    assert set(Authorizer().role_permissions(role)) == EXPECTED_ROLE_PERMISSIONS[role]


def test_roles_table_named_rules():
    allowed = {role: set(Authorizer().role_permissions(role)) for role in ROLE_NAMES}
    assert allowed["admin"] == set(COMPANY_PERMISSIONS), "admin has every company permission"
    assert P.ORDER_CREATE not in allowed["order_approver"]
    assert P.ORDER_READ_ALL not in allowed["customer"]
    assert not allowed["customer"] & USER_PERMISSIONS
    admin_only = {P.COMPANY_UPDATE, P.USER_ASSIGN_ROLE, P.USER_DEACTIVATE, P.USER_RESTRICT, P.BUDGET_MANAGE}
    assert not allowed["manager"] & admin_only
    assert all(P.COMPANY_READ in allowed[r.value] for r in ROLES), "every role sees its own company"
    assert allowed[OPERATOR_ROLE] == set(OPERATOR_PERMISSIONS)
    for scope in SCOPE_ROLES:  # API clients: read their company, never manage clients or anything of people
        assert P.COMPANY_READ in allowed[scope] and P.API_CLIENT_MANAGE not in allowed[scope]
        assert not allowed[scope] & (USER_PERMISSIONS | OPERATOR_ONLY | {P.ORDER_CREATE, P.AUDIT_READ})
