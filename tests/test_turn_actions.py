"""Call actions and keyed digits in the turn state machine (pure): carried out once heard, recorded."""

from __future__ import annotations

from agent.dialog.actions import LookUp, SendDigits, Transfer
from agent.dialog.base import Message
from agent.frames import ActionRequested, ActionResult, DtmfEvent, PlayoutProgress
from agent.turn.actions import (
    Action,
    CarryOut,
    EndCall,
    Greet,
    PlayoutCleared,
    StartReply,
    WriteAction,
    WriteTimeline,
    WriteTranscript,
)
from agent.turn.machine import TRANSFER_FAILED, State, TurnMachine
from tests.test_turn_machine import Clock, final, machine, of, say_reply, started, state

DESK = Transfer("sip:desk@127.0.0.1", "the front desk")


def _transfer_heard() -> tuple[TurnMachine, Clock, list[Action]]:
    m, clock = machine()
    start = started(m.on_frame(final("can I speak to someone")))
    assert m.on_frame(ActionRequested(start.reply, DESK)) == []
    actions = say_reply(m, start.reply, ["Of course, please hold."])
    assert not of(actions, CarryOut)  # not before the caller heard it
    clock.now = 104.0
    done = m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, 103.0))
    return m, clock, done


def test_a_transfer_is_carried_out_once_heard_and_the_leg_ends_when_it_succeeds() -> None:
    m, clock, done = _transfer_heard()
    assert of(done, CarryOut) == [CarryOut(DESK)] and state(m) is State.TRANSFERRING
    (requested,) = of(done, WriteAction)
    assert requested.record == {"action": "transfer", "target": DESK.target, "who": "the front desk",
                                "result": "requested"}
    (timeline,) = of(done, WriteTimeline)
    assert timeline.record["actions"] == [{"action": "transfer", "target": DESK.target, "who": "the front desk"}]
    heard = m.on_frame(final("hello?", t=105.0))  # not a turn while being put through, but in the records
    assert [(t.role, t.text) for t in heard if isinstance(t, WriteTranscript)] == [("user", "hello?")]
    assert len(heard) == 1 and m.history[-1] == Message("user", "hello?")
    result = m.on_frame(ActionResult(DESK, True, "200 OK"))
    assert result[0] == WriteAction({"action": "transfer", "target": DESK.target, "who": "the front desk",
                                     "result": "200 OK", "ok": True}, clock.now)
    assert result[1:] == [EndCall(f"transferred to {DESK.target}")] and state(m) is State.GOODBYE


def test_a_refused_transfer_is_said_and_the_call_goes_on() -> None:
    m, _clock, _done = _transfer_heard()
    result = m.on_frame(ActionResult(DESK, False, "603 Decline"))
    (written,) = of(result, WriteAction)
    assert written.record["result"] == "603 Decline" and written.record["ok"] is False
    (greet,) = of(result, Greet)
    assert greet.text == TRANSFER_FAILED and not of(result, EndCall)
    assert isinstance(started(m.on_frame(final("ok, what are your hours", t=110.0))), StartReply)


def test_a_reply_talked_over_loses_its_actions() -> None:
    m, _ = machine()
    start = started(m.on_frame(final("front desk please")))
    m.on_frame(ActionRequested(start.reply, DESK))
    say_reply(m, start.reply, ["Of course, I will put you through now, please hold."])
    cut = m.on_frame(PlayoutCleared(start.reply, (PlayoutProgress((start.reply, 0), 10, 100, 102.5),), 400))
    assert not of(cut, CarryOut)
    (dropped,) = of(cut, WriteAction)
    assert dropped.record["result"].startswith("dropped") and state(m) is State.INTERRUPTED


def test_facts_looked_up_are_recorded_and_digits_are_sent() -> None:
    m, _ = machine()
    start = started(m.on_frame(final("when do you open")))
    m.on_frame(ActionRequested(start.reply, LookUp("Hours", ("Hours, Monday: closed",))))
    m.on_frame(ActionRequested(start.reply, SendDigits("12#")))
    say_reply(m, start.reply, ["We open at noon."])
    done = m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, 103.0))
    assert [w.record["action"] for w in of(done, WriteAction)] == ["look_up", "send_digits"]
    assert of(done, CarryOut) == [CarryOut(SendDigits("12#"))] and state(m) is State.LISTENING
    (sent,) = m.on_frame(ActionResult(SendDigits("12#"), True, "sent"))
    assert isinstance(sent, WriteAction) and sent.record["ok"] and state(m) is State.LISTENING


def test_keyed_digits_are_a_turn_at_hash_or_after_a_pause() -> None:
    m, clock = machine()
    for digit in "4711":
        assert m.on_frame(DtmfEvent(digit, t=clock.now)) == []
    start = started(m.on_frame(DtmfEvent("#", t=clock.now)))
    assert start.text == "4711" and m.history[-1].text == "4711"
    say_reply(m, start.reply, ["Thank you."])
    m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, 103.0))
    m.on_frame(DtmfEvent("9", t=clock.now))
    assert m.tick() == []
    clock.now += 3.1
    assert started(m.tick()).text == "9"


def test_hash_alone_still_ends_the_call() -> None:
    m, _ = machine()
    assert m.on_frame(DtmfEvent("#")) == [EndCall("caller pressed #")]


def test_digits_keyed_over_a_reply_are_a_turn_once_it_ends() -> None:
    m, clock = machine()
    start = started(m.on_frame(final("what is my booking")))
    say_reply(m, start.reply, ["Please key your booking number."])
    for digit in "42#":
        assert m.on_frame(DtmfEvent(digit, t=clock.now)) == []  # the agent is still speaking
    clock.now += 5.0
    assert m.tick() == []
    m.on_frame(PlayoutProgress((start.reply, 0), 50, 50, 103.0))
    assert started(m.tick()).text == "42"
