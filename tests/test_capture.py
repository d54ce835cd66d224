"""Taking messages and booking requests: the readers of what callers say, and the dialog, turn by turn."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from agent.dialog.base import Message
from agent.dialog.capture import Capture, CaptureDialog, parse_capture
from agent.dialog.facts import example_facts_path, load_facts, parse_facts
from agent.dialog.values import (
    OpeningHours,
    read_about,
    read_date,
    read_name,
    read_number,
    read_people,
    read_time,
    resolve_time,
    say_number,
    say_time,
)
from agent.errors import ConfigError

MONDAY = datetime.date(2026, 12, 7)
FACTS = load_facts(example_facts_path())
HOURS = OpeningHours.from_facts((f.topic, f.key, f.text) for f in FACTS.facts)
SPECS = parse_capture({"message": {"digits": "10-11"}, "booking": {"what": "a table", "max_people": 8}}, "test")


@pytest.mark.parametrize("said,name", [
    ("It's John Smith", "John Smith"), ("My name is Ann.", "Ann"), ("this is Mary O'Brien speaking", "Mary O'Brien"),
    ("John Smyth, S M I T H", "John Smith"), ("Yes, it's Peter Jones, thanks", "Peter Jones"),
    ("Laura L.A.U.R.A. Taylor.", "Laura Taylor"), ("letter LAURA, Taylor.", "Laura Taylor"),
    ("What are your hours?", None), ("um", None),
    ("Sorry, I'll, thank you. I'll, I'll tell her.", None),  # a spelling not heard as letters
])
def test_names(said: str, name: str | None) -> None:
    assert read_name(said) == name


@pytest.mark.parametrize("said,number,back", [
    ("my number is 01273 555381", "01273555381", "0 1 2 7 3, 5 5 5, 3 8 1"),
    ("oh one two seven three, five five five, three eight one", "01273555381", "0 1 2 7 3, 5 5 5, 3 8 1"),
    ("+44 1273 555381", "+441273555381", "plus 4 4 1, 2 7 3, 5 5 5, 3 8 1"),
    ("No, the number is plus 44163296001.", "+44163296001", "plus 4 4 1, 6 3 2, 9 6 0, 0 1"),
    ("202 555 0143", "2025550143", "2 0 2, 5 5 5, 0 1 4 3"),
    ("00441632960001", "+441632960001", "plus 4 4 1, 6 3 2, 9 6 0, 0 0 1"),  # keyed: 00 for +
])
def test_numbers_are_read_and_said_back_digit_by_digit(said: str, number: str, back: str) -> None:
    assert read_number(said) == number and say_number(number) == back


def test_people_days_and_times() -> None:
    assert read_people("a table for four") == 4 and read_people("just me") == 1 and read_people("two of us") == 2
    assert read_people("six") == 6 and read_people("six", asked=False) is None
    assert read_date("tomorrow", MONDAY) == MONDAY + datetime.timedelta(days=1)
    assert read_date("Friday", MONDAY) == datetime.date(2026, 12, 11)
    assert read_date("next Monday", MONDAY) == datetime.date(2026, 12, 14)
    assert read_date("this Monday", MONDAY) == MONDAY
    assert read_date("the twelfth of January", MONDAY) == datetime.date(2027, 1, 12)
    assert read_date("December 24th", MONDAY) == datetime.date(2026, 12, 24)
    assert read_time("a table for 4 on Friday at 7.30pm", asked=False) == (7, 30, "pm")
    assert read_time("half past seven") == (7, 30, None) and read_time("quarter to eight") == (7, 45, None)
    assert read_time("19:30") == (19, 30, None) and read_time("noon") == (12, 0, "pm")
    assert read_time("for 4 on Friday", asked=False) is None
    friday = HOURS.day_periods(datetime.date(2026, 12, 11))
    assert say_time(resolve_time(7, 30, None, friday)) == "7:30 pm"
    assert say_time(resolve_time(12, 30, None, friday)) == "12:30 pm"


def test_opening_hours_come_from_the_facts() -> None:
    assert HOURS.open_on(MONDAY) is False and HOURS.open_on(datetime.date(2026, 12, 12)) is True
    assert HOURS.open_at(datetime.date(2026, 12, 11), 15 * 60) is False
    assert HOURS.open_at(datetime.date(2026, 12, 11), 19 * 60) is True


def _talk(dialog: CaptureDialog, *turns: str) -> tuple[list[str | None], list[Message]]:
    history = [Message("assistant", "Hello, Trattoria Bella, how can I help you?")]
    replies = []
    for text in turns:
        reply = dialog.reply(history, text)
        replies.append(reply)
        history += [Message("user", text), Message("assistant", reply or "(the model's answer)")]
    return replies, history


def _first_reply(said: str) -> str | None:
    """The capture rules' reply to the caller's first words after the greeting."""
    return _dialog().reply([Message("assistant", "Hello, Trattoria Bella, how can I help you?")], said)


def _dialog(caller: str = "") -> CaptureDialog:
    return CaptureDialog(SPECS, HOURS, FACTS.name, lambda: MONDAY, caller)


def test_a_message_is_asked_for_field_by_field_read_back_and_confirmed() -> None:
    dialog = _dialog()
    replies, history = _talk(dialog, "Can I leave a message?", "John Smith", "0 1 2 7 3 5 5 5 3 8 1",
                             "tell them I'll be late", "yes")
    assert replies[0] == "Of course, I can take a message. Can I have your name, please?"
    assert replies[3] == ("Let me check I have that right: a message from John Smith, on 0 1 2 7 3, 5 5 5, 3 8 1, "
                          "saying: I'll be late. Is that right?")
    (done,) = dialog.replay(history)[1]
    assert done.confirmed and done.record() == {"name": "John Smith", "number": "01273555381", "about": "I'll be late"}


def test_a_booking_takes_what_the_first_words_give_and_checks_the_hours() -> None:
    replies, history = _talk(_dialog(), "Can I book a table for 10 on Monday?", "six", "Monday", "tomorrow", "at 3",
                             "7", "Peter", "555 381", "01273555381", "no", "the name", "Pete Smith", "yes")
    assert replies[0] == ("I can take a booking request for a table. I'm sorry, I can only take requests for up to "
                          "8 people. For how many people?")
    assert replies[1] == "I'm sorry, we're closed on Mondays. For which day?"  # Monday from the first words
    assert replies[2].startswith("I'm sorry, we're closed on Mondays.")  # type: ignore[union-attr]
    assert replies[4] == ("I'm sorry, on Tuesdays we're open 12 noon to 2:30 pm for lunch, and 6 pm to 10 pm for "
                          "dinner. And at what time?")
    assert replies[7].startswith("Sorry, I got 6 digits: 5 5 5, 3 8 1.")  # type: ignore[union-attr]
    assert replies[9] == ("What should I change: the number of people, the day, the time, the name or the number?")
    (done,) = _dialog().replay(history)[1]
    assert done.record() == {"people": 6, "date": "2026-12-08", "time": "19:00", "name": "Pete Smith",
                             "number": "01273555381"}


def test_a_correction_in_the_same_words_as_the_no() -> None:
    replies, history = _talk(_dialog(), "a table for 4 on Friday at 7.30pm please, can I book that?", "Ann",
                             "01273555381", "No, the time should be 8", "no, it's 01632 960123", "yes")
    assert "at 8 pm" in replies[3] and "0 1 6 3 2, 9 6 0, 1 2 3" in replies[4]  # type: ignore[operator]
    (done,) = _dialog().replay(history)[1]
    assert done.confirmed and done.record()["time"] == "20:00" and done.record()["number"] == "01632960123"


def test_the_caller_id_is_offered_when_it_is_a_number() -> None:
    replies, history = _talk(_dialog("+441273555019"), "could someone call me back?", "Ann Lee", "yes please",
                             "about my lost umbrella", "yes")
    assert replies[2] == "And what would you like me to pass on?"
    assert replies[1] == "Shall we call you back on plus 4 4 1, 2 7 3, 5 5 5, 0 1 9, the number you're calling from?"
    assert _dialog("+441273555019").replay(history)[1][0].record()["number"] == "+441273555019"


def test_a_read_back_cut_off_is_read_again_before_a_yes_counts() -> None:
    dialog = _dialog()
    _, history = _talk(dialog, "Can I leave a message?", "John Smith", "01273555381", "running late")
    history[-1] = Message("assistant", "Let me check I have that right: a message", interrupted=True)
    assert dialog.reply(history, "yes").startswith("Let me read it again:")  # type: ignore[union-attr]
    current = dialog.replay([*history, Message("user", "yes")])[0]
    assert current is not None and not current.confirmed


def test_a_question_meanwhile_goes_to_the_model_and_never_mind_drops_it() -> None:
    replies, history = _talk(_dialog(), "Can you call me back?", "What time do you close on Sunday?", "Mary",
                             "never mind")
    assert replies[1] is None and replies[2] is not None and replies[2].startswith("What's the best number")
    assert replies[3] == "All right, I haven't taken anything down. Is there anything else I can help you with?"
    (dropped,) = _dialog().replay(history)[1]
    assert dropped.asking == "dropped"


def test_a_caller_asking_for_a_person_is_not_kept_in_the_capture() -> None:
    replies, history = _talk(_dialog(), "I want to leave a message", "Can I speak to a person please?")
    assert replies[1] is None
    current: Capture | None = _dialog().replay(history)[0]
    assert current is not None and current.asking == "name"


def test_a_call_back_request_of_a_number_alone_is_read_back_as_a_call_back() -> None:
    specs = parse_capture({"message": {"fields": ["number"], "digits": "10-11"}}, "test")
    dialog = CaptureDialog(specs, HOURS, FACTS.name, lambda: MONDAY, "")
    replies, _ = _talk(dialog, "Could someone call me back please?",
                       "two two zero, six five two, two eight eight eight", "yes")
    assert replies[0] == ("Of course, I can take a message. "
                          "What's the best number to call you back on? You can say it, or key it in and press hash.")
    assert replies[1] == "Let me check I have that right: a call back on 2 2 0, 6 5 2, 2 8 8 8. Is that right?"
    assert replies[2] is not None and replies[2].startswith("Thank you. I've passed your message on.")
    replies, _ = _talk(dialog, "Could someone call me back please?", "2206522889", "no")
    assert replies[2] == "Sorry about that. What is the right number?"  # no other field to choose


def test_a_call_back_number_not_heard_goes_to_the_keypad_and_nothing_is_read_back_empty() -> None:
    """A call-back request whose number the recogniser keeps missing ("four eight oh" as "For a code.")."""
    specs = parse_capture({"message": {"fields": ["number"], "digits": "10-11"}}, "test")
    dialog = CaptureDialog(specs, HOURS, FACTS.name, lambda: MONDAY, "")
    replies, history = _talk(dialog, "Could someone call me back please?", "For a code.", "For a code.",
                             "2614723", "4802614723#", "yes")
    assert replies[3] == "Sorry, I'm having trouble hearing the number. Could you key it in and press hash?"
    assert replies[4] == "Let me check I have that right: a call back on 4 8 0, 2 6 1, 4 7 2 3. Is that right?"
    (done,) = dialog.replay(history)[1]
    assert done.confirmed and done.record()["number"] == "4802614723"
    replies, history = _talk(dialog, "Could someone call me back please?", "For a code.", "For a code.",
                             "For a code.", "Sorry, I don't know.")
    assert replies[4] == ("Sorry, I couldn't get the number, so I haven't taken anything down. "
                          "Is there anything else I can help you with?")
    (dropped,) = dialog.replay(history)[1]
    assert dropped.asking == "dropped"


def test_a_number_said_to_be_wrong_and_heard_the_same_way_again_goes_to_the_keypad() -> None:
    """A recogniser that hears a person's number the same wrong way each time ("8 1 2 8" for "8 1 6 8") must not
    read it back again and again; a number wrong twice is keyed too."""
    specs = parse_capture({"message": {"fields": ["number"], "digits": "10-11"}}, "test")
    dialog = CaptureDialog(specs, HOURS, FACTS.name, lambda: MONDAY, "")
    replies, history = _talk(dialog, "Could someone call me back please?", "8835598128.", "No.", "8835598128",
                             "8835598168", "yes")
    assert replies[2] == "Sorry about that. What is the right number?"
    assert replies[3] == "Sorry, I keep hearing the number the same way. Could you key it in and press hash?"
    assert replies[4] == "Let me check I have that right: a call back on 8 8 3, 5 5 9, 8 1 6 8. Is that right?"
    (done,) = dialog.replay(history)[1]
    assert done.confirmed and done.record()["number"] == "8835598168"
    replies, _ = _talk(dialog, "Could someone call me back please?", "62544422028", "No.", "62544220288", "No.")
    assert replies[4] == "Sorry about that. Could you key it in and press hash?"
    replies, _ = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "07911123456", "lost keys", "No.",
                       "The number.", "07911123456")
    assert replies[5] == "What is the right number?"
    assert replies[6] == "Sorry, I keep hearing the number the same way. Could you key it in and press hash?"


def test_a_capture_section_is_checked_line_by_line() -> None:
    facts = parse_facts('name = "X"\n[capture.message]\n[capture.booking]\nwhat = "an appointment"\n'
                        'fields = ["service", "date", "time", "name", "number"]\n[capture.booking.ask]\n'
                        'service = "Which treatment would you like?"\n')
    assert [spec.kind for spec in facts.capture] == ["message", "booking"]
    assert facts.capture[1].question("service") == "Which treatment would you like?"
    assert not [f for f in facts.facts if f.topic.lower() == "capture"]
    for bad, words in [('[capture.callback]\n', "unknown; the agent captures message and booking"),
                       ('[capture.booking]\nfields = ["name", "shoe size"]\n', "unknown field 'shoe size'"),
                       ('[capture.message]\ncolour = "red"\n', "unknown key 'colour'"),
                       ('[capture.message]\ndigits = "3-20"\n', 'digits must be "N-M"'),
                       ('capture = "yes"\n', "[capture] must be a table")]:
        with pytest.raises(ConfigError, match="bad facts file") as error:
            parse_facts(f'name = "X"\n{bad}')
        assert words in str(error.value)


def test_every_bench_dialogue_ends_confirmed_with_its_truth_when_heard_perfectly() -> None:
    """The capture phase's caller talks to the rules in text: what it means is what is taken, in few turns."""
    from agent.tools.bench.capture import DIALOGUES, Person, _truth, field_right

    for dialogue in DIALOGUES:
        dialog = _dialog(dialogue.caller_id)
        person = Person(dialogue, MONDAY)
        history = [Message("assistant", "Hello, Trattoria Bella, how can I help you?")]
        kind, text = "say", dialogue.request
        for _ in range(14):
            said = text.removesuffix("#") if kind == "dtmf" else text
            reply = dialog.reply(history, said)
            assert reply is not None, (dialogue.request, history)
            history += [Message("user", said), Message("assistant", reply)]
            kind, text = person.answer(reply)
            if kind == "done":
                break
        (taken,) = dialog.replay(history)[1]
        turns = sum(m.role == "user" for m in history)
        truth, got = _truth(dialogue, MONDAY), taken.record()
        assert taken.confirmed and set(got) == set(truth), (dialogue.request, history)
        assert all(field_right(name, got[name], truth[name]) for name in truth), (got, truth)
        assert turns <= 8, (dialogue.request, turns)


