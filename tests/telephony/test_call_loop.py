"""The call loop's clock: absolute 20 ms deadlines, no drift, restart after a stall."""

from __future__ import annotations

import numpy as np

from tests.runtime.call_harness import FakeClock
from voicebot.telephony.call_loop import TICK_NS, Pacer, StereoRecorder


def test_work_time_does_not_accumulate_into_drift() -> None:
    clock = FakeClock(1_000_000_000)
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    start = clock.ns
    for n in range(1, 501):
        clock.ns += 7_000_000 + (n % 5) * 2_000_000  # 7..15 ms of work per tick
        assert pacer.wait()
        assert clock.ns == start + n * TICK_NS  # every tick starts exactly on its deadline
    assert pacer.late == 0


def test_a_late_tick_is_caught_up_without_shifting_the_schedule() -> None:
    clock = FakeClock(1_000_000_000)
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    start = clock.ns
    clock.ns += 50_000_000  # one 50 ms tick
    assert pacer.wait()
    assert pacer.wait()  # tick 2 is also overdue: no sleep
    assert pacer.wait() and clock.ns == start + 3 * TICK_NS
    assert pacer.late == 2 and pacer.resyncs == 0


def test_a_long_stall_restarts_the_schedule() -> None:
    clock = FakeClock(1_000_000_000)
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    clock.ns += 400_000_000  # e.g. synthesizing a dynamic prompt
    assert not pacer.wait()
    restarted = clock.ns
    assert pacer.wait() and clock.ns == restarted + TICK_NS
    assert pacer.resyncs == 1 and 370 < pacer.last_stall_ms < 390


def test_a_sleep_that_overshoots_does_not_accumulate_into_drift() -> None:
    # The OS wakes the loop late (0-3 ms here, more under load): each next sleep is shortened by the overshoot,
    # so after 500 ticks the schedule is where it started plus 500 periods, not plus the sum of the overshoots.
    # (This replaces a real-clock test that asserted wall time, which no shared machine can promise; the real
    # figures are measured in bench/sip_load.py: drift +0.1 ms at 20 calls, docs/benchmarks.md.)
    import random

    clock = FakeClock(1_000_000_000)
    rng = random.Random(8)

    def late_sleep(seconds: float) -> None:
        clock.ns += int(seconds * 1e9) + rng.randrange(3_000_000)

    pacer = Pacer(clock=clock, sleep=late_sleep)
    start = clock.ns
    overshoot_total = 0
    for n in range(1, 501):
        clock.ns += (n % 4) * 2_000_000  # uneven work
        before = clock.ns
        assert pacer.wait()
        deadline = start + n * TICK_NS
        assert clock.ns >= deadline  # never early
        overshoot_total += clock.ns - max(before, deadline)
        assert clock.ns - deadline < 3_000_000 + 6_000_000  # late by at most this tick's overshoot and work
    assert overshoot_total > 100_000_000  # the overshoots added up to far more than one period...
    assert clock.ns - (start + 500 * TICK_NS) < TICK_NS  # ...and none of it stayed in the schedule
    assert pacer.resyncs == 0


def test_stereo_recording_has_caller_left_ivr_right(tmp_path: object) -> None:
    import wave
    from pathlib import Path

    path = Path(str(tmp_path)) / "rec" / "call.wav"
    recorder = StereoRecorder(path)
    left = np.full(160, 1000, dtype=np.int16)
    right = np.full(160, -2000, dtype=np.int16)
    recorder.write(left, right)
    recorder.close()
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()) == (2, 2, 8000, 160)
        frames = np.frombuffer(wav.readframes(160), dtype="<i2").reshape(-1, 2)
    assert (frames[:, 0] == 1000).all() and (frames[:, 1] == -2000).all()


class ScriptedChannel:
    """A channel without SIP: silence in, frames kept, keys never; records whether it was hung up."""

    caller_id = "+15550100001"
    dialled = "1000"

    def __init__(self) -> None:
        import threading

        self.written: list[np.ndarray] = []
        self.hung_up = False
        self.end_requested = threading.Event()  # the endpoint's shutdown hook

    @property
    def ended(self) -> bool:
        return False

    def read_frame(self) -> np.ndarray | None:
        return None

    def write_frame(self, frame: np.ndarray) -> None:
        self.written.append(frame)
        if len(self.written) == 25:
            self.end_requested.set()  # the service starts shutting down half a second into the call

    def keys(self) -> str:
        return ""

    def hang_up(self) -> None:
        self.hung_up = True


def test_a_shutdown_request_plays_the_goodbye_then_hangs_up(tmp_path: object) -> None:
    from pathlib import Path

    from tests.runtime.call_harness import ROOT
    from voicebot.asr.fake import FakeRecognizer
    from voicebot.audio.pcm import PHONE_RATE
    from voicebot.runtime.app import open_services
    from voicebot.runtime.call import GOODBYE
    from voicebot.runtime.pools import Executors
    from voicebot.storage.seed import seed_demo
    from voicebot.telephony.call_loop import run_call
    from voicebot.tts.cache import PromptCache
    from voicebot.tts.fake import FakeSynthesizer

    folder = Path(str(tmp_path))
    services = open_services(database_url=f"sqlite:///{folder}/loop.db", spool_dir=folder / "spool")
    seed_demo(services.engine)
    services.use_prompts(PromptCache(folder / "prompts", FakeSynthesizer(sample_rate=PHONE_RATE), rate=PHONE_RATE))
    call = services.new_call(services.load(ROOT / "flows" / "banking.yaml"), recognizer=FakeRecognizer([]),
                             executors=Executors.inline())
    channel = ScriptedChannel()
    result = run_call(channel, call)
    assert result.ended_by == "shutdown" and channel.hung_up
    said = [e.data["text"] for e in result.events if e.kind == "prompt"]
    assert said[-1] == GOODBYE
    goodbye = services.prompts().render(GOODBYE)
    heard = np.concatenate(channel.written)
    assert np.array_equal(heard[-len(goodbye):], goodbye)  # the goodbye was the last thing the caller heard
    record = services.store.get_call(result.call_id)
    assert record is not None and record.ended_at is not None
