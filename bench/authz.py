"""What one authorization check costs, at 10 and at 10,000 companies.

    .venv/bin/python bench/authz.py [--checks 200000] [--naive-small 2000] [--naive-large 300] [--naive-seconds 60]

For each size it builds the realistic state: 10 members per company with their roles spread
(1 administrator, 2 managers, 5 customers, 2 order approvers) and one restriction per company
(a deny rule on a permission the member's role grants). Two ways to decide:

* naive: one Casbin enforcer holding every role rule of policy.csv, a `g` rule per membership
  (user -> role in company:<id>) and a deny `p` rule per restriction, asked `enforce()` per
  check. pycasbin evaluates the matcher once per `p` rule and every evaluation walks the role
  links, so the cost grows faster than the number of companies (tens of seconds a call at 10,000):
  at most `--naive-large` calls, within `--naive-seconds` (at least one), are timed there. Every
  naive answer is compared with the cached one, so both ways are proven to decide the same.
* cached: the path the API takes. Actors are built as policies/actor.py loads them (role and
  restrictions of the membership), and `Authorizer.allows(actor, permission)` answers from the
  (role, permission) decision cache plus the actor's restrictions: two hash lookups. Each timed
  check is made on the actor of its own request, loaded from its stored membership row just before
  (untimed), as the API does once per request.

Medians are per check, in microseconds, over batches timed with time.perf_counter_ns.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import casbin  # noqa: E402

from models.user import Role  # noqa: E402
from policies.actor import Actor  # noqa: E402
from policies.authorizer import MODEL_PATH, POLICY_PATH, Authorizer  # noqa: E402
from policies.permissions import Permission  # noqa: E402

MEMBERS_PER_COMPANY = 10
ROLE_SPREAD = [Role.ADMIN] + [Role.MANAGER] * 2 + [Role.CUSTOMER] * 5 + [Role.ORDER_APPROVER] * 2
SIZES = (10, 10_000)
BATCH = 1_000


def build_state(companies: int, seed: int):
    """The members of `companies` companies as (casbin subject, domain, stored row), and the rules Casbin
    would need. A stored row is what policies/actor.py reads for a member: ids, role and restrictions."""
    rng = random.Random(seed)
    authorizer = Authorizer()
    granted = {role: authorizer.role_permissions(role.value) for role in Role}
    members = []
    g_rules, deny_rules = [], []
    user_id = 0
    for company_id in range(1, companies + 1):
        domain = f"company:{company_id}"
        restricted_index = rng.randrange(MEMBERS_PER_COMPANY)
        for index, role in enumerate(ROLE_SPREAD):
            user_id += 1
            subject = f"user:{user_id}"
            g_rules.append([subject, role.value, domain])
            restricted = ""
            if index == restricted_index:
                permission = rng.choice(granted[role])
                deny_rules.append([subject, domain, permission.obj, permission.act, "deny"])
                restricted = permission.value
            members.append((subject, domain, (user_id, company_id, role.value, restricted)))
    return members, g_rules, deny_rules


def load_actor(row) -> Actor:
    """An Actor exactly as policies.actor.load_actor builds it from the membership row of a request."""
    user_id, company_id, role, restricted = row
    return Actor(user_id, user_id, user_id, company_id, Role(role),
                 frozenset(restricted.split(",")) if restricted else frozenset(), False)


def naive_enforcer(g_rules, deny_rules) -> casbin.Enforcer:
    """Casbin loaded from one CSV holding policy.csv plus every membership and restriction (as a file
    adapter would; adding 100,000 grouping rules one call at a time rebuilds the role links each time)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "policy.csv"
        with path.open("w") as out:
            out.write(POLICY_PATH.read_text().rstrip("\n") + "\n")
            out.writelines(f"p, {', '.join(rule)}\n" for rule in deny_rules)
            out.writelines(f"g, {', '.join(rule)}\n" for rule in g_rules)
        return casbin.Enforcer(str(MODEL_PATH), str(path))