def _converse(dialog: CaptureDialog, person: Any, request: str, turns: int,
              ear: Callable[[str, str], str] = lambda said, _kind: said) -> list[Message]:
    """A bench caller (``person``) talking to the rules in text, its words heard through ``ear(said, kind)``."""
    history = [Message("assistant", "Hello, Trattoria Bella, how can I help you?")]
    kind, text = "say", request
    for _ in range(turns):
        said = ear(text.removesuffix("#") if kind == "dtmf" else text, kind)
        reply = dialog.reply(history, said)
        assert reply is not None, history
        history += [Message("user", said), Message("assistant", reply)]
        kind, text = person.answer(reply)
        if kind == "done":
            break
    return history


def _mishearing(number: str, times: int) -> Callable[[str, str], str]:
    """An ear that hears ``number`` with its first digits wrong the first ``times`` times it is said."""
    left = [times]

    def ear(said: str, kind: str) -> str:
        if number in said.replace(" ", "").replace(",", "") and kind == "say" and left[0]:
            left[0] -= 1
            return said.replace(say_number(number)[:5], "9 9 9")
        return said

    return ear


class _TextCaller:
    """The demo's caller as far as the dialog sees it: what it says is heard through ``ear``, keyed digits exactly."""

    def __init__(self, dialog: CaptureDialog, ear: Callable[[str, str], str]) -> None:
        self.dialog, self.ear = dialog, ear
        self.keyed: list[str] = []
        self.history = [Message("assistant", "Hello, Trattoria Bella, how can I help you?")]

    def _heard(self, said: str) -> float:
        reply = self.dialog.reply(self.history, said)
        assert reply is not None, self.history
        self.history += [Message("user", said), Message("assistant", reply)]
        return 1.0

    def say(self, text: str) -> float:
        return self._heard(self.ear(text, "say"))

    def send_dtmf(self, digits: str) -> None:
        self.keyed.append(digits)
        self._heard(digits.removesuffix("#"))

    def wait_agent_audio(self, _t: float, _timeout: float) -> float:
        return 2.0

    def wait_agent_quiet(self, _quiet: float, _timeout: float) -> None:
        pass


