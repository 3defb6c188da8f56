from models import Role
from tests.factories import error_code


async def test_me_returns_the_signed_in_user(api):
    tenant = await api.tenant([Role.ADMIN])
    data = await api.query("{ me { email user { role } company { id } } }", token=tenant[Role.ADMIN].token)
    assert data["me"]["email"] == tenant[Role.ADMIN].email
    assert data["me"]["user"]["role"] == "ADMIN"
    assert data["me"]["company"]["id"] == tenant.gid


async def test_me_without_token_is_unauthenticated(api):
    body = await api.raw("{ me { email } }")
    assert error_code(body) == "UNAUTHENTICATED"
    assert body["data"] is None
