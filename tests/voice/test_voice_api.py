"""Voice routes end to end against loopback provider fakes, with real speech from espeak-ng."""

from __future__ import annotations

import base64
import json

import pytest

from magec.testing.apps import Apps
from magec.testing.fake_providers import FakeServer, Reply, fake_audio
from tests.voice.helpers import GEMINI_KEY, OPENAI_KEY, A, PrefixedFake, V, agent, backend, wav_info


async def test_openai_transcription_real_speech(sqlite_apps: Apps, openai_voice: FakeServer, speech_wav: bytes) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)  # seed style: no path → /v1
    aid = await agent(apps, transcription={"backend": bid, "model": "whisper-large-x"})
    # the client declares a useless type: the WAV is sniffed
    files = {"file": ("note.bin", speech_wav, "application/octet-stream")}
    r = await apps.user.post(f"{V}/{aid}/transcription", files=files,
                             data={"language": "en", "prompt": "magec", "model": "client-model"})
    assert r.status_code == 200, r.text
    assert r.json() == {"text": f"audio of {len(speech_wav)} bytes"}
    req = openai_voice.requests[-1]
    assert req.path == "/v1/audio/transcriptions" and req.route == "stt"
    assert req.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert req.headers["content-type"].startswith("multipart/form-data")
    assert req.form["model"] == "whisper-large-x"  # injected; the client's model is ignored
    assert req.form["language"] == "en" and req.form["prompt"] == "magec"
    filename, ctype, content = req.files["file"]
    assert content == speech_wav and ctype == "audio/wav" and filename.endswith(".wav")
    # usage: the WAV's real duration
    rate, channels, width, seconds = wav_info(speech_wav)
    assert channels == 1 and seconds > 0.3
    assert apps.ctx.runtime is not None
    totals = await apps.ctx.runtime.usage.totals(aid)
    stt = [t for t in totals if t["kind"] == "stt"]
    assert stt and stt[0]["backendId"] == bid and stt[0]["audioSeconds"] == pytest.approx(seconds, rel=0.01)


async def test_raw_audio_body_and_default_model(sqlite_apps: Apps, openai_voice: FakeServer, speech_wav: bytes) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(apps, transcription={"backend": bid})
    r = await apps.user.post(f"{V}/{aid}/transcription?language=es", content=speech_wav,
                             headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    req = openai_voice.requests[-1]
    assert req.form["model"] == "whisper-1" and req.form["language"] == "es"


async def test_proxy_path_kept(sqlite_apps: Apps, openai_proxied: PrefixedFake, speech_wav: bytes) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_proxied.url + "/v1/")  # http://127.0.0.1:<port>/openai/v1/
    aid = await agent(apps, transcription={"backend": bid, "model": "parakeet"},
                      tts={"backend": bid, "model": "tts-1-hd", "voice": "nova"})
    r = await apps.user.post(f"{V}/{aid}/transcription", files={"file": ("a.wav", speech_wav, "audio/wav")})
    assert r.status_code == 200, r.text
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "proxied hello"})
    assert r.status_code == 200 and r.content == fake_audio("proxied hello")
    paths = [q.path for q in openai_proxied.provider.calls()]
    assert paths == ["/openai/v1/audio/transcriptions", "/openai/v1/audio/speech"]
    assert "authorization" not in openai_proxied.provider.calls()[0].headers  # keyless backend


async def test_openai_speech_injects_agent_settings(sqlite_apps: Apps, openai_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(apps, tts={"backend": bid, "model": "tts-x", "voice": "echo",
                                 "config": {"openai": {"speed": 1.25}, "gemini": {"languageCode": "es-ES"}}})
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "Hola Canarias", "model": "evil", "voice": "evil",
                                                        "speed": 4})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/mpeg" and r.content == fake_audio("Hola Canarias")
    req = openai_voice.requests[-1]
    assert req.path == "/v1/audio/speech" and req.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert req.json["model"] == "tts-x" and req.json["voice"] == "echo" and req.json["speed"] == 1.25
    assert req.json["input"] == "Hola Canarias" and "languageCode" not in req.json
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "for telegram", "response_format": "opus"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
    assert openai_voice.requests[-1].json["response_format"] == "opus"
    assert apps.ctx.runtime is not None
    totals = [t for t in await apps.ctx.runtime.usage.totals(aid) if t["kind"] == "tts"]
    assert totals[0]["characters"] == len("Hola Canarias") + len("for telegram") and totals[0]["calls"] == 2


async def test_gemini_transcription_real_speech(sqlite_apps: Apps, gemini_voice: FakeServer, speech_wav: bytes) -> None:
    apps = sqlite_apps
    bid = await backend(apps, gemini_voice.url, btype="gemini", key=GEMINI_KEY)
    aid = await agent(apps, transcription={"backend": bid, "model": "gemini-stt-x"})
    r = await apps.user.post(f"{V}/{aid}/transcription", files={"file": ("hello.wav", speech_wav, "audio/x-wav")},
                             data={"language": "English"})
    assert r.status_code == 200, r.text
    assert r.json() == {"text": f"audio of {len(speech_wav)} bytes"}
    req = gemini_voice.requests[-1]
    assert req.path == "/v1beta/models/gemini-stt-x:generateContent" and req.route == "stt"
    assert GEMINI_KEY in (req.headers.get("x-goog-api-key"), req.query.get("key"))
    parts = req.json["contents"][0]["parts"]
    texts = [p["text"] for p in parts if "text" in p]
    blobs = [p.get("inlineData") or p.get("inline_data") for p in parts if "inlineData" in p or "inline_data" in p]
    assert texts and texts[0].startswith("Transcribe this audio.") and "English" in texts[0]
    assert len(blobs) == 1 and base64.b64decode(blobs[0]["data"], altchars=b"-_") == speech_wav
    assert (blobs[0].get("mimeType") or blobs[0].get("mime_type")) == "audio/wav"


