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