def test_the_demos_caller_keys_its_number_when_the_agent_asks_for_the_keypad() -> None:
    """``sip-agent demo --message``: its number misheard twice, the agent asks for the keypad; the demo's caller
    keys it (and says what it had not prepared) and the message is confirmed with every digit."""
    from agent.tools.bench.capture import Person
    from agent.tools.demo import _person, converse

    person = _person()
    assert isinstance(person, Person) and person.d.fields["number"] == "01273555381"
    caller = _TextCaller(_dialog(), _mishearing("01273555381", 2))
    turns = converse(caller, person, lambda text: text, lambda: caller.history[-1].text)
    assert caller.keyed == ["01273555381#"], caller.history
    (taken,) = caller.dialog.replay(caller.history)[1]
    assert taken.confirmed and taken.record()["number"] == "01273555381", caller.history
    assert caller.history[-1].text.startswith("Thank you. I've passed your message on."), caller.history
    assert [t["keyed"] for t in turns].count(True) == 1 and all(t["answered"] for t in turns)


def test_the_callback_phase_caller_gives_each_real_persons_number_and_confirms_it() -> None:
    """The callback phase's caller and its numbers, talking to the rules in text: a number misheard once is
    corrected, one misheard twice keyed; the number taken is the recording's."""
    from agent.tools.bench.callback import REQUEST, digits_of, numbers
    from agent.tools.bench.capture import Dialogue, Person

    specs = parse_capture({"message": {"fields": ["number"], "digits": "10-11"}}, "test")
    recordings = numbers(quick=False)
    assert len(recordings) == 12 and len({r.speaker for r in recordings}) == 6
    for misheard in range(3):
        number = digits_of(recordings[misheard].transcript)
        assert len(number) == 10
        dialog, person = CaptureDialog(specs, HOURS, FACTS.name, lambda: MONDAY, ""), Person(
            Dialogue("message", REQUEST, {"number": number}), MONDAY)
        history = _converse(dialog, person, REQUEST, 8, _mishearing(number, misheard))
        (taken,) = dialog.replay(history)[1]
        assert taken.confirmed and taken.record()["number"] == number, history
        assert person.keyed == (misheard == 2), history


