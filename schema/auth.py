"""Signing in and out, refreshing tokens, switching company, resetting passwords."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers import auth as use_cases
from resolvers import password as password_use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import decode_id, optional_id, to_global_id


@strawberry.type(description="Tokens for the API: send `Authorization: Bearer <accessToken>`.")
class AuthPayload:
    access_token: str = strawberry.field(description="Short-lived JWT (about 15 minutes).")
    access_token_expires_at: datetime = strawberry.field(description="When the access token expires (UTC).")
    refresh_token: str = strawberry.field(description="Single-use token for `refreshToken`; rotated on every use.")
    refresh_token_expires_at: datetime = strawberry.field(description="When the refresh token expires (UTC).")
    person_id: strawberry.ID = strawberry.field(
        description="Global id of the Person signed in (`node(id:)` fetches it).")
    company_id: strawberry.ID | None = strawberry.field(
        description="The company the token acts for; null for an operator.")

    @classmethod
    def from_issued(cls, issued: use_cases.IssuedTokens) -> AuthPayload:
        return cls(
            access_token=issued.access_token, access_token_expires_at=issued.access_token_expires_at,
            refresh_token=issued.refresh_token, refresh_token_expires_at=issued.refresh_token_expires_at,
            person_id=to_global_id("Person", issued.user.id),
            company_id=to_global_id("Company", issued.company_id) if issued.company_id else None,
        )


@strawberry.input(description="Email and password.")
class LoginInput:
    email: str = strawberry.field(description="Sign-in email address.")
    password: str = strawberry.field(description="Password.")
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Act for this company (default: the first one).")


@strawberry.input(description="A refresh token to exchange.")
class RefreshTokenInput:
    refresh_token: str = strawberry.field(description="The refresh token; it is spent by this call.")


@strawberry.input(description="The company to act for.")
class SwitchCompanyInput:
    company_id: strawberry.ID = strawberry.field(description="One of `me.companies`.")


@strawberry.input(description="Where to send a password reset link.")
class RequestPasswordResetInput:
    email: str = strawberry.field(description="The account's email address.")


@strawberry.input(description="A new password with the emailed token.")
class ResetPasswordInput:
    token: str = strawberry.field(description="Token from a reset or welcome link (single use, 24 hours).")
    new_password: str = strawberry.field(description="At least 10 characters.")


@strawberry.type(description="The request was taken.")
class AcceptedPayload:
    message: str = strawberry.field(description="What happens next.")


AuthResult = Annotated[
    AuthPayload | MutationError, strawberry.union("AuthResult", description="Result of signing in or refreshing.")
]
AcceptedResult = Annotated[
    AcceptedPayload | MutationError,
    strawberry.union("AcceptedResult", description="Result of a request that only reports acceptance."),
]


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Sign in. Repeated failures slow down per account and per address. Open to anyone.")
    async def login(self, info: strawberry.Info, input: Annotated[LoginInput, INPUT]) -> AuthResult:
        company_id = optional_id(input.company_id, "Company")
        return await run_mutation(info, lambda ctx: use_cases.login(
            ctx, email=input.email, password=input.password, company_id=company_id,
        ), AuthPayload.from_issued)

    @strawberry.mutation(description=(
        "Exchange a refresh token for new tokens. Reusing a spent one ends the session. Open to the token's holder."))
    async def refresh_token(self, info: strawberry.Info, input: Annotated[RefreshTokenInput, INPUT]) -> AuthResult:
        return await run_mutation(info, lambda ctx: use_cases.refresh_tokens(ctx, refresh_token=input.refresh_token),
                                  AuthPayload.from_issued)

    @strawberry.mutation(
        description="End the current session: its access and refresh tokens stop working at once. Requires sign-in.")
    async def logout(self, info: strawberry.Info) -> AcceptedResult:
        return await run_mutation(info, use_cases.logout, lambda _: AcceptedPayload(message="Signed out"))

    @strawberry.mutation(description="Act for another of your companies; returns new tokens for it. Requires sign-in.")
    async def switch_company(self, info: strawberry.Info, input: Annotated[SwitchCompanyInput, INPUT]) -> AuthResult:
        return await run_mutation(info, lambda ctx: use_cases.switch_company(
            ctx, company_id=decode_id(input.company_id, "Company") or 0,
        ), AuthPayload.from_issued)

    @strawberry.mutation(description=(
        "Email a password reset link (valid 24 hours). Same answer whether or not the account exists. "
        "Throttled per email and per client address (TOO_MANY_ATTEMPTS). Open to anyone."))
    async def request_password_reset(
        self, info: strawberry.Info, input: Annotated[RequestPasswordResetInput, INPUT],
    ) -> AcceptedResult:
        return await run_mutation(
            info, lambda ctx: password_use_cases.request_password_reset(ctx, email=input.email),
            lambda _: AcceptedPayload(message="If the address has an account, a reset link is on its way"),
        )

    @strawberry.mutation(description=(
        "Set a new password with a reset or welcome token (single use); ends all sessions. "
        "Open to the token's holder."))
    async def reset_password(
        self, info: strawberry.Info, input: Annotated[ResetPasswordInput, INPUT],
    ) -> AcceptedResult:
        return await run_mutation(
            info,
            lambda ctx: password_use_cases.reset_password(ctx, token=input.token, new_password=input.new_password),
            lambda _: AcceptedPayload(message="Password changed; sign in with the new password"),
        )
