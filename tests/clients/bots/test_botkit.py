"""The bots' shared helpers: response-mode plans, splitting, safe Markdown → Telegram HTML, audio
conversion to OGG/Opus voice notes (real espeak-ng speech) and redacted errors."""

from __future__ import annotations

import asyncio
import html
import io
import threading

import av
import pytest

from magec.clients import botkit
from magec.testing.fake_platforms import espeak_wav
from magec.testing.fake_platforms.telegram import html_error


@pytest.mark.parametrize(("mode", "voice_in", "expected"), [
    ("text", False, (False, True, False)), ("text", True, (False, True, False)),
    ("voice", False, (True, False, True)), ("voice", True, (True, False, True)),
    ("mirror", False, (False, True, False)), ("mirror", True, (True, False, True)),
    ("both", False, (True, True, True)), ("both", True, (True, True, True)),
])
def test_plans(mode: str, voice_in: bool, expected: tuple[bool, bool, bool]) -> None:
    p = botkit.plan(mode, voice_in)
    assert (p.speech, p.text, p.voice) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (None, set()), ([], set()), ([12345, " 678 "], {"12345", "678"}),
    (12345, {"12345"}), ("U7", {"U7"}), ("U7, U8 U9", {"U7", "U8", "U9"}), (4.0, {"4.0"}),
])
def test_id_set_reads_a_single_id_as_that_id(value: object, expected: set[str]) -> None:
    # an empty allow-list opens the bot to everyone: a scalar where a list was meant must not
    assert botkit.id_set(value) == expected


@pytest.mark.parametrize("value", [{"U7": True}, True, b"U7"])
def test_id_set_refuses_what_it_cannot_read(value: object) -> None:
    with pytest.raises(ValueError, match="allowedUsers must be a list of ids"):
        botkit.id_set(value, "allowedUsers")


def test_unknown_mode_is_text() -> None:
    assert botkit.normalise_mode("loud") == "text" and botkit.normalise_mode(None) == "text"


def test_split_prefers_boundaries_and_keeps_everything() -> None:
    text = "para one\n\n" + "x" * 50 + "\nline two " + "word " * 40
    parts = botkit.split_text(text, 60)
    assert all(len(p) <= 60 for p in parts)
    assert botkit.split_text("alpha beta gamma delta", 12) == ["alpha beta", "gamma delta"]
    assert botkit.split_text("first para here\n\nsecond one", 20) == ["first para here", "second one"]
    assert "".join(parts).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")
    assert botkit.split_text("x" * 130, 50) == ["x" * 50, "x" * 50, "x" * 30]  # no boundary: hard cuts
    assert botkit.split_text("  \n ", 10) == []


@pytest.mark.parametrize("markdown", [
    "**bold** and *it* and `co<de>` and [link](https://example.com/?a=1&b=2)",
    "<b>not a tag</b> & <script>alert(1)</script>",
    "```python\nif a < b and c > d:\n    print('&')\n```",
    "# Heading\n- item with __under__ and ~~gone~~",
    "unbalanced **bold and `code",
    "snake_case_names and 2*3*4 stay as they are",
    "NUL marks \x005\x00 and \x000\x00 in the answer [link](https://example.com)",
    "**bold *it** x*",
    "# a **b\nc** d",
    "~~x **y~~ z**",
])
def test_markdown_html_is_always_valid_telegram_html(markdown: str) -> None:
    rendered = botkit.markdown_to_html(markdown)
    assert html_error(rendered) is None, rendered


def test_markdown_html_renders_and_escapes() -> None:
    out = botkit.markdown_to_html("**Hi** <you> & `x<y` [go](https://e.x/?a=1&b=2)\n```\n<pre> & co\n```")
    assert out.startswith("<b>Hi</b> &lt;you&gt; &amp; <code>x&lt;y</code> ")
    assert '<a href="https://e.x/?a=1&amp;b=2">go</a>' in out
    assert "<pre>&lt;pre&gt; &amp; co</pre>" in out
    assert botkit.markdown_to_html("snake_case_names 2*3*4") == "snake_case_names 2*3*4"
    assert botkit.markdown_to_html("**bold *it* x**") == "<b>bold <i>it</i> x</b>"
    assert botkit.markdown_to_html("a\x000\x00 [l](https://e.x)") == 'a0 <a href="https://e.x">l</a>'


def test_markdown_links_of_brackets_render_in_linear_time() -> None:
    """A label holds no "[" and a URL no unbalanced "(": with them, every "[" of a line of "[a"
    (every link of a line of "[a](http://x") began a scan to the line's end — 200 KB took minutes.
    Bounded work: it completes within a generous budget (in a thread, so a regression fails the
    test instead of hanging it)."""
    def render(text: str, out: list[str], done: threading.Event) -> None:
        out.append(botkit.markdown_to_html(text))
        done.set()

    for text in ("[a" * 100_000, "[a](http://x" * 16_000):
        done = threading.Event()
        out: list[str] = []
        threading.Thread(target=render, args=(text, out, done), daemon=True).start()
        assert done.wait(20), f"formatting 200 KB of {text[:12]!r} did not finish in 20 s"
        assert out == [html.escape(text, quote=False)]  # no link in either


