"""Per-agent secrets end to end: ``{{secret:KEY}}`` in a scripted tool call of a real MCP server
(tests/tools/mcp_server.py over stdio) is filled just before the call, only for keys the agent may
use, with the secret's current value; the value never reaches the model, the client's events or
the stored session."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from magec.redact import redact
from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer, OpenAIFake, Reply, ToolCall
from tests.tools.conftest import SERVER_SCRIPT

A = "/api/v1/admin"
U = "/api/v1/agent"
TOKEN = "tok-very-secret-123"


@pytest.fixture(scope="module")
def llm() -> Any:
    with FakeServer(OpenAIFake("fake-llm")) as s:
        yield s


async def secret(apps: Apps, key: str, value: str) -> str:
    r = await apps.admin.post(f"{A}/secrets", json={"name": key.title(), "key": key, "value": value})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def agent(apps: Apps, llm: FakeServer, tmp_path: Path, **fields: Any) -> str:
    b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url,
                                                       "apiKey": "sk-test"})).json()
    m = (await apps.admin.post(f"{A}/mcps", json={
        "name": "tools", "type": "stdio", "command": sys.executable, "args": [str(SERVER_SCRIPT)],
        # LEAKY: the server process holds the token, so a tool result can carry it
        "env": {"MAGEC_MCP_TEST": "v-42", "LEAKY": "${API_TOKEN}"}, "workDir": str(tmp_path)})).json()
    r = await apps.admin.post(f"{A}/agents", json={"name": "Keyholder", "llm": {"backend": b["id"], "model": "m"},
                                                    "mcpServers": [m["id"]], **fields})
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


async def run(apps: Apps, llm: FakeServer, aid: str, text: str, session: str = "s1") -> list[dict[str, Any]]:
    """One turn. ``call <tool> <json args>``: the model calls that tool (scripted); the user's
    message stays neutral, as a client's would."""
    found = re.fullmatch(r"call (\w+) (.*)", text)
    if found:
        llm.script(Reply(tool_calls=[ToolCall(found.group(1), json.loads(found.group(2)))]))
        text = "use your tools"
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": session,
                                               "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    return list(r.json())


def parts(events: list[dict[str, Any]], key: str) -> list[Any]:
    return [p[key] for e in events for p in (e.get("content") or {}).get("parts", []) if key in p]


def result(events: list[dict[str, Any]]) -> Any:
    found = parts(events, "functionResponse")
    assert len(found) == 1, events
    return found[0]["response"]


