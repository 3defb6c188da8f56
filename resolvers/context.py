"""What a use case gets to work with: the services, one database session, the actor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Database
from policies.actor import Actor
from policies.authorizer import Authorizer
from policies.errors import NotAPerson, NotAuthenticated
from policies.permissions import Permission
from resolvers.security import AccessTokens, Passwords
from settings import Settings

if TYPE_CHECKING:  # resolvers.mail imports this module
    from resolvers.change_broker import ChangeBroker
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
    broker: ChangeBroker  # live subscriptions' reader of the change feed, started by the lifespan


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

    def refuse_api_client(self) -> None:
        """Refuse (FORBIDDEN) an API client what only a person does, such as refreshing a session."""
        if self.actor is not None and self.actor.is_api_client:
            raise NotAPerson()
