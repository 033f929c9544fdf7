"""The `local` chat type stops a reply that loops (a tiny model repeating a sentence) and keeps one
copy of it: the demo agent answered "remember my name" with 1,024 tokens of one sentence."""

from __future__ import annotations

from magec.backends.local.chat import LocalChat, loop_start


def test_a_sentence_repeated_three_times_is_cut_to_one() -> None:
    reply = "Nice to meet you, Ada. " + "I will remember that your name is Ada. " * 3
    cut = loop_start(reply)
    assert cut is not None and reply[:cut] == "Nice to meet you, Ada. I will remember that your name is Ada."


def test_a_repeated_paragraph_with_newlines_is_a_loop_too() -> None:
    para = "Step one: open the door.\nStep two: walk in.\n"
    text = "Sure!\n" + para * 3
    cut = loop_start(text)
    assert cut is not None and text[:cut] == "Sure!\n" + para.rstrip("\n")


def test_ordinary_text_and_short_repeats_are_not_loops() -> None:
    assert loop_start("ha ha ha ha ha ha ha") is None  # a short unit is ordinary text
    assert loop_start("1, 1, 1, 1, 1, 1") is None
    assert loop_start("The answer is 42. The question is unknown. The answer is 42.") is None  # twice is fine
    assert loop_start("") is None


def test_generation_defaults_keep_a_tiny_model_short() -> None:
    chat = LocalChat(model="")
    assert chat.default_max_tokens == 512 and chat.default_repeat_penalty > 1.0