async def test_placeholders_filled_allowed_only_redacted_live(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        await secret(apps, "VAR_NAME", "MAGEC_MCP_TEST")
        token_id = await secret(apps, "API_TOKEN", TOKEN)
        await secret(apps, "OTHER", "other-secret-xyz")
        # allowed by key and by id (Magec's admin UI stores ids)
        aid = await agent(apps, llm, tmp_path, secrets=["VAR_NAME", token_id])
        shown = (await apps.admin.get(f"{A}/agents/{aid}")).json()
        assert shown["secrets"] == ["VAR_NAME", token_id] and shown["allowAllSecrets"] is False

        # filled just before the call: the MCP server read the variable the secret names
        events = await run(apps, llm, aid, 'call env_value {"name": "{{secret:VAR_NAME}}"}')
        assert result(events)["structuredContent"] == {"result": "v-42"}
        # the recorded call keeps the placeholder
        assert parts(events, "functionCall")[0]["args"] == {"name": "{{secret:VAR_NAME}}"}
        # Magec G2's ${KEY}: filled for an allowed secret, left as written otherwise (no error)
        res = result(await run(apps, llm, aid, 'call env_value {"name": "${VAR_NAME}"}'))
        assert res["structuredContent"] == {"result": "v-42"}
        res = result(await run(apps, llm, aid, 'call env_value {"name": "${OTHER}"}'))
        assert res["structuredContent"] == {"result": ""} and "error" not in res

        # a tool result carrying a secret value: masked for the model and the client
        llm.clear()
        events = await run(apps, llm, aid, 'call env_value {"name": "LEAKY"}')
        assert result(events)["structuredContent"] == {"result": "***"}
        assert TOKEN not in json.dumps(events)
        sent = json.dumps([r.json for r in llm.requests])
        assert '\\"result\\": \\"***\\"' in sent and TOKEN not in sent  # the model's next request
        # the stored session, as the client and the admin see it
        for prefix in (U, f"{A}/agent"):
            client = apps.user if prefix == U else apps.admin
            stored = await client.get(f"{prefix}/apps/{aid}/users/u/sessions/s1")
            i = stored.text.find(TOKEN)
            assert i < 0, stored.text[max(0, i - 400):i + 100]
            assert stored.status_code == 200 and '"result":"***"' in stored.text
        # streamed events too
        r = await apps.user.post(f"{U}/run_sse", json={
            "appName": aid, "userId": "u", "sessionId": "s2", "streaming": True,
            "newMessage": {"role": "user", "parts": [{"text": 'call env_value {"name": "LEAKY"}'}]}})
        assert r.status_code == 200 and "***" in r.text and TOKEN not in r.text
        # and logs / error texts: the redactor knows every secret value
        assert redact(f"key {TOKEN} leaked") == "key *** leaked"

        # a key the agent may not use, and one no secret has: refused, naming the key, tool not run
        res = result(await run(apps, llm, aid, 'call env_value {"name": "{{secret:OTHER}}"}'))
        assert res == {"error": "secret 'OTHER' is not allowed for this agent"}
        res = result(await run(apps, llm, aid, 'call env_value {"name": "{{secret:NOPE}}"}'))
        assert res == {"error": "secret 'NOPE' is not allowed for this agent"}

        # values change live: the next call uses the new value, no agent edit
        var = next(s for s in (await apps.admin.get(f"{A}/secrets")).json() if s["key"] == "VAR_NAME")
        r = await apps.admin.put(f"{A}/secrets/{var['id']}", json={"name": "Var", "key": "VAR_NAME", "value": "HOME"})
        assert r.status_code == 200, r.text
        res = result(await run(apps, llm, aid, 'call env_value {"name": "{{secret:VAR_NAME}}"}'))
        assert res["structuredContent"] == {"result": os.environ.get("HOME", "")}


async def test_allow_all_secrets(tmp_path: Path, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data", config={"artifact_agent_tools": True}) as apps:
        await secret(apps, "VAR_NAME", "MAGEC_MCP_TEST")
        await secret(apps, "API_TOKEN", TOKEN)
        aid = await agent(apps, llm, tmp_path, allowAllSecrets=True)
        assert (await apps.admin.get(f"{A}/agents/{aid}")).json()["allowAllSecrets"] is True
        res = result(await run(apps, llm, aid, 'call env_value {"name": "{{secret:VAR_NAME}}"}'))
        assert res["structuredContent"] == {"result": "v-42"}
        # magec's storing tools get the placeholder as written: a saved file never holds a value
        res = result(await run(apps, llm, aid, 'call save_artifact {"name": "k.txt", "content": "key={{secret:API_TOKEN}}"}'))
        assert res["success"] is True
        part = (await apps.user.get(f"{U}/apps/{aid}/users/u/sessions/s1/artifacts/k.txt")).json()
        assert part == {"text": "key={{secret:API_TOKEN}}"}
        # unknown keys are still refused, by name
        res = result(await run(apps, llm, aid, 'call env_value {"name": "{{ secret:MISSING }}"}'))
        assert res == {"error": "secret 'MISSING' does not exist"}
        # an agent without the fields keeps them off, and a placeholder is refused
        other = await agent(apps, llm, tmp_path)
        res = result(await run(apps, llm, other, 'call env_value {"name": "{{secret:VAR_NAME}}"}'))
        assert res == {"error": "secret 'VAR_NAME' is not allowed for this agent"}


async def test_a_value_a_tool_echoes_transformed_is_masked(tmp_path: Path, llm: FakeServer) -> None:
    """A client of the agent had the model pass ``{{secret:KEY}}`` to a tool that hands text back
    transformed (reversed): the secret reached the client reversed. A value that comes back
    reversed, base64- or hex-encoded or in another letter case is masked like the value itself."""
    async with running_apps(tmp_path / "data") as apps:
        await secret(apps, "API_TOKEN", TOKEN)
        aid = await agent(apps, llm, tmp_path, secrets=["API_TOKEN"])
        # the client's own message asks for it; the model obliges
        llm.script(Reply(tool_calls=[ToolCall("transform", {"text": "{{secret:API_TOKEN}}", "how": "reverse"})]))
        r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": "asked", "newMessage": {
            "parts": [{"text": 'call transform {"text": "{{secret:API_TOKEN}}", "how": "reverse"}'}]}})
        assert r.status_code == 200, r.text
        assert result(list(r.json()))["structuredContent"]["result"] == "***"
        assert TOKEN[::-1] not in r.text
        for how in ("reverse", "base64", "hex", "upper"):
            events = await run(apps, llm, aid, f'call transform {{"text": "{{{{secret:API_TOKEN}}}}", "how": "{how}"}}',
                               f"model-{how}")
            res = result(events)
            assert "***" in res["structuredContent"]["result"], (how, res)  # base64: an edge byte or two may show
            dumped = json.dumps(events)
            assert TOKEN[::-1] not in dumped and TOKEN.encode().hex() not in dumped and TOKEN.upper() not in dumped
            assert "dG9rLXZlcnktc2VjcmV0LTEyMw" not in dumped and "tok-very-secret" not in dumped


