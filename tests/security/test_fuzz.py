"""Generated hostile corpus: schemathesis over both OpenAPI documents, against a real ``magec serve``
on loopback. Every answer must be < 500, whatever the generator sends (valid and invalid data,
positive and negative modes), on every operation of both apps.

Bounded on purpose (a few examples per operation) so the whole run stays well under two minutes;
the hand-written corpus in ``test_input.py`` covers the bodies the schemas do not describe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from magec.testing.fake_providers import FakeServer, OpenAIFake
from magec.testing.server import ServerProcess

PASSWORD = "fuzz-admin-password"
ADMIN = {"Authorization": f"Bearer {PASSWORD}"}
MAX_EXAMPLES = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A real server with one of each main resource (so fuzzed ids can hit real ones) and a client
    token (so the user app is closed and the fuzzer goes past authentication with it)."""
    with FakeServer(OpenAIFake("alpha")) as fake, ServerProcess(
        tmp_path_factory.mktemp("fuzz"), admin_password=PASSWORD
    ) as srv:
        admin = httpx.Client(base_url=f"{srv.admin_url}/api/v1/admin", headers=ADMIN, timeout=10)
        b = admin.post("/backends", json={"name": "b", "type": "openai", "url": fake.url}).json()
        voice = {"backend": b["id"], "model": "tts-1", "voice": "alloy"}
        a = admin.post(
            "/agents",
            json={"name": "a", "llm": {"backend": b["id"], "model": "m"}, "tts": voice,
                  "transcription": {"backend": b["id"], "model": "whisper-1"}},
        ).json()
        c = admin.post("/clients", json={"name": "c", "allowedAgents": [a["id"]]}).json()
        m = admin.post("/memory", json={"name": "m", "type": "sqlite", "category": "longterm"}).json()
        ids = {"backend": b["id"], "agent": a["id"], "memory": m.get("id", ""), "token": c["token"]}
        yield srv, ids


@schemathesis.serializer("application/gzip")
def _raw_archive(_ctx: Any, value: Any) -> bytes:
    """The restore route takes a raw archive: whatever the generator made, sent as bytes (it must
    answer 4xx to anything that is not a valid backup, never 5xx)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _schema(url: str, headers: dict[str, str]) -> Any:
    doc = httpx.get(f"{url}/openapi.json", headers=headers, timeout=10).json()
    config = SchemathesisConfig.from_dict(
        {
            "base-url": url,
            "headers": headers,
        }
    )
    return schemathesis.openapi.from_dict(doc, config=config)


@pytest.fixture(scope="module")
def admin_schema(server: tuple[ServerProcess, dict[str, str]]) -> Any:
    return _schema(server[0].admin_url, ADMIN)


@pytest.fixture(scope="module")
def user_schema(server: tuple[ServerProcess, dict[str, str]]) -> Any:
    return _schema(server[0].user_url, {"Authorization": f"Bearer {server[1]['token']}"})


def _known(operation: Any, ids: dict[str, str]) -> dict[str, str] | None:
    """Path parameters naming the seeded resources, for a second, deeper pass (None: no ids)."""
    path = operation.path
    known = {}
    for param in re.findall(r"{(\w+)}", path):
        if param in ("app_name", "agent_id"):
            known[param] = ids["agent"]
        elif param == "id":
            segment = path.split("/")[4] if path.count("/") >= 4 else ""
            # not the client: regenerating its token or disabling it would close the user app
            kind = {"backends": "backend", "agents": "agent", "memory": "memory"}.get(segment)
            if kind is None:
                return None
            known[param] = ids[kind]
    return known or None


def _runner(strategy: Any, label: str, failures: list[str]) -> Any:
    """A hypothesis test sending ``strategy``'s cases and noting every 5xx in ``failures``."""

    @given(strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        response = case.call(timeout=30)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} [{label}] -> {response.status_code}: {response.text[:200]}"
            )

    return run


def _only_path_parameters(operation: Any) -> bool:
    """Whether a negative case could only break the path: no body, query, header or cookie to break.

    schemathesis drops every case whose path parameters are not a valid URL segment, and a negated
    path parameter never is: those runs sent no request at all and took 3/4 of this file's time
    (generating ~90 cases each, to drop them all). The positive run of the same operation still
    sends its cases, with generated and with the seeded ids."""
    return (
        not operation.body
        and not operation.query
        and not operation.headers
        and not operation.cookies
    )


def _fuzz(schema: Any, ids: dict[str, str]) -> list[str]:
    """Run every operation in both generation modes; the 5xx answers found, one line each.

    Driven directly (not through schemathesis' pytest plugin) so one test sweeps a whole document
    and reports every failing operation at once.
    """
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and _only_path_parameters(operation):
                continue
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as e:  # noqa: BLE001 - a schema the generator cannot negate
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{operation.label}: {e}") from e

            strategies = [(strategy, mode.value)]
            known = _known(operation, ids)
            # the seeded ids reach past the 404 into validation; deletes would remove the seed
            if known and operation.method.upper() != "DELETE" and mode is GenerationMode.POSITIVE:
                strategies.append((operation.as_strategy(generation_mode=mode, path_parameters=known), "known ids"))
            for strat, label in strategies:
                try:
                    _runner(strat, label, failures)()
                except Exception as e:  # noqa: BLE001 - an unsatisfiable strategy is not a server bug
                    if "Unsatisfiable" not in type(e).__name__:
                        failures.append(f"{operation.label} [{label}]: {type(e).__name__}: {e}")
    return failures


def test_admin_api_never_answers_5xx(admin_schema: Any, server: tuple[ServerProcess, dict[str, str]]) -> None:
    failures = _fuzz(admin_schema, server[1])
    assert not failures, "\n".join(failures)


def test_user_api_never_answers_5xx(user_schema: Any, server: tuple[ServerProcess, dict[str, str]]) -> None:
    failures = _fuzz(user_schema, server[1])
    assert not failures, "\n".join(failures)


def test_corpus_really_reached_both_apps(server: tuple[ServerProcess, dict[str, str]]) -> None:
    """The fuzz runs above must not pass vacuously: both documents list their routes."""
    srv, ids = server
    for url, headers in ((srv.admin_url, ADMIN), (srv.user_url, {"Authorization": f"Bearer {ids['token']}"})):
        paths = httpx.get(f"{url}/openapi.json", headers=headers, timeout=10).json()["paths"]
        assert len(paths) >= (20 if url == srv.admin_url else 8), paths.keys()
