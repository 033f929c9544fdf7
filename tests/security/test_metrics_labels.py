"""/metrics label values are bounded: whatever paths and methods clients send, the ``route`` label
is a route's template (or ``unmatched``) and the ``method`` label a known method (or ``other``), so
the series count stays fixed and /metrics never shows what anyone requested."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from magec.testing.apps import running_apps

_SERIES = re.compile(r'^magec_http_requests_total\{app="(\w+)",method="([^"]*)",route="([^"]*)",status="\d+"\}', re.M)


async def _spam(user: httpx.AsyncClient, admin: httpx.AsyncClient, n: int) -> list[str]:
    """``n`` rounds of distinct paths on every catch-all and on no route at all; the random parts."""
    sent = []
    for _ in range(n):
        tok = uuid.uuid4().hex
        sent.append(tok)
        await user.get(f"/x/{tok}")  # the Voice UI's catch-all (no auth)
        await user.post(f"/y/{tok}", json={})  # no POST route there: a 404 (only the catch-all GET had the path)
        await user.get(f"/api/v1/nope-{tok}")
        await user.get(f"/v1/models/{tok}")  # {model:path}
        await user.request("M" + tok[:8].upper(), "/api/v1/health")  # any method token
        await admin.get(f"/agents/{tok}")  # the Admin UI's catch-all
        await admin.get(f"/docs-assets/{tok}.js")  # a mounted static folder
    return sent


async def _series(apps_user: httpx.AsyncClient, apps_admin: httpx.AsyncClient) -> tuple[str, set[tuple[str, ...]]]:
    text = (await apps_user.get("/metrics")).text + (await apps_admin.get("/metrics")).text
    return text, set(_SERIES.findall(text))


async def test_route_and_method_labels_stay_bounded(tmp_path: Path) -> None:
    async with running_apps(tmp_path / "data") as apps:
        await _spam(apps.user, apps.admin, 3)
        await _series(apps.user, apps.admin)  # a scrape counts itself once it is answered
        _, first = await _series(apps.user, apps.admin)
        sent = await _spam(apps.user, apps.admin, 40)
        text, after = await _series(apps.user, apps.admin)
        assert after == first  # 40 more rounds of new paths and methods: no new series
        assert not [tok for tok in sent if tok in text or tok[:8].upper() in text]
        routes = {route for _, _, route in after}
        assert {"/{path}", "/v1/models/{model}", "/docs-assets/{path}", "/api/v1/health"} <= routes
        assert {method for _, method, _ in after} <= {"GET", "POST", "other"}


async def test_a_request_matching_no_route_is_unmatched(tmp_path: Path) -> None:
    # without the Voice UI nothing catches an unknown user-port path
    async with running_apps(tmp_path / "data", config={"voice_ui_enabled": False}) as apps:
        sent = [uuid.uuid4().hex for _ in range(20)]
        for tok in sent:
            assert (await apps.user.get(f"/{tok}/{tok}")).status_code == 404
        text, series = await _series(apps.user, apps.admin)
        assert not [tok for tok in sent if tok in text]
        assert ("user", "GET", "unmatched") in series
        assert {route for app, _, route in series if app == "user"} <= {"unmatched", "/metrics"}