def time_naive(enforcer, authorizer, members, permissions, calls: int, budget_s: float, rng) -> list[float]:
    """enforce() per check, at most `calls` of them or `budget_s` seconds (at least one); each answer is
    compared with the cached decision, so both ways are proven to decide the same."""
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(samples) < calls and (not samples or time.perf_counter() < deadline):
        subject, domain, stored = rng.choice(members)
        permission = rng.choice(permissions)
        start = time.perf_counter_ns()
        decision = enforcer.enforce(subject, domain, permission.obj, permission.act)
        samples.append((time.perf_counter_ns() - start) / 1_000)
        if decision != authorizer.allows(load_actor(stored), permission):
            raise SystemExit(f"disagreement for {subject} in {domain} on {permission.value}")
    return samples


def time_cached(authorizer: Authorizer, members, permissions, checks: int, rng) -> list[float]:
    """Per batch: BATCH requests, each by a random member of any company, whose actor is loaded as the
    API loads it (not timed: that is the request's database read), then one timed check each."""
    allows = authorizer.allows
    for _, _, stored in members[:BATCH]:  # warm the decision cache, as the first requests of a process do
        for permission in permissions:
            allows(load_actor(stored), permission)
    samples = []
    for _ in range(checks // BATCH):
        batch = [(load_actor(rng.choice(members)[2]), rng.choice(permissions)) for _ in range(BATCH)]
        gc.disable()
        start = time.perf_counter_ns()
        for actor, permission in batch:
            allows(actor, permission)
        elapsed = time.perf_counter_ns() - start
        gc.enable()
        samples.append(elapsed / 1_000 / BATCH)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=200_000, help="cached checks timed per size")
    parser.add_argument("--naive-small", type=int, default=2_000, help="naive enforce() calls timed at the small size")
    parser.add_argument("--naive-large", type=int, default=300, help="naive enforce() calls timed at the large size")
    parser.add_argument("--naive-seconds", type=float, default=60, help="time budget for the naive calls of one size")
    args = parser.parse_args()

    permissions = [p for p in Permission]
    results = []
    for size in SIZES:
        rng = random.Random(size)
        started = time.perf_counter()
        members, g_rules, deny_rules = build_state(size, seed=size)
        enforcer = naive_enforcer(g_rules, deny_rules)
        rules = len(enforcer.get_policy()) + len(enforcer.get_grouping_policy())
        authorizer = Authorizer()
        naive_calls = args.naive_large if size > 1000 else args.naive_small
        naive = time_naive(enforcer, authorizer, members, permissions, naive_calls, args.naive_seconds, rng)
        cached = time_cached(authorizer, members, permissions, args.checks, rng)
        results.append(
            (size, len(members), rules, statistics.median(naive), len(naive), statistics.median(cached), args.checks)
        )
        print(f"  built and measured {size:,} companies in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        del enforcer, members, g_rules, deny_rules

    print(f"Authorization check cost (pycasbin {metadata.version('pycasbin')}, Python {sys.version.split()[0]})")
    print(f"{'companies':>10} {'members':>8} {'casbin rules':>13} {'naive enforce':>15} {'cached check':>13}")
    for size, member_count, rules, naive_us, naive_n, cached_us, cached_n in results:
        print(f"{size:>10,} {member_count:>8,} {rules:>13,} {naive_us / 1000:>12,.2f} ms {cached_us:>10.3f} us"
              f"   (median of {naive_n:,} enforce calls; of {cached_n // BATCH:,} batches of {BATCH:,} checks)")
    small, large = results[0], results[-1]
    ratio = large[5] / small[5]
    print(f"cached check, large/small: {ratio:.2f}x   naive enforce, large/small: {large[3] / small[3]:,.0f}x")
    goal = large[5] <= 20 and small[5] <= 20 and ratio <= 1.2
    print(f"goal (cached <= 20 us at both sizes, large within 1.2x of small): {'met' if goal else 'NOT met'}")


if __name__ == "__main__":
    main()
