"""Code nodes in the Starlark sandbox: a runaway script ends by its timeout (node limit, or the
global settings.flows ceiling) with one typed error while the server keeps answering; a script
that exhausts memory ends its worker, not the server; output and library limits; no filesystem,
network or imports."""

from __future__ import annotations

import asyncio
import time

import pytest

from magec.testing.apps import Apps
from tests.flows.helpers import A, U, errors, graph, node, run

FOREVER = "def spin():\n    for i in range(1000000000):\n        pass\nspin()\noutput = 1\n"


def codes(events: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [e["errorCode"] for e in events if "errorCode" in e]


async def one_code_node(apps: Apps, script: str, **fields: object) -> str:
    return await graph(apps, f"Code {time.monotonic()}", "code",
                       [node("code", "code", script=script, outputKey="out", **fields)], [])


async def test_runaway_script_times_out_and_server_stays_responsive(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    fid = await one_code_node(apps, FOREVER, timeoutMs=1500)
    started = time.monotonic()
    turn = asyncio.create_task(run(apps, fid, "go"))
    await asyncio.sleep(0.3)  # the script is running now
    probe = time.monotonic()
    assert (await apps.user.get(f"{U}/list-apps")).status_code == 200
    assert time.monotonic() - probe < 0.5, "a running script must not block the server"
    assert not turn.done()
    events = await turn
    elapsed = time.monotonic() - started
    assert codes(events) == ["code_timeout"]
    assert "'code'" in errors(events)[0] and "1500 ms" in errors(events)[0]
    assert 1.4 < elapsed < 10


async def test_global_timeout_caps_the_node_limit(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    r = await apps.admin.put(f"{A}/settings", json={"flows": {"executionTimeoutMs": 300}})
    assert r.status_code == 200, r.text
    fid = await one_code_node(apps, FOREVER, timeoutMs=60_000)
    started = time.monotonic()
    events = await run(apps, fid, "go")
    assert codes(events) == ["code_timeout"] and "300 ms" in errors(events)[0]
    assert time.monotonic() - started < 5


async def test_output_limit_node_and_global(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    big = 'output = "x" * 5000\n'
    fid = await one_code_node(apps, big, maxOutputBytes=1000)
    events = await run(apps, fid, "go")
    assert codes(events) == ["code_output_too_large"] and "1000" in errors(events)[0]
    ok = await one_code_node(apps, big)
    assert codes(await run(apps, ok, "go")) == []
    r = await apps.admin.put(f"{A}/settings", json={"flows": {"maxOutputBytes": 2000}})
    assert r.status_code == 200
    assert codes(await run(apps, ok, "go", session="s2")) == ["code_output_too_large"]


async def test_disabled_libraries_and_no_io(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    uses_json = await one_code_node(apps, 'output = json.decode(input)["a"]')
    events = await run(apps, uses_json, '{"a": 7}')
    assert codes(events) == []
    session = (await apps.user.get(f"{U}/apps/{uses_json}/users/u1/sessions/s1")).json()
    assert session["state"]["flow:out"] == 7
    r = await apps.admin.put(f"{A}/settings", json={"flows": {"disabledLibraries": ["json"]}})
    assert r.status_code == 200
    events = await run(apps, uses_json, '{"a": 7}', session="s2")
    assert codes(events) == ["flow_node_error"] and "json" in errors(events)[0]
    for script in ('output = open("/etc/passwd")', 'load("os.star", "x")\noutput = 1'):
        fid = await one_code_node(apps, script)
        events = await run(apps, fid, "go")
        assert codes(events) == ["flow_node_error"], events


async def test_memory_bomb_ends_the_worker_not_the_server(sqlite_apps: Apps) -> None:
    apps = sqlite_apps
    bomb = await one_code_node(apps, 'output = "x" * 2000000000')
    events = await run(apps, bomb, "go")
    assert codes(events) == ["code_out_of_memory"] and "memory limit" in errors(events)[0]
    # the server (and the sandbox, with a fresh worker) carry on
    ok = await one_code_node(apps, 'output = {"len": len(input)}')
    assert codes(await run(apps, ok, "four")) == []
    session = (await apps.user.get(f"{U}/apps/{ok}/users/u1/sessions/s1")).json()
    assert session["state"]["flow:out"] == {"len": 4}


@pytest.mark.parametrize("script, fragment", [("x = 1", "must assign output"), ("output = 1 // 0", "script failed")])
async def test_script_errors_are_typed(sqlite_apps: Apps, script: str, fragment: str) -> None:
    fid = await one_code_node(sqlite_apps, script)
    events = await run(sqlite_apps, fid, "go")
    assert codes(events) == ["flow_node_error"] and fragment in errors(events)[0]