async def test_gemini_speech_is_a_valid_wav(sqlite_apps: Apps, gemini_voice: FakeServer) -> None:
    apps = sqlite_apps
    bid = await backend(apps, gemini_voice.url + "/v1beta", btype="gemini", key=GEMINI_KEY)
    aid = await agent(apps, tts={"backend": bid, "model": "gemini-tts-x", "voice": "Puck", "config": {
        "gemini": {"languageCode": "es-ES", "temperature": 0.7, "stylePrompt": "Say cheerfully"}}})
    pcm = bytes(range(256)) * 40  # 10240 bytes = 5120 samples
    gemini_voice.script(Reply(audio=pcm), route="tts")
    r = await apps.user.post(f"{V}/{aid}/speech", json={"input": "Buenos días"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    rate, channels, width, seconds = wav_info(r.content)
    assert (rate, channels, width) == (24000, 1, 2) and seconds == pytest.approx(5120 / 24000)
    assert r.content.endswith(pcm)
    req = gemini_voice.requests[-1]
    assert req.path == "/v1beta/models/gemini-tts-x:generateContent" and req.route == "tts"
    body = json.dumps(req.json)
    assert "Say cheerfully: Buenos días" in json.dumps(req.json, ensure_ascii=False)
    gen = req.json.get("generationConfig") or req.json.get("generation_config")
    assert "AUDIO" in json.dumps(gen["responseModalities"] if "responseModalities" in gen else gen["response_modalities"])
    assert "Puck" in body and "es-ES" in body and "0.7" in body


async def test_admin_playground_routes_and_types(sqlite_apps: Apps, openai_voice: FakeServer, speech_wav: bytes) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    aid = await agent(apps, transcription={"backend": bid, "model": "w"}, tts={"backend": bid})
    # a client exists: the user app now needs tokens, the admin playground does not
    c = await apps.admin.post(f"{A}/clients", json={"name": "Bot", "allowedAgents": [aid]})
    assert c.status_code in (200, 201)
    r = await apps.admin.post(f"{A}/voice/{aid}/transcription", files={"file": ("a.wav", speech_wav, "audio/wav")})
    assert r.status_code == 200 and r.json()["text"].startswith("audio of")
    r = await apps.admin.post(f"{A}/voice/{aid}/speech", json={"input": "play"})
    assert r.status_code == 200 and r.content == fake_audio("play")
    assert openai_voice.requests[-1].json["model"] == "tts-1" and openai_voice.requests[-1].json["voice"] == "alloy"
    types = {t["type"]: t for t in (await apps.admin.get(f"{A}/voice/types")).json()}
    assert types["openai"]["supportsStt"] and types["openai"]["supportsTts"]
    assert types["openai"]["displayName"] == "OpenAI-compatible"
    assert "speed" in types["openai"]["optionsSchema"]["properties"]
    assert types["anthropic"]["supportsStt"] is False and types["anthropic"]["supportsTts"] is False
    assert {"languageCode", "temperature", "stylePrompt"} <= set(types["gemini"]["optionsSchema"]["properties"])
    assert types["gemini"]["defaults"]["voice"] == "Kore"


async def test_client_token_auth(sqlite_apps: Apps, openai_voice: FakeServer, speech_wav: bytes) -> None:
    apps = sqlite_apps
    bid = await backend(apps, openai_voice.url, key=OPENAI_KEY)
    allowed = await agent(apps, "Allowed", transcription={"backend": bid}, tts={"backend": bid})
    other = await agent(apps, "Other", transcription={"backend": bid}, tts={"backend": bid})
    c = (await apps.admin.post(f"{A}/clients", json={"name": "Bot", "allowedAgents": [allowed]})).json()
    good = {"Authorization": f"Bearer {c['token']}"}
    upload = {"file": ("a.wav", speech_wav, "audio/wav")}
    assert (await apps.user.post(f"{V}/{allowed}/transcription", files=upload)).status_code == 401
    r = await apps.user.post(f"{V}/{allowed}/speech", json={"input": "x"}, headers={"Authorization": "Bearer mgc_nope"})
    assert r.status_code == 401
    assert (await apps.user.post(f"{V}/{other}/transcription", files=upload, headers=good)).status_code == 403
    assert (await apps.user.post(f"{V}/{other}/speech", json={"input": "x"}, headers=good)).status_code == 403
    assert (await apps.user.post(f"{V}/{allowed}/transcription", files=upload, headers=good)).status_code == 200
    r = await apps.user.post(f"{V}/Allowed/speech", json={"input": "by name"}, headers=good)
    assert r.status_code == 200 and r.content == fake_audio("by name")
