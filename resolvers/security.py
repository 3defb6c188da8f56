"""Passwords (argon2id, hashed in a worker thread), access tokens (JWT) and opaque tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from models.base import utcnow
from models.errors import DomainError, ErrorCode

JWT_ALGORITHM = "HS256"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256


class Passwords:
    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        # Verifying against this when an account does not exist keeps the timing the same.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(ErrorCode.WEAK_PASSWORD, f"Use at least {MIN_PASSWORD_LENGTH} characters", field)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise DomainError(ErrorCode.WEAK_PASSWORD, f"Use at most {MAX_PASSWORD_LENGTH} characters", field)
    if len(set(password)) < 4:
        raise DomainError(ErrorCode.WEAK_PASSWORD, "Use a less repetitive password", field)


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: int
    membership_id: int | None
    expires_at: datetime


class AccessTokens:
    def __init__(self, *, secret: str, issuer: str, audience: str, ttl: timedelta) -> None:
        self._secret, self._issuer, self._audience, self.ttl = secret, issuer, audience, ttl

    def issue(self, *, user_id: int, session_id: int, membership_id: int | None) -> tuple[str, datetime]:
        now = utcnow()
        expires = now + self.ttl
        claims = {
            "iss": self._issuer, "aud": self._audience, "sub": str(user_id), "sid": str(session_id),
            "iat": int(now.timestamp()), "exp": int(expires.timestamp()), "jti": secrets.token_hex(8),
        }
        if membership_id is not None:
            claims["mid"] = str(membership_id)
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM), expires

    def decode(self, token: str) -> AccessClaims | None:
        """Verified claims, or None for anything forged, expired or malformed."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[JWT_ALGORITHM], audience=self._audience, issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub", "sid"]},
            )
            mid = claims.get("mid")
            return AccessClaims(
                int(claims["sub"]), int(claims["sid"]), int(mid) if mid is not None else None,
                datetime.fromtimestamp(claims["exp"], tz=utcnow().tzinfo),
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