def test_a_name_heard_wrong_however_it_is_spelled_is_left_out_and_the_rest_confirmed() -> None:
    """"Laura" heard as "Lord", and its spelling as "LAQRA", every time: a spelling heard as a name the caller said
    was wrong leaves the name out, and the agent says so; the caller (the capture phase's) confirms the rest."""
    from agent.tools.bench.capture import DIALOGUES, Person

    dialogue = DIALOGUES[5]
    assert dialogue.fields["name"] == "Laura Taylor"
    dialog, person = _dialog(dialogue.caller_id), Person(dialogue, MONDAY)
    history = _converse(dialog, person, dialogue.request, 10,
                        lambda said, _kind: said.replace("L, A, U, R, A", "LAQRA").replace("Laura", "Lord"))
    (taken,) = dialog.replay(history)[1]
    assert taken.confirmed and not taken.complete and "name" not in taken.record(), history
    assert any(m.text.startswith("Sorry, I can't make out the name, so I'll leave it out.") for m in history)
    assert sum(m.role == "user" for m in history) <= 10, history  # the capture phase's caller's patience


def test_a_message_heard_the_same_wrong_way_again_is_left_out_and_the_rest_confirmed() -> None:
    dialog = _dialog()
    replies, history = _talk(dialog, "Can I leave a message?", "Laura Taylor", "07911123456",
                             "It's a mental fort when people.", "No, the message is an out of table for 20 people.",
                             "It's an out-a-channel 420 people.", "No, the message is an out-a-channel 420 people.",
                             "It's an out-a-channel 420 people.", "yes")
    assert replies[6] == "Sorry about that. And what would you like me to pass on?"
    assert replies[7] == ("Sorry, I can't make out the message, so I'll leave it out. Let me check I have that right: "
                          "a message from Laura Taylor, on 0 7 9 1 1, 1 2 3, 4 5 6. Is that right?")
    (done,) = dialog.replay(history)[1]
    assert done.confirmed and not done.complete and done.record() == {"name": "Laura Taylor", "number": "07911123456"}


