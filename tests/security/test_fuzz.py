"""Generated hostile corpus: schemathesis over both OpenAPI documents, against a real ``magec serve``
on loopback. Every answer must be < 500, whatever the generator sends (valid and invalid data,
positive and negative modes), on every operation of both apps.

Bounded on purpose (a few examples per operation) so the whole run stays well under two minutes;
the hand-written corpus in ``test_input.py`` covers the bodies the schemas do not describe.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from magec.testing.server import ServerProcess

PASSWORD = "fuzz-admin-password"
MAX_EXAMPLES = 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("fuzz"), admin_password=PASSWORD) as srv:
        yield srv


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
def admin_schema(server: ServerProcess) -> Any:
    return _schema(server.admin_url, {"Authorization": f"Bearer {PASSWORD}"})


@pytest.fixture(scope="module")
def user_schema(server: ServerProcess) -> Any:
    return _schema(server.user_url, {})


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


def _fuzz(schema: Any) -> list[str]:
    """Run every operation in both generation modes; the 5xx answers found, one line each.

    Driven directly (not through schemathesis' pytest plugin) so one test sweeps a whole document
    and reports every failing operation at once.
    """
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception as e:  # noqa: BLE001 - a schema the generator cannot negate
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise AssertionError(f"{operation.label}: {e}") from e

            run = _runner(strategy, mode.value, failures)
            try:
                run()
            except Exception as e:  # noqa: BLE001 - an unsatisfiable strategy is not a server bug
                if "Unsatisfiable" not in type(e).__name__:
                    failures.append(f"{operation.label} [{mode.value}]: {type(e).__name__}: {e}")
    return failures


def test_admin_api_never_answers_5xx(admin_schema: Any) -> None:
    failures = _fuzz(admin_schema)
    assert not failures, "\n".join(failures)


def test_user_api_never_answers_5xx(user_schema: Any) -> None:
    failures = _fuzz(user_schema)
    assert not failures, "\n".join(failures)


def test_corpus_really_reached_both_apps(server: ServerProcess, tmp_path: Path) -> None:
    """The fuzz runs above must not pass vacuously: both documents list their routes."""
    for url, headers in ((server.admin_url, {"Authorization": f"Bearer {PASSWORD}"}), (server.user_url, {})):
        paths = httpx.get(f"{url}/openapi.json", headers=headers, timeout=10).json()["paths"]
        assert len(paths) >= (20 if url == server.admin_url else 8), paths.keys()
