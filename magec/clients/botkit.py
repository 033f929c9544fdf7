"""What the Telegram, Slack and Discord bots share: config access, response modes, text shaping,
audio conversion and error redaction. Pure helpers; the one platform I/O here is
:func:`fetch_audio`.

Contract:

* :func:`section` returns the client's own config block (``config.telegram`` for a Telegram client)
  whether the worker got the whole ``config`` object or the block itself.
* :func:`plan` turns a ``responseMode`` (``text`` | ``voice`` | ``mirror`` | ``both``) and "did the
  user speak" into what to ask the agent for (speech) and what to send back (text, voice).
* :func:`split_text` cuts an answer into pieces of at most ``limit`` characters, preferring
  paragraph, line and word boundaries; :func:`markdown_to_html` renders the agent's Markdown as the
  small HTML subset Telegram accepts, escaping everything else (so agent output can never inject
  markup or break the message).
* :func:`to_ogg_opus` converts any audio PyAV (or an ``ffmpeg`` executable) can decode into a mono
  48 kHz OGG/Opus voice note; it returns ``None`` when no converter exists or the input does not
  decode, and the caller falls back to sending the original audio as a file. An ``ffmpeg`` it
  runs gets :func:`magec.procenv.minimal_env` (the audio is a provider's answer: hostile input).
* :func:`fetch_audio` downloads a user's audio attachment of at most ``limit`` bytes: a larger
  declared size is refused before a byte is fetched and a body running past it is cut off, so a
  huge file never sits in memory (:class:`~magec.errors.PayloadTooLargeError`; :func:`too_large`
  is the same check for a size alone).
* :func:`id_set` reads an allow-list failing closed: a single id where a list was meant is that
  id, never an empty list (which would let everyone in).
* :class:`ConversationLocks` runs one conversation's messages in order and forgets a lock once
  nobody holds or waits on it; :class:`ResponseModes` keeps only non-default per-conversation
  modes, at most 10,000 (both would otherwise grow with every conversation a bot ever saw).
* :func:`safe_error` is the only way an exception reaches a status field or a log: the bot's own
  secrets and the usual credential shapes are replaced by ``***``.
* :func:`finish` is how a stopping bot ends the messages it is answering: they get ``grace``
  seconds (the platform was told they arrived and will not resend them), then are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any

import httpx

from magec.errors import MagecError, PayloadTooLargeError
from magec.procenv import minimal_env
from magec.redact import redact, register_secret

log = logging.getLogger("magec.clients.bots")

RESPONSE_MODES = ("text", "voice", "mirror", "both")


def section(config: Mapping[str, Any], client_type: str) -> dict[str, Any]:
    """The ``config.<type>`` block of a client, tolerating a worker given the block itself."""
    inner = config.get(client_type)
    return dict(inner) if isinstance(inner, Mapping) else dict(config)


def secret(cfg: Mapping[str, Any], key: str) -> str:
    """A required secret from the config, registered for redaction; ValueError names the field."""
    value = cfg.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} is required")
    register_secret(value)
    return value.strip()


def api_base(cfg: Mapping[str, Any], default: str) -> str:
    value = cfg.get("apiBaseUrl")
    return (value if isinstance(value, str) and value.strip() else default).strip().rstrip("/")


async def finish(tasks: set[asyncio.Task[None]], grace: float) -> None:
    """Let ``tasks`` (messages being answered) finish for up to ``grace`` seconds, then cancel the
    rest. Called from a stopping worker's ``finally``: a restart after an edit, or the shutdown."""
    pending = {t for t in tasks if not t.done()}
    if pending and grace > 0:
        log.info("finishing %d message(s) being answered (up to %gs)", len(pending), grace)
        _, pending = await asyncio.wait(pending, timeout=grace)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5.0)