def test_a_correction_heard_as_the_same_value_asks_for_spelling_or_the_keypad() -> None:
    dialog = _dialog()
    replies, history = _talk(dialog, "Can I leave a message?", "Lord Taylor", "07911123456", "a table for twenty",
                             "No, the name is Lord Taylor.", "Laura, L, A, U, R, A, Taylor.", "yes")
    assert replies[4] == "Sorry, I keep hearing the name the same way. Could you spell it for me, letter by letter?"
    assert "a message from Laura Taylor" in replies[5]  # type: ignore[operator]
    (done,) = dialog.replay(history)[1]
    assert done.confirmed and done.record()["name"] == "Laura Taylor"
    replies, _ = _talk(dialog, "Can I leave a message?", "Ann", "07911123456", "lost keys",
                       "No, the number is 07911123456.")
    assert replies[4] == "Sorry, I keep hearing the number the same way. Could you key it in and press hash?"


def test_a_number_said_again_from_its_start_still_short_goes_to_the_keypad() -> None:
    """Digits lost twice (a recogniser dropping a repeated "8 8 8") are not the rest of the number: key it in."""
    replies, _ = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "22065228", "220652288")
    assert replies[3] == ("Sorry, I keep getting 9 digits: 2 2 0, 6 5 2, 2 8 8. Could you key it in and press hash?")
    replies, _ = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "0770090", "0456")
    assert replies[3] == "And what would you like me to pass on?"  # the rest of it: joined


