"""What a use case gets to work with: the services, one database session, the actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Database
from policies.actor import Actor
from policies.authorizer import Authorizer
from policies.errors import NotAuthenticated
from policies.permissions import Permission
from resolvers.security import AccessTokens, Passwords
from settings import Settings

if TYPE_CHECKING:  # resolvers.mail imports this module
    from resolvers.mail import Mailer


@dataclass
class Services:
    """Process-wide singletons, built once by the application's lifespan."""

    settings: Settings
    db: Database
    authorizer: Authorizer
    passwords: Passwords
    tokens: AccessTokens
    mailer: Mailer


@dataclass
class UseCaseContext:
    services: Services
    session: AsyncSession
    actor: Actor | None
    client_address: str = "unknown"
    queued_mail: list[int] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def require(self, permission: Permission) -> Actor:
        return self.services.authorizer.require(self.actor, permission)

    def allows(self, permission: Permission) -> bool:
        return self.services.authorizer.allows(self.actor, permission)

    def require_signed_in(self) -> Actor:
        if self.actor is None:
            raise NotAuthenticated()
        return self.actor
