"""Access failures; the API reports them as GraphQL errors with these codes."""


class AccessError(Exception):
    code = "FORBIDDEN"


class NotAuthenticated(AccessError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Sign in first: a valid access token is required") -> None:
        super().__init__(message)


class Forbidden(AccessError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You do not have permission to do this") -> None:
        super().__init__(message)


class NotAPerson(Forbidden):
    """An API client asked for something only a person has: a session, a password, a profile."""

    def __init__(self, message: str = (
            "An API client is not a person: it has no session, password or profile, and cannot sign in, "
            "sign out, refresh or switch company (it acts for its company with its secret until revoked)")) -> None:
        super().__init__(message)