def test_a_number_with_too_few_digits_for_the_business_is_asked_again() -> None:
    replies, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "0770090", "07700900456", "lost keys")
    assert replies[2] == ("Sorry, I got 7 digits: 0 7 7, 0 0 9 0. I need the whole number, with the area code. "
                          "Could you say the whole number again, digit by digit, or key it in and press hash?")
    assert replies[3] == "And what would you like me to pass on?"
    current = _dialog().replay(history)[0]
    assert current is not None and current.values["number"] == "07700900456"


def test_a_number_said_over_two_turns_is_joined_unless_said_again_whole() -> None:
    replies, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "0 1 2 7 3", "5 5 5, 3 8 1")
    assert replies[2].startswith("Sorry, I got 5 digits: 0 1 2, 7 3.")  # type: ignore[union-attr]
    assert replies[3] == "And what would you like me to pass on?"
    current = _dialog().replay(history)[0]
    assert current is not None and current.values["number"] == "01273555381"
    _, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "0 1 2", "7 3 5 5", "5 3 8 1")
    current = _dialog().replay(history)[0]
    assert current is not None and current.values["number"] == "01273555381"
    _, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "plus 4 4", "1 2 7 3 5 5 5 3 8 1")
    current = _dialog().replay(history)[0]
    assert current is not None and current.values["number"] == "+441273555381"
    _, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "0 1 2 7 3", "0 1 6 3 2 9 6 0 1 2 3")
    current = _dialog().replay(history)[0]  # said again whole: not joined
    assert current is not None and current.values["number"] == "01632960123"
    _, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "0 1 2 7 3", "lost keys", "5 5 5 3 8 1")
    current = _dialog().replay(history)[0]  # something else between: not joined
    assert current is not None and "number" not in current.values


