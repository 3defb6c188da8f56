"""Passwords (argon2id), password strength rules, access tokens (JWT) and opaque tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import jwt
import pytest

from models.base import utcnow
from models.errors import DomainError, ErrorCode
from resolvers.security import (
    JWT_ALGORITHM,
    AccessClaims,
    AccessTokens,
    Passwords,
    check_password_strength,
    new_opaque_token,
    token_digest,
)

SECRET = "unit-test-secret-" + "s" * 64  # long enough for HS512 too (the algorithm-confusion case)
ISSUER, AUDIENCE = "procura", "procura-api"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def tokens() -> AccessTokens:
    return AccessTokens(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(minutes=15))


def _claims(**overrides) -> dict:
    now = int(utcnow().timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "7", "sid": "11", "mid": "13", "iat": now, "exp": now + 600}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# --- passwords -------------------------------------------------------------------------------

async def test_a_hash_verifies_its_own_password_only(passwords):
    hashed = await passwords.hash("correct-horse-battery")
    assert hashed.startswith("$argon2id$")
    assert "correct-horse-battery" not in hashed
    assert await passwords.verify(hashed, "correct-horse-battery") is True
    assert await passwords.verify(hashed, "correct-horse-batterY") is False
    assert await passwords.verify(hashed, "") is False


async def test_the_same_password_hashes_differently_each_time(passwords):
    first, second = await passwords.hash("correct-horse-battery"), await passwords.hash("correct-horse-battery")
    assert first != second
    assert await passwords.verify(second, "correct-horse-battery") is True


async def test_the_configured_cost_is_in_the_hash(passwords):
    hashed = await passwords.hash("correct-horse-battery")
    assert "$m=1024,t=1,p=1$" in hashed


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=1024,t=1,p=1$garbage"])
async def test_an_unknown_or_unreadable_hash_never_verifies(passwords, stored):
    assert await passwords.verify(stored, "correct-horse-battery") is False


async def test_a_hash_made_with_other_parameters_still_verifies(passwords):
    stronger = Passwords(time_cost=2, memory_cost=2048, parallelism=1)
    hashed = await stronger.hash("correct-horse-battery")
    assert await passwords.verify(hashed, "correct-horse-battery") is True
    assert await passwords.verify(hashed, "wrong-horse-battery") is False


# --- password strength ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", "Use at least 10 characters"),
        ("abcdefghi", "Use at least 10 characters"),  # 9 characters
        ("x" * 257, "Use at most 256 characters"),
        ("a" * 12, "Use a less repetitive password"),
        ("abcabcabcabc", "Use a less repetitive password"),  # 3 distinct characters
        ("1212121212121212", "Use a less repetitive password"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, message):
    with pytest.raises(DomainError) as caught:
        check_password_strength(password)
    assert caught.value.code == ErrorCode.WEAK_PASSWORD
    assert caught.value.message == message
    assert caught.value.field == "password"


@pytest.mark.parametrize(
    "password", ["abcdefghij", "abcdabcdab", "correct-horse-battery", "ab1!" * 64, "blåbærsyltetøy"],
)
def test_acceptable_passwords_pass(password):
    check_password_strength(password)


def test_the_field_of_a_weak_password_is_the_one_given():
    with pytest.raises(DomainError) as caught:
        check_password_strength("short", "administrator.password")
    assert caught.value.field == "administrator.password"


# --- access tokens --------------------------------------------------------------------------------

def test_an_issued_token_decodes_to_its_claims(tokens):
    before = utcnow()
    token, expires = tokens.issue(user_id=7, session_id=11, membership_id=13)
    assert timedelta(minutes=14, seconds=58) <= expires - before <= timedelta(minutes=15, seconds=2)
    claims = tokens.decode(token)
    assert claims == AccessClaims(user_id=7, session_id=11, membership_id=13, expires_at=expires.replace(microsecond=0))
    raw = jwt.decode(token, SECRET, algorithms=[JWT_ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
    assert raw["sub"] == "7" and raw["sid"] == "11" and raw["mid"] == "13"
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_an_operator_token_has_no_membership(tokens):
    token, _ = tokens.issue(user_id=7, session_id=11, membership_id=None)
    assert "mid" not in jwt.decode(token, options={"verify_signature": False})
    assert tokens.decode(token).membership_id is None


def test_two_tokens_for_the_same_session_differ(tokens):
    first, _ = tokens.issue(user_id=7, session_id=11, membership_id=13)
    second, _ = tokens.issue(user_id=7, session_id=11, membership_id=13)
    assert first != second


def test_a_token_signed_by_this_server_with_our_claims_is_accepted(tokens):
    # The positive control for the forgeries below: same construction, right key.
    assert tokens.decode(jwt.encode(_claims(), SECRET, algorithm="HS256")) is not None


def test_an_expired_token_is_refused(tokens):
    expired = AccessTokens(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=timedelta(seconds=-1))
    token, _ = expired.issue(user_id=7, session_id=11, membership_id=13)
    assert tokens.decode(token) is None
    past = int(utcnow().timestamp()) - 5
    assert tokens.decode(jwt.encode(_claims(iat=past - 600, exp=past), SECRET, algorithm="HS256")) is None


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda: jwt.encode(_claims(), "another-secret-" + "y" * 32, algorithm="HS256"), id="other-secret"),
        pytest.param(lambda: jwt.encode(_claims(), None, algorithm="none"), id="alg-none"),
        pytest.param(lambda: jwt.encode(_claims(), SECRET, algorithm="HS512"), id="other-algorithm"),
        pytest.param(lambda: jwt.encode(_claims(aud="someone-else"), SECRET, algorithm="HS256"), id="wrong-audience"),
        pytest.param(lambda: jwt.encode(_claims(iss="evil"), SECRET, algorithm="HS256"), id="wrong-issuer"),
        pytest.param(lambda: jwt.encode(_claims(sid=None), SECRET, algorithm="HS256"), id="no-session"),
        pytest.param(lambda: jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"), id="no-expiry"),
        pytest.param(lambda: jwt.encode(_claims(aud=None), SECRET, algorithm="HS256"), id="no-audience"),
        pytest.param(lambda: jwt.encode(_claims(sub="seven"), SECRET, algorithm="HS256"), id="non-numeric-subject"),
        pytest.param(lambda: jwt.encode(_claims(mid="x"), SECRET, algorithm="HS256"), id="non-numeric-membership"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_forged_or_malformed_tokens_are_refused(tokens, forge):
    assert tokens.decode(forge()) is None


def test_a_token_with_a_changed_payload_or_signature_is_refused(tokens):
    token, _ = tokens.issue(user_id=7, session_id=11, membership_id=13)
    header, payload, signature = token.split(".")
    other, _ = tokens.issue(user_id=8, session_id=12, membership_id=14)
    other_payload = other.split(".")[1]
    assert tokens.decode(f"{header}.{other_payload}.{signature}") is None
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
    assert tokens.decode(f"{header}.{payload}.{flipped}") is None
    assert tokens.decode(f"{header}.{payload}.") is None
    assert tokens.decode(token) is not None


# --- opaque tokens ------------------------------------------------------------------------------

def test_opaque_tokens_are_long_random_and_stored_as_digests():
    issued = {new_opaque_token() for _ in range(50)}
    assert len(issued) == 50
    assert all(len(t) >= 43 for t in issued)
    token = next(iter(issued))
    assert token_digest(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(token_digest(token)) == 64
    assert token_digest(token) != token_digest(token + "x")