def test_markdown_links_keep_their_form() -> None:
    cases = {
        "see [the docs](https://x.example/a?b=1) now": 'see <a href="https://x.example/a?b=1">the docs</a> now',
        "[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) ok":
            '<a href="https://en.wikipedia.org/wiki/Foo_(bar)">Foo</a> ok',
        "[a [b](http://c.example)": '[a <a href="http://c.example">b</a>',
        "[x](http://a.example) and [y](https://b.example/)":
            '<a href="http://a.example">x</a> and <a href="https://b.example/">y</a>',
        "[no](ftp://x.example) [open](https://x.example": "[no](ftp://x.example) [open](https://x.example",
    }
    for markdown, expected in cases.items():
        assert botkit.markdown_to_html(markdown) == expected


def _duration(ogg: bytes) -> float:
    with av.open(io.BytesIO(ogg)) as c:
        stream = c.streams.audio[0]
        assert stream.codec_context.name == "opus" and stream.codec_context.sample_rate == 48000
        return sum(float(f.samples) / 48000 for f in c.decode(audio=0))


def test_wav_and_mp3_become_voice_notes() -> None:
    wav = espeak_wav("convert me to a voice note")
    ogg = botkit.to_ogg_opus(wav, "audio/wav")
    assert ogg is not None and botkit.is_ogg_opus(ogg)
    seconds = _duration(ogg)
    assert seconds > 1.0
    mp3_buf = io.BytesIO()
    with av.open(io.BytesIO(wav)) as src, av.open(mp3_buf, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=22050)
        for frame in src.decode(audio=0):
            for packet in stream.encode(frame):  # type: ignore[attr-defined]
                out.mux(packet)
        for packet in stream.encode(None):  # type: ignore[attr-defined]
            out.mux(packet)
    ogg2 = botkit.to_ogg_opus(mp3_buf.getvalue(), "audio/mpeg")
    assert ogg2 is not None and abs(_duration(ogg2) - seconds) < 0.3
    assert botkit.to_ogg_opus(ogg, "audio/ogg") is ogg  # already a voice note: untouched


def test_undecodable_audio_is_none() -> None:
    assert botkit.to_ogg_opus(b"FAKEAUDIO:hello", "audio/mpeg") is None


def test_safe_error_hides_secrets() -> None:
    err = RuntimeError("GET https://api.example/bot123:SECRET-abc/getMe failed: Bearer xoxb-1234567890")
    text = botkit.safe_error(err, "123:SECRET-abc")
    assert "SECRET-abc" not in text and "xoxb-1234567890" not in text and text.startswith("RuntimeError: ")


def test_thread_history_block() -> None:
    assert botkit.thread_history([]) == ""
    assert botkit.thread_history([("bob", " hi "), ("amy", "  ")]) == (
        "<!--MAGEC_THREAD_HISTORY:\n[bob]: hi\n:MAGEC_THREAD_HISTORY-->\n"
    )


async def test_conversation_locks_are_dropped_once_nobody_holds_or_waits() -> None:
    # every Slack/Discord mention is a new conversation: a lock kept per conversation forever
    # grows the bot's memory for as long as it runs
    locks = botkit.ConversationLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def turn(conv: str, tag: str) -> None:
        async with locks.hold(conv):
            order.append(tag)
            await release.wait()

    tasks = [asyncio.create_task(turn(f"C1:{i}", f"{i}")) for i in range(500)]
    tasks += [asyncio.create_task(turn("C1:0", "0-second")), asyncio.create_task(turn("C1:1", "1-second"))]
    await asyncio.sleep(0)
    assert len(locks) == 500 and "0-second" not in order  # one conversation's messages run in order
    holder = asyncio.create_task(turn("C2", "holder"))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(turn("C2", "never"))
    await asyncio.sleep(0)
    waiter.cancel()  # cancelled while waiting: the holder still has the lock
    await asyncio.sleep(0)
    assert waiter.cancelled() and len(locks) == 501
    release.set()
    await asyncio.gather(*tasks, holder)
    assert "never" not in order
    assert order.index("0-second") > order.index("0") and order.index("1-second") > order.index("1")
    assert len(locks) == 0


def test_response_modes_keep_only_overrides_and_stay_bounded() -> None:
    modes = botkit.ResponseModes("text", cap=3)
    modes.set("a", "text")  # the default: nothing to remember
    assert len(modes) == 0 and modes.get("a") == "text"
    modes.set("a", "voice")
    modes.set("a", "text")  # back to the default drops it
    assert "a" not in modes and len(modes) == 0
    for conv in "bcde":
        modes.set(conv, "both")
    assert len(modes) == 3 and "b" not in modes and modes.get("e") == "both"  # the oldest went first
    modes.reset("e")
    assert modes.get("e") == "text" and len(modes) == 2