def test_a_read_back_answered_unclearly_can_be_answered_on_the_keypad() -> None:
    replies, history = _talk(_dialog(), "Can I leave a message?", "Sarah Miller", "07700900123", "my birthday",
                             "Yes, not slide.", "Yes, not slide.", "1")
    assert replies[4] == "Sorry, I didn't catch that. If I have it all right, press 1. If not, press 2."
    assert replies[5] == replies[4]
    assert replies[6] is not None and replies[6].startswith("Thank you.")
    (done,) = _dialog().replay(history)[1]
    assert done.confirmed
    replies, history = _talk(_dialog(), "Can I leave a message?", "Sarah Miller", "07700900123", "my birthday",
                             "Yes, not slide.", "2", "the number", "07700900124", "yes")
    assert replies[5] == "What should I change: the name, the number or the message?"
    (done,) = _dialog().replay(history)[1]
    assert done.confirmed and done.record()["number"] == "07700900124"
    replies, _ = _talk(_dialog(), "Can I leave a message?", "Sarah Miller", "07700900123", "my birthday", "1")
    assert replies[4] is not None and not replies[4].startswith("Thank you.")  # a 1 not asked for is no yes


def test_a_number_heard_wrong_twice_is_asked_for_on_the_keypad() -> None:
    replies, history = _talk(_dialog(), "Can I leave a message?", "Laura Taylor", "It's 079111123456.",
                             "It's 079111123456.", "07911123456")
    assert replies[2].startswith("Sorry, I got 12 digits")  # type: ignore[union-attr]
    assert replies[3] == ("Sorry, I keep getting 12 digits: 0 7 9, 1 1 1, 1 2 3, 4 5 6. "
                          "Could you key it in and press hash?")
    assert replies[4] == "And what would you like me to pass on?"
    current = _dialog().replay(history)[0]
    assert current is not None and current.values["number"] == "07911123456"
    _, history = _talk(_dialog(), "Can I leave a message?", "Ann Lee", "It's 077 nearly 090456",
                       "It's 077 nearly 009 nearly 0456")
    current = _dialog().replay(history)[0]  # misheard in pieces: not joined into a wrong number
    assert current is not None and "number" not in current.values


@pytest.mark.parametrize("said,booking", [
    ("I want to work a table, please.", True),  # "book", misheard
    ("A table booking, please.", True),
    ("Could I get a table for Friday?", True),
    ("I'd like a table.", True),
    ("Is the table by the window free?", False),
    ("Do you have tables outside?", False),
    ("I'd like to know your opening hours.", False),
])
def test_asking_for_what_the_business_books_is_a_booking_request(said: str, booking: bool) -> None:
    reply = _first_reply(said)
    assert (reply is not None and reply.startswith("I can take a booking request")) is booking, reply


