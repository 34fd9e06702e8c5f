"""What the caller hears: prompts in order, played-to-the-end marks, barge-in, hold audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voicebot.audio.pcm import PHONE_RATE
from voicebot.runtime.playout import FRAME, Playout, PromptEnd
from voicebot.runtime.pools import INLINE
from voicebot.tts.cache import PromptCache
from voicebot.tts.fake import FakeSynthesizer


def playout(tmp_path: Path) -> Playout:
    return Playout(PromptCache(tmp_path / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE),
                   INLINE)


def drain(out: Playout, limit: int = 5000) -> tuple[np.ndarray, list[PromptEnd]]:
    frames, ends = [], []
    while out.speaking and limit:
        frame, finished = out.next_frame()
        frames.append(frame)
        ends += finished
        limit -= 1
    return np.concatenate(frames), ends


def test_prompts_play_in_order_and_each_is_marked_played_at_its_end(tmp_path: Path) -> None:
    out = playout(tmp_path)
    tone = np.full(FRAME * 3 + 7, 1000, dtype=np.int16)
    first = out.say("Hello there.", "greet")
    second = out.play(tone, "jingle")
    assert (first, second) == (1, 2) and out.speaking
    audio, ends = drain(out)
    assert [(e.seq, e.node) for e in ends] == [(1, "greet"), (2, "jingle")]
    assert out.was_played(1) and out.was_played(2) and not out.speaking
    spoken = len(out.prompts.render("Hello there."))
    assert np.array_equal(audio[spoken:spoken + len(tone)], tone)  # the recording follows the prompt exactly


def test_a_prompt_ending_on_a_frame_boundary_is_over_with_that_frame(tmp_path: Path) -> None:
    out = playout(tmp_path)
    out.play(np.full(FRAME * 2, 500, dtype=np.int16))
    out.next_frame()
    _frame, ends = out.next_frame()
    assert [e.seq for e in ends] == [1] and not out.speaking


def test_barge_in_cancels_what_is_queued_and_it_never_counts_as_played(tmp_path: Path) -> None:
    out = playout(tmp_path)
    out.say("This is a long prompt that the caller interrupts.")
    out.say("And this one is never heard.")
    for _ in range(5):
        out.next_frame()
    out.cancel()
    assert not out.speaking
    frame, ends = out.next_frame()
    assert ends == [] and not np.abs(frame).any()
    assert not out.was_played(1) and not out.was_played(2)


def test_cancel_tells_which_prompt_was_heard_in_part(tmp_path: Path) -> None:
    out = playout(tmp_path)
    two_frames = np.full(FRAME * 2, 700, dtype=np.int16)
    out.play(two_frames)
    assert out.cancel() is None  # nothing played yet: nothing heard
    first = out.play(two_frames)
    second = out.play(two_frames)
    out.next_frame()
    out.next_frame()
    assert out.was_played(first) and out.cancel() is None  # the first ended with the frame, the second not begun
    third = out.play(two_frames)
    out.next_frame()
    assert out.cancel() == third and not out.was_played(third) and not out.was_played(second)


def test_hold_audio_loops_under_no_prompt_and_stops_when_asked(tmp_path: Path) -> None:
    out = playout(tmp_path)
    clip = np.arange(1, 401, dtype=np.int16)  # 2.5 frames: the loop wraps inside a frame
    out.hold(clip)
    assert out.holding and not out.speaking  # hold audio is not a prompt to listen after
    audio = np.concatenate([out.next_frame()[0] for _ in range(5)])
    assert np.array_equal(audio, np.tile(clip, 2))
    out.say("Your call is important to us.")  # an announcement plays over the hold loop, then it resumes
    announcement, _ends = drain(out)
    assert np.abs(announcement).any()
    assert np.abs(out.next_frame()[0]).any()
    out.stop_hold()
    assert not np.abs(out.next_frame()[0]).any()