def safe_error(exc: BaseException | str, *secrets: str | None) -> str:
    """A one-line, redacted description of an error, fit for status fields and logs."""
    text = exc if isinstance(exc, str) else (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    return redact(text)[:500]


def id_set(values: Any, field: str = "allow-list") -> set[str]:
    """Allow-list entries as strings (Telegram ids are integers, Slack/Discord ids strings).

    An empty allow-list lets everyone in, so a value that is not a list must never read as empty:
    a single id (``12345`` where ``[12345]`` was meant, as a hand-edited import or backup may
    hold) is that one id, a string is its comma- or space-separated ids, and anything else (an
    object, ``true``) is a ValueError naming ``field``, so the bot does not start (fail closed).
    """
    if values is None:
        return set()
    if isinstance(values, str | int | float) and not isinstance(values, bool):
        items: Iterable[Any] = re.split(r"[\s,]+", str(values))
    elif isinstance(values, Iterable) and not isinstance(values, Mapping | bytes):
        items = values
    else:
        raise ValueError(f"{field} must be a list of ids, not {type(values).__name__}")
    return {str(v).strip() for v in items if str(v).strip()}


@dataclass(frozen=True, slots=True)
class Plan:
    speech: bool  # ask the agent for TTS of the answer
    text: bool  # send the answer as text
    voice: bool  # send the audio as a voice note / audio file


def normalise_mode(mode: Any) -> str:
    return mode if isinstance(mode, str) and mode in RESPONSE_MODES else "text"


def plan(mode: str, voice_in: bool) -> Plan:
    if mode == "voice" or (mode == "mirror" and voice_in):
        return Plan(speech=True, text=False, voice=True)
    if mode == "both":
        return Plan(speech=True, text=True, voice=True)
    return Plan(speech=False, text=True, voice=False)


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters; cut at a blank line, a newline, a space, else hard."""
    rest = text.strip()
    out: list[str] = []
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 2:
            cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        out.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        out.append(rest)
    return out


_FENCE = re.compile(r"```[^\n`]*\n?(.*?)```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
# A label holds no "[" and a URL no "(" but in a balanced pair (…/Foo_(bar)): with either allowed,
# every "[" of a line of "[a" (or every link of a line of "[a](http://x") began a scan to the
# line's end — quadratic, 0.1 s of the event loop per 4 KB chunk and minutes for 200 KB.
_LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://(?:[^\s()]|\([^\s()]*\))+)\)")
_BOLD = re.compile(r"\*\*([^<>]+?)\*\*|__([^<>]+?)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)([^*\n<>]+?)\*(?![\w*])|(?<![\w_])_(?!\s)([^_\n<>]+?)_(?![\w_])")
_STRIKE = re.compile(r"~~([^<>]+?)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)


def markdown_to_html(text: str) -> str:
    """Common Markdown → Telegram HTML (b, i, s, code, pre, a); all other text is escaped."""
    slots: list[str] = []
    # NUL marks a kept fragment below; one in the answer itself would name a slot that is not there.
    # After escaping, "<" and ">" only open and close tags made here, so no span crosses one
    # (Telegram refuses tags that overlap).
    text = text.replace("\x00", "")

    def keep(fragment: str) -> str:
        slots.append(fragment)
        return f"\x00{len(slots) - 1}\x00"

    text = _FENCE.sub(lambda m: keep(f"<pre>{html.escape(m.group(1).rstrip(), quote=False)}</pre>"), text)
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(m.group(1), quote=False)}</code>"), text)
    text = _LINK.sub(
        lambda m: keep(f'<a href="{html.escape(m.group(2))}">{html.escape(m.group(1), quote=False)}</a>'), text
    )
    text = html.escape(text, quote=False)
    text = _HEADING.sub(r"<b>\1</b>", text)
    text = _BOLD.sub(lambda m: f"<b>{m.group(1) or m.group(2)}</b>", text)
    text = _ITALIC.sub(lambda m: f"<i>{m.group(1) or m.group(2)}</i>", text)
    text = _STRIKE.sub(r"<s>\1</s>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: slots[int(m.group(1))], text)


def is_ogg_opus(audio: bytes) -> bool:
    return audio[:4] == b"OggS" and b"OpusHead" in audio[:128]


def to_ogg_opus(audio: bytes, mime: str | None = None) -> bytes | None:
    """``audio`` as a mono 48 kHz OGG/Opus voice note, or None when it cannot be converted."""
    if is_ogg_opus(audio):
        return audio
    try:
        if find_spec("av") is not None:
            return _av_to_opus(audio)
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is not None:
            cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", "pipe:0", "-ac", "1",
                   "-c:a", "libopus", "-b:a", "32k", "-ar", "48000", "-f", "ogg", "pipe:1"]
            proc = subprocess.run(cmd, input=audio, capture_output=True, check=False, timeout=120, env=minimal_env())
            return proc.stdout if proc.returncode == 0 and is_ogg_opus(proc.stdout) else None
    except Exception as exc:  # undecodable input or a broken codec: the caller sends a file
        log.info("audio (%s) could not be converted to OGG/Opus: %s", mime or "unknown", safe_error(exc))
        return None
    log.info("no audio converter (PyAV or ffmpeg) is installed: voice notes go out as audio files")
    return None


def _av_to_opus(audio: bytes) -> bytes | None:
    import av
    from av.audio.stream import AudioStream

    out_buf = io.BytesIO()
    with av.open(io.BytesIO(audio), "r") as src, av.open(out_buf, "w", format="ogg") as out:
        if not src.streams.audio:
            return None
        stream = out.add_stream("libopus", rate=48000, layout="mono")
        assert isinstance(stream, AudioStream)
        stream.bit_rate = 32000
        resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=48000)
        frames = [*src.decode(audio=0), None]
        for frame in frames:
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = out_buf.getvalue()
    return data if is_ogg_opus(data) else None


def audio_filename(mime: str | None, stem: str = "answer") -> str:
    ext = {
        "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav",
        "audio/ogg": "ogg", "audio/opus": "ogg", "audio/aac": "aac", "audio/flac": "flac",
        "audio/mp4": "m4a", "audio/webm": "webm",
    }.get((mime or "").split(";")[0].strip().lower(), "bin")
    return f"{stem}.{ext}"


def too_large(size: Any, limit: int) -> PayloadTooLargeError | None:
    """The error for an attachment of ``size`` bytes (as the platform declares it), or None."""
    if not isinstance(size, int) or isinstance(size, bool) or size <= limit:
        return None
    shown = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{max(limit // 1024, 1)} KB"
    return PayloadTooLargeError(f"the audio file is larger than the {shown} limit")


async def fetch_audio(url: str, limit: int, *, size: Any = None, headers: Mapping[str, str] | None = None) -> bytes:
    """The audio at ``url``, at most ``limit`` bytes (``limits.uploadBytes``). A user can attach
    files far larger than any voice note (Slack: 1 GB); read whole they would exhaust memory, so
    the declared ``size`` is checked first and the body is read in chunks and dropped past it."""
    if (error := too_large(size, limit)) is not None:
        raise error
    data = bytearray()
    async with httpx.AsyncClient(timeout=60) as http, http.stream("GET", url, headers=dict(headers or {})) as r:
        if r.status_code != 200:
            raise RuntimeError(f"could not download the audio file ({r.status_code})")
        async for chunk in r.aiter_bytes():
            data += chunk
            if (error := too_large(len(data), limit)) is not None:
                raise error
    return bytes(data)


THREAD_HISTORY_OPEN = "<!--MAGEC_THREAD_HISTORY:\n"
THREAD_HISTORY_CLOSE = ":MAGEC_THREAD_HISTORY-->\n"


def thread_history(lines: Iterable[tuple[str, str]]) -> str:
    """Earlier thread messages as Magec's hidden context block (``[name]: text`` lines), or ''."""
    body = "".join(f"[{name}]: {text.strip()}\n" for name, text in lines if text.strip())
    return f"{THREAD_HISTORY_OPEN}{body}{THREAD_HISTORY_CLOSE}" if body else ""


class ConversationLocks:
    """One lock per conversation, so its messages run in order, kept only while a handler holds
    or waits on it: every Slack/Discord mention is a new conversation, and a map that kept each
    lock forever would grow for as long as the bot runs."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # key -> (lock, [users])

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:  # also when cancelled while waiting: nobody else may still count on this lock
            users[0] -= 1
            if users[0] == 0:
                del self._locks[key]


class ResponseModes:
    """The per-conversation ``responsemode`` overrides (until the worker restarts). Only a mode
    other than the client's default is kept, and at most ``cap`` of them (the oldest set goes
    first), so conversations that never change theirs cost nothing and the map stays bounded."""

    def __init__(self, default: str, cap: int = 10_000) -> None:
        self.default = default
        self.cap = cap
        self._modes: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._modes)

    def __contains__(self, conv: object) -> bool:
        return conv in self._modes

    def get(self, conv: str) -> str:
        return self._modes.get(conv, self.default)

    def set(self, conv: str, mode: str) -> None:
        self._modes.pop(conv, None)  # re-inserted last: the cap drops the oldest set first
        if mode != self.default:
            self._modes[conv] = mode
            while len(self._modes) > self.cap:
                del self._modes[next(iter(self._modes))]

    def reset(self, conv: str) -> None:
        self._modes.pop(conv, None)


Say = Callable[[str], Awaitable[Any]]


async def speechless(ctx: Any, conv: str, mode: str) -> str:
    """A note for a chat that asks for spoken answers from an agent that cannot speak: without TTS
    the answers stay text (as the mode's contract says), and the user was not told why."""
    if mode not in ("voice", "both"):
        return ""
    _, tts = await ctx.conversations.has_voice(ctx.client_id, None, conv)
    if tts:
        return ""
    agent = dict(await ctx.conversations.agents(ctx.client_id)).get(
        await ctx.conversations.current_agent(ctx.client_id, conv) or "", "this agent")
    return f" Note: {agent} has no text-to-speech (TTS) backend, so its answers stay text until an admin sets one."


class ChatCommands:
    """``!help``, ``!agent [id|name]``, ``!reset`` and ``!responsemode [mode|reset]`` for the Slack
    and Discord bots (Magec's text commands), and the per-conversation response mode they set.
    Replies use only backticks, which both platforms render."""

    def __init__(self, ctx: Any, default_mode: str, prefix: str = "!") -> None:
        self.ctx = ctx
        self.default_mode = default_mode
        self.prefix = prefix
        self.modes = ResponseModes(default_mode)

    def mode(self, conv: str) -> str:
        return self.modes.get(conv)

    async def run(self, conv: str, user: str, text: str, say: Say) -> bool:
        """Handle ``text`` when it is one of the commands; False otherwise (it goes to the agent)."""
        if not text.startswith(self.prefix):
            return False
        name, _, arg = text[len(self.prefix):].strip().partition(" ")
        name, arg = name.lower(), arg.strip()
        p = self.prefix
        convs, cid = self.ctx.conversations, self.ctx.client_id
        if name == "help":
            await say(f"Commands:\n`{p}agent` — show or switch the agent\n`{p}reset` — start a new conversation\n"
                      f"`{p}responsemode` — show or change the response mode ({', '.join(RESPONSE_MODES)})\n"
                      f"`{p}help` — this message")
        elif name == "agent":
            agents = await convs.agents(cid)
            if not arg:
                current = await convs.current_agent(cid, conv)
                lines = "\n".join(f"{'▸' if a == current else '•'} {n} (`{a}`)" for a, n in agents)
                await say(f"Agents:\n{lines}\nUsage: `{p}agent <id or name>`")
                return True
            wanted = {n.lower(): a for a, n in agents}.get(arg.lower(), arg)
            try:
                aid = await convs.set_agent(cid, conv, wanted)
            except MagecError:
                listed = ", ".join(f"{n} (`{a}`)" for a, n in agents) or "none"  # names: the user typed one
                await say(f"Unknown agent `{arg}`. Available: {listed}")
                return True
            await say(f"Switched to {dict(agents).get(aid, aid)} (`{aid}`).")
        elif name == "reset":
            await convs.reset(cid, conv, user)
            await say("Session reset: the next message starts a fresh conversation.")
        elif name == "responsemode":
            if not arg:
                await say(f"Response mode: `{self.mode(conv)}` (options: {', '.join(RESPONSE_MODES)}, reset)")
            elif arg == "reset":
                self.modes.reset(conv)
                await say(f"Response mode back to the client's default: `{self.default_mode}`")
            elif arg in RESPONSE_MODES:
                self.modes.set(conv, arg)
                await say(f"Response mode set to `{arg}` here.{await speechless(self.ctx, conv, arg)}")
            else:
                await say(f"Unknown mode `{arg}`. Options: {', '.join(RESPONSE_MODES)}, reset")
        else:
            return False
        return True