@pytest.mark.parametrize("said,done", [
    ("Yes, I'm right.", True),
    ("Yeah that's it thanks", True),
    ("Yes, not slide.", False),
    ("Yes, but the time is wrong", False),
    ("Yes, what time do you close?", False),
])
def test_a_yes_with_more_words_confirms_the_read_back_unless_they_take_it_back(said: str, done: bool) -> None:
    replies, _ = _talk(_dialog(), "Can I leave a message?", "Sarah Miller", "07700900123", "my birthday", said)
    assert (replies[4] is not None and replies[4].startswith("Thank you.")) is done, replies[4]


@pytest.mark.parametrize("said,message", [
    ("Can I leave my message please?", True),
    ("A message, please.", True),
    ("I'd like a message taken.", True),
    ("I got a message from you earlier.", False),
    ("Did you get my message?", False),
])
def test_asking_to_leave_a_message_in_other_words(said: str, message: bool) -> None:
    reply = _first_reply(said)
    assert (reply is not None and reply.startswith("Of course, I can take a message")) is message, reply


def test_a_message_offered_is_taken_when_the_answer_asks_for_one() -> None:
    from agent.dialog.capture import MESSAGE_OFFER

    history = [Message("assistant", f"I'm sorry, I don't know that. {MESSAGE_OFFER}")]
    assert (_dialog().reply(history, "Can you pay come message?") or "").startswith("Of course")
    assert _dialog().reply(history, "No, no message, thanks.") is None


def test_a_correction_names_the_first_field_of_the_capture_it_names() -> None:
    replies, _ = _talk(_dialog(), "Please ask someone to ring me back.", "Laura Taylor", "07911123456",
                       "It's about a table for 20 people.", "No, the message is about a table for 20 people.")
    assert replies[4] == "Sorry about that. And what would you like me to pass on?"  # not "how many people"


def test_a_time_not_understood_twice_is_asked_for_on_the_keypad() -> None:
    replies, history = _talk(_dialog(), "Can I book a table for 4 on Friday?", "Half past Cameron.",
                             "Half past and run in the evening.", "1930", "Peter Jones")
    assert replies[2] == ("Sorry, I still didn't catch the time. Could you key it in on the 24-hour clock, like "
                          "1 9 3 0 for 7:30 pm, and press hash?")
    current = _dialog().replay(history)[0]
    assert current is not None and current.record()["time"] == "19:30" and current.values["name"] == "Peter Jones"


@pytest.mark.parametrize("said,booking", [
    ("Can I make a information for six people on Sunday?", True),
    ("We'd like to come for four people on Friday at 8", True),
    ("Do you have room for six people on Sunday?", False),
    ("Can I bring a dog?", False),
])
def test_a_request_with_a_party_and_a_day_is_a_booking_request(said: str, booking: bool) -> None:
    reply = _first_reply(said)
    assert (reply is not None and reply.startswith("I can take a booking request")) is booking, reply


@pytest.mark.parametrize("said,people", [("Free people.", 3), ("For people.", 4), ("To people", 2),
                                          ("for four people", 4), ("I don't know", None)])
def test_a_count_heard_as_a_word_that_sounds_like_it_when_asked_how_many(said: str, people: int | None) -> None:
    assert read_people(said, asked=True) == people
    assert read_people("Free people.", asked=False) is None


@pytest.mark.parametrize("said,about", [
    ("Please tell them I will be late.", "I will be late"),
    ("Please tell me I will be late for my table on Friday.", "I will be late for my table on Friday"),
    ("Please tell me when my order is ready.", "Please tell me when my order is ready"),
    ("It's about the deposit for my party.", "The deposit for my party"),
])
def test_what_a_message_says_without_its_lead_in(said: str, about: str) -> None:
    assert read_about(said) == about
