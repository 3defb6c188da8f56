"""Authorization decisions from the Casbin policy, served from a decision cache.

The model (model.conf) and the role -> permission rules (policy.csv) are versioned files.
Role rules hold in every company, so a role's decision for a permission does not depend
on which company asks: it is computed once by Casbin and cached by (role, permission).
An API client is a subject whose roles are its scopes ("scope:orders_read"); its decision is
the same cached lookup for each of its scopes.
A member's own restrictions are deny rules under the same model's effect
(allow && !deny); they come with the actor, who is loaded from the database on every
request, so a change made in one server process holds at once in all of them. A check
is therefore two hash lookups whatever the number of companies, users or restrictions.
"""

from __future__ import annotations

from pathlib import Path

import casbin

from policies.actor import Actor
from policies.errors import Forbidden, NotAuthenticated
from policies.permissions import OPERATOR_ROLE, Permission

POLICY_DIR = Path(__file__).resolve().parent
MODEL_PATH = POLICY_DIR / "model.conf"
POLICY_PATH = POLICY_DIR / "policy.csv"
ALL_DOMAINS = "*"


class Authorizer:
    def __init__(self, model_path: Path = MODEL_PATH, policy_path: Path = POLICY_PATH) -> None:
        self._paths = (str(model_path), str(policy_path))
        self._enforcer = self._load()
        self._decisions: dict[tuple[str, str], bool] = {}

    def _load(self) -> casbin.Enforcer:
        """A new enforcer from the files, refused (ValueError) unless every rule is well-formed."""
        enforcer = casbin.Enforcer(*self._paths)
        known = {p.value for p in Permission}
        for sub, dom, obj, act, *_ in enforcer.get_policy():
            if dom != ALL_DOMAINS or f"{obj}:{act}" not in known:
                raise ValueError(f"policy.csv rule for {sub} names unknown permission or domain: {obj}:{act} in {dom}")
        return enforcer

    def reload(self) -> None:
        """Re-read the policy files; a refused policy leaves the current one (and its cache) in force."""
        enforcer = self._load()
        self._enforcer, self._decisions = enforcer, {}

    def role_allows(self, role: str, permission: Permission) -> bool:
        key = (role, permission.value)
        decision = self._decisions.get(key)
        if decision is None:
            decision = bool(self._enforcer.enforce(role, ALL_DOMAINS, permission.obj, permission.act))
            self._decisions[key] = decision
        return decision

    def allows(self, actor: Actor | None, permission: Permission) -> bool:
        if actor is None:
            return False
        if actor.api_client_id is not None:  # an API client: its scopes are its roles (at most four lookups)
            return any(self.role_allows(scope, permission) for scope in actor.scopes)
        if actor.is_operator and self.role_allows(OPERATOR_ROLE, permission):
            return True
        if actor.role is None:
            return False
        return permission.value not in actor.restricted and self.role_allows(actor.role.value, permission)

    def require_operator(self, actor: Actor | None, permission: Permission) -> Actor:
        """The actor, if a platform operator allowed `permission` (whatever company they act for)."""
        if actor is None:
            raise NotAuthenticated()
        if not (actor.is_operator and self.role_allows(OPERATOR_ROLE, permission)):
            raise Forbidden(f"Only platform operators may do this (requires {permission.value})")
        return actor

    def require(self, actor: Actor | None, permission: Permission) -> Actor:
        """The actor, if signed in to a company and allowed; else the matching access error."""
        if actor is None:
            raise NotAuthenticated()
        if actor.company_id is None:
            raise Forbidden("This operation acts for a company: switch to one of your companies first")
        if not self.allows(actor, permission):
            raise Forbidden(f"You do not have permission to do this (requires {permission.value})")
        return actor

    def effective_permissions(self, actor: Actor | None) -> list[Permission]:
        return [p for p in Permission if self.allows(actor, p)]

    def role_permissions(self, role: str) -> list[Permission]:
        return [p for p in Permission if self.role_allows(role, p)]

    @property
    def enforcer(self) -> casbin.Enforcer:
        """The underlying Casbin enforcer (for tests that cross-check the cache)."""
        return self._enforcer
