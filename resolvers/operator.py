"""Platform operators: the supplier's staff, outside every company."""

from __future__ import annotations

from sqlalchemy import select

from models import User
from models.errors import DomainError, ErrorCode
from resolvers.context import Services
from resolvers.security import check_password_strength
from resolvers.validation import clean_email, clean_text


async def create_operator(services: Services, *, email: str, first_name: str, last_name: str, password: str) -> User:
    """Creates an operator, or makes an existing person one (their password is kept)."""
    email = clean_email(email, "email", services.settings)
    async with services.db.transaction() as session:
        user = await session.scalar(select(User).where(User.email == email))
        if user is None:
            check_password_strength(password)
            user = User(email=email, first_name=clean_text(first_name, "firstName", 100),
                        last_name=clean_text(last_name, "lastName", 100),
                        password_hash=await services.passwords.hash(password))
            session.add(user)
        elif user.is_operator:
            raise DomainError(ErrorCode.EMAIL_TAKEN, "This person is already an operator", "email")
        user.is_operator = True
        await session.flush()
        return user
