"""A user's first minutes, through the client openapi-python-client generated from
/openapi.json (package `taskforge_client`, on PYTHONPATH): only its typed operations
and models, no raw HTTP. Any undocumented status raises (raise_on_unexpected_status).

Usage: python scenario.py BASE_URL
"""

import sys
import uuid

from taskforge_client import AuthenticatedClient, Client
from taskforge_client.api.auth import login, refresh, register
from taskforge_client.api.tasks import create_task, get_task, list_tasks, patch_task
from taskforge_client.models import (
    LoginBody,
    PatchTaskBody,
    Problem,
    RefreshBody,
    RegisterBody,
    Task,
    TaskBody,
    TaskPage,
    TokenPair,
    User,
)


def step(message: str) -> None:
    print(f"  ok  {message}", flush=True)


def expect(response, status: int, model: type):
    """The parsed body of `response`, which must have `status` and be a `model`."""
    assert response.status_code == status, (
        f"expected {status}, got {int(response.status_code)}: {response.content!r}"
    )
    assert isinstance(response.parsed, model), (
        f"expected a {model.__name__}, got {type(response.parsed).__name__}"
    )
    return response.parsed


def main(base_url: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)

    def as_user(token: str) -> AuthenticatedClient:
        return AuthenticatedClient(
            base_url=base_url, token=token, raise_on_unexpected_status=True
        )

    email = f"py-client-{uuid.uuid4().hex[:12]}@example.com"
    password = "python-client-pw-1"

    user = expect(
        register.sync_detailed(
            client=anonymous, body=RegisterBody(email=email, password=password)
        ),
        201,
        User,
    )
    assert user.email == email and user.role.value == "user", user
    step(f"register {email}: 201 User {user.id}")

    tokens = expect(
        login.sync_detailed(
            client=anonymous, body=LoginBody(email=email, password=password)
        ),
        200,
        TokenPair,
    )
    assert tokens.token_type == "bearer", tokens
    step("login (JSON body): 200 TokenPair")

    me = as_user(tokens.access_token)
    created = expect(
        create_task.sync_detailed(
            client=me, body=TaskBody(title="Generated-client task")
        ),
        201,
        Task,
    )
    assert created.owner_id == user.id and created.version == 1, created
    step(f"create task: 201 Task {created.id}")

    page = expect(list_tasks.sync_detailed(client=me), 200, TaskPage)
    assert page.total >= 1 and page.items, page
    for item in page.items:
        assert type(item) is type(created) is Task, (
            f"page items are {type(item).__qualname__}, not the Task model"
        )
    assert created in page.items, (created, page.items)
    step(f"list tasks: 200 TaskPage of {len(page.items)} Task(s), the new one among them")

    stale = expect(
        patch_task.sync_detailed(
            created.id,
            client=me,
            body=PatchTaskBody(title="Never written"),
            if_match='"99"',
        ),
        412,
        Problem,
    )
    assert stale.error == "precondition_failed", stale
    step('patch with stale If-Match "99": 412 Problem precondition_failed')

    response = patch_task.sync_detailed(
        created.id,
        client=me,
        body=PatchTaskBody(title="Renamed by the generated client"),
        if_match=f'"{created.version}"',
    )
    patched = expect(response, 200, Task)
    assert patched.version == created.version + 1, patched
    assert patched.title == "Renamed by the generated client", patched
    assert response.headers.get("etag") == f'"{patched.version}"', response.headers
    step(f'patch with If-Match "{created.version}": 200 Task version {patched.version}')

    renewed = expect(
        refresh.sync_detailed(
            client=anonymous, body=RefreshBody(refresh_token=tokens.refresh_token)
        ),
        200,
        TokenPair,
    )
    assert renewed.refresh_token != tokens.refresh_token, renewed
    step("refresh: 200 new TokenPair")

    fetched = expect(
        get_task.sync_detailed(created.id, client=as_user(renewed.access_token)),
        200,
        Task,
    )
    assert fetched == patched, (fetched, patched)
    step("get task with the new access token: 200, equal to the PATCH answer")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scenario.py BASE_URL")
    main(sys.argv[1])
