"""Skills reach agents, end to end over HTTP on the fake OpenAI provider: an inline skill's
instructions and reference files are in the model's system message; a package is offered through
ADK's skill tools, and scripted tool calls return its SKILL.md body and a resource file; every
edit (instructions, reference upload/delete, package replace, unlinking) shows in the very next
request."""

from __future__ import annotations

import json
from typing import Any

from magec.testing.apps import Apps, running_apps
from magec.testing.fake_providers import FakeServer

from .helpers import GUIDE, SKILL_MD, make_zip, skill_md

A = "/api/v1/admin"
U = "/api/v1/agent"


async def agent_with(apps: Apps, llm: FakeServer, skills: list[str]) -> tuple[str, dict[str, Any]]:
    b = (await apps.admin.post(f"{A}/backends", json={"name": "llm", "type": "openai", "url": llm.url,
                                                       "apiKey": "sk-test"})).json()
    body = {"name": "Helper", "systemPrompt": "You are Helper.", "llm": {"backend": b["id"], "model": "m-1"},
            "skills": skills}
    r = await apps.admin.post(f"{A}/agents", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["valid"] is True, r.json()
    return r.json()["id"], body


async def run(apps: Apps, aid: str, text: str, session: str = "s1") -> list[dict[str, Any]]:
    r = await apps.user.post(f"{U}/run", json={"appName": aid, "userId": "u", "sessionId": session,
                                               "newMessage": {"role": "user", "parts": [{"text": text}]}})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()
    assert not any(e.get("errorCode") for e in events), events
    return events


def chats(llm: FakeServer) -> list[Any]:
    return [r for r in llm.requests if r.route == "chat"]


def system_text(req: Any) -> str:
    first = req.json["messages"][0]
    assert first["role"] == "system"
    return first["content"] if isinstance(first["content"], str) else json.dumps(first["content"])


def offered(req: Any) -> set[str]:
    return {t["function"]["name"] for t in (req.json or {}).get("tools") or []}


def tool_results(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p["functionResponse"]["response"] for e in events if not e.get("partial")
            for p in (e.get("content") or {}).get("parts", []) if "functionResponse" in p]


async def test_inline_skill_is_in_the_instruction_and_edits_are_live(tmp_path: Any, llm: FakeServer) -> None:
    async with running_apps(tmp_path / "data") as apps:
        r = await apps.admin.post(f"{A}/skills", json={"name": "Returns", "instructions": "Refunds within 30 days."})
        sid = r.json()["id"]
        r = await apps.admin.post(f"{A}/skills/{sid}/references", files={"file": ("policy.md", b"Software: no refunds.")})
        assert r.status_code == 201
        aid, body = await agent_with(apps, llm, [sid])

        await run(apps, aid, "hello")
        text = system_text(chats(llm)[-1])
        assert text.startswith("You are Helper.")
        assert "--- Skill: Returns ---\nRefunds within 30 days." in text
        assert "[Reference: policy.md]\nSoftware: no refunds." in text

        # an edit of the instructions is in the very next request
        r = await apps.admin.put(f"{A}/skills/{sid}", json={"name": "Returns", "instructions": "Refunds within 15 days."})
        assert r.status_code == 200
        await run(apps, aid, "again")
        text = system_text(chats(llm)[-1])
        assert "Refunds within 15 days." in text and "30 days" not in text

        # so are a new reference file and a deleted one
        await apps.admin.post(f"{A}/skills/{sid}/references", files={"file": ("extra.txt", b"Gift cards: final sale.")})
        await run(apps, aid, "and now")
        assert "[Reference: extra.txt]\nGift cards: final sale." in system_text(chats(llm)[-1])
        assert (await apps.admin.delete(f"{A}/skills/{sid}/references/policy.md")).status_code == 204
        await run(apps, aid, "and now?")
        text = system_text(chats(llm)[-1])
        assert "policy.md" not in text and "extra.txt" in text

        # binary references are named, not inlined
        await apps.admin.post(f"{A}/skills/{sid}/references", files={"file": ("logo.png", b"\x89PNG\r\n\x1a\n\xff\xfe")})
        await run(apps, aid, "binary")
        assert "[Reference: logo.png] (binary file, not inlined)" in system_text(chats(llm)[-1])

        # unlinking the skill removes it from the next request
        r = await apps.admin.put(f"{A}/agents/{aid}", json={**body, "skills": []})
        assert r.status_code == 200, r.text
        await run(apps, aid, "without")
        assert "Skill: Returns" not in system_text(chats(llm)[-1])


async def test_package_skill_through_adk_skill_tools(apps: Apps, llm: FakeServer) -> None:
    z = make_zip({"SKILL.md": SKILL_MD, "references/guide.md": GUIDE, "scripts/rotate.sh": b"qpdf --rotate"})
    r = await apps.admin.post(f"{A}/skills/upload", files={"file": ("pdf.zip", z)})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    inline = (await apps.admin.post(f"{A}/skills", json={"name": "Tone", "instructions": "Be brief."})).json()
    aid, _ = await agent_with(apps, llm, [sid, inline["id"]])

    events = await run(apps, aid, 'call load_skill {"skill_name": "pdf-tricks"}')
    first = chats(llm)[0]
    # ADK's skill tools, no script execution (agents have no code executor)
    assert {"list_skills", "load_skill", "load_skill_resource"} <= offered(first)
    assert "run_skill_script" not in offered(first)
    # ADK's skill guidance in the system message, next to the inline skill (both kinds mix)
    assert "load_skill" in system_text(first) and "--- Skill: Tone ---\nBe brief." in system_text(first)
    loaded = tool_results(events)[0]
    assert loaded["skill_name"] == "pdf-tricks" and "PAPYRUS" in loaded["instructions"]
    tool_msg = chats(llm)[-1].json["messages"][-1]
    assert tool_msg["role"] == "tool" and "PAPYRUS" in tool_msg["content"]

    events = await run(apps, aid, 'call load_skill_resource {"skill_name": "pdf-tricks", '
                                  '"file_path": "references/guide.md"}')
    assert tool_results(events)[0]["content"] == GUIDE.decode()
    assert "qpdf --rotate=+90" in chats(llm)[-1].json["messages"][-1]["content"]
    events = await run(apps, aid, 'call load_skill_resource {"skill_name": "pdf-tricks", '
                                  '"file_path": "scripts/rotate.sh"}')
    assert tool_results(events)[0]["content"] == "qpdf --rotate"

    events = await run(apps, aid, "call list_skills {}")
    assert "pdf-tricks" in json.dumps(tool_results(events)[0])

    # replacing the package: the very next load returns the new SKILL.md
    r = await apps.admin.post(f"{A}/skills/upload?replace=true",
                              files={"file": ("SKILL.md", skill_md(body="Now say VELLUM."))})
    assert r.status_code == 200 and r.json()["id"] == sid
    events = await run(apps, aid, 'call load_skill {"skill_name": "pdf-tricks"}', session="s2")
    assert "VELLUM" in tool_results(events)[0]["instructions"]
    events = await run(apps, aid, 'call load_skill_resource {"skill_name": "pdf-tricks", '
                                  '"file_path": "references/guide.md"}', session="s2")
    assert tool_results(events)[0]["error_code"].startswith("RESOURCE_NOT_FOUND")

    # editing the package skill in the API changes what load_skill returns, at once
    r = await apps.admin.put(f"{A}/skills/{sid}", json={"name": "pdf-tricks", "description": "PDFs",
                                                          "instructions": "Now say PARCHMENT."})
    assert r.status_code == 200, r.text
    events = await run(apps, aid, 'call load_skill {"skill_name": "pdf-tricks"}', session="s3")
    assert "PARCHMENT" in tool_results(events)[0]["instructions"]

    # deleting the skill (forced) removes the tools from the next request
    assert (await apps.admin.delete(f"{A}/skills/{sid}")).status_code == 409
    assert (await apps.admin.delete(f"{A}/skills/{sid}?force=true")).status_code == 204
    await run(apps, aid, "hi", session="s4")
    assert "load_skill" not in offered(chats(llm)[-1])


async def test_skill_edits_reach_flows_using_the_agent(tmp_path: Any, llm: FakeServer) -> None:
    """A flow's fingerprint follows flow -> agent -> skill: editing the skill rebuilds the flow."""
    async with running_apps(tmp_path / "data") as apps:
        sid = (await apps.admin.post(f"{A}/skills", json={"name": "Tone", "instructions": "Say OCELOT."})).json()["id"]
        aid, _ = await agent_with(apps, llm, [sid])
        r = await apps.admin.post(f"{A}/flows", json={"name": "Pipe", "root": {
            "type": "sequential", "steps": [{"type": "agent", "agentId": aid}]}})
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        await run(apps, fid, "hi")
        assert "Say OCELOT." in system_text(chats(llm)[-1])
        assert (await apps.admin.put(f"{A}/skills/{sid}", json={"name": "Tone", "instructions": "Say MARGAY."})).status_code == 200
        await run(apps, fid, "hi again")
        text = system_text(chats(llm)[-1])
        assert "Say MARGAY." in text and "OCELOT" not in text