async def test_secret_tools_bind_a_secret_to_the_tools_that_need_it(tmp_path: Path, llm: FakeServer) -> None:
    """``secretTools``: a secret's value goes only into the tools listed for it, named
    ``<MCP server>/<tool>``; any other tool's call naming it is refused (the tool does not run),
    whoever asked the model for it — also another server's tool offered under the same name."""
    async with running_apps(tmp_path / "data") as apps:
        await secret(apps, "VAR_NAME", "MAGEC_MCP_TEST")
        # "other" comes first in the agent's list: it is offered as env_value, "tools" as tools_env_value
        other = (await apps.admin.post(f"{A}/mcps", json={
            "name": "other", "type": "stdio", "command": sys.executable, "args": [str(SERVER_SCRIPT)],
            "env": {"MAGEC_MCP_TEST": "v-OTHER"}, "workDir": str(tmp_path)})).json()
        aid = await agent(apps, llm, tmp_path, allowAllSecrets=True, secretTools={"VAR_NAME": ["tools/env_value"]})
        shown = (await apps.admin.get(f"{A}/agents/{aid}")).json()
        assert shown["secretTools"] == {"VAR_NAME": ["tools/env_value"]}
        r = await apps.admin.put(f"{A}/agents/{aid}", json={**shown, "mcpServers": [other["id"], *shown["mcpServers"]]})
        assert r.status_code == 200, r.text
        res = result(await run(apps, llm, aid, 'call tools_env_value {"name": "{{secret:VAR_NAME}}"}'))
        assert res["structuredContent"] == {"result": "v-42"}
        res = result(await run(apps, llm, aid, 'call env_value {"name": "{{secret:VAR_NAME}}"}', "s1b"))
        assert res == {"error": "secret 'VAR_NAME' may be used only with tools/env_value (secretTools), not 'other/env_value'"}
        events = await run(apps, llm, aid, 'call transform {"text": "{{secret:VAR_NAME}}", "how": "reverse"}', "s2")
        assert result(events) == {
            "error": "secret 'VAR_NAME' may be used only with tools/env_value (secretTools), not 'other/transform'"}
        assert "TSET_PCM_CEGAM" not in json.dumps(events)
        # ${KEY} is left as written for a tool it is not bound to
        res = result(await run(apps, llm, aid, 'call transform {"text": "${VAR_NAME}", "how": "upper"}', "s3"))
        assert res["structuredContent"] == {"result": "${VAR_NAME}"}
        # bad entries name the field: not a key, no tool at all
        for bad in ({"var name": ["x"]}, {"VAR_NAME": []}, {"VAR_NAME": [" "]}):
            r = await apps.admin.put(f"{A}/agents/{aid}", json={
                **(await apps.admin.get(f"{A}/agents/{aid}")).json(), "secretTools": bad})
            assert r.status_code == 400 and r.json()["field"].startswith("secretTools"), (bad, r.text)
