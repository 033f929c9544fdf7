"""Helpers shared by the backend tests (imported by module name; tests/ dirs are not packages)."""

from __future__ import annotations

from google.adk.models import BaseLlm, LlmRequest, LlmResponse

from magec.backends.base import BackendSpec
from magec.testing.fake_providers import FakeServer

# Deliberately not shaped like any vendor key, so only the registered-secret redaction hides it.
KEY = "magec-TEST-secret-9f8e7d6c5b4a"


def spec_for(
    srv: FakeServer | str, type_: str, *, key: str = KEY, timeout: float = 10.0, max_attempts: int = 1,
    **kw: object,
) -> BackendSpec:
    """A spec on ``srv``; one attempt per call by default, so error-mapping tests see each fault
    as is (retries are tested in test_faults.py)."""
    url = srv if isinstance(srv, str) else srv.url
    return BackendSpec(
        id=f"{type_}-1", name=f"{type_}-test", type=type_, url=url, api_key=key, timeout=timeout,
        max_attempts=max_attempts, **kw,  # type: ignore[arg-type]
    )


async def collect(llm: BaseLlm, request: LlmRequest, *, stream: bool) -> list[LlmResponse]:
    return [r async for r in llm.generate_content_async(request, stream=stream)]


def assert_no_key(err: BaseException, key: str = KEY) -> None:
    """``key`` appears nowhere in the error, its message, args, repr, or its cause chain."""
    seen: list[BaseException] = []
    e: BaseException | None = err
    while e is not None and e not in seen:
        seen.append(e)
        for text in (str(e), repr(e), repr(e.args), str(getattr(e, "message", ""))):
            assert key not in text, f"key leaked in {type(e).__name__}: {text[:200]}"
        e = e.__cause__ or e.__context__
