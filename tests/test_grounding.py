"""The grounding guard: claims a model reply makes that the facts do not hold are never said."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from agent.dialog.actions import Decision
from agent.dialog.base import Brain, Message
from agent.dialog.facts import example_facts_path, load_facts
from agent.dialog.grounding import Guard, numbers_in
from agent.dialog.receptionist import Receptionist

FACTS = load_facts(example_facts_path())


class Says(Brain):
    """Stands in for the model: says ``text``, two characters at a time (words split across deltas)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.closed = False

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str]:
        try:
            for i in range(0, len(self.text), 2):
                yield self.text[i:i + 2]
        finally:
            self.closed = True


def hear(model_says: str, question: str, can_transfer: bool = True) -> tuple[str, list[Decision], Says]:
    model = Says(model_says)
    brain = Receptionist(model, FACTS, can_transfer=can_transfer).for_call()
    out = list(brain.reply([], question, threading.Event()))
    return "".join(d for d in out if isinstance(d, str)), [d for d in out if isinstance(d, Decision)], model


@pytest.mark.parametrize(("question", "reply"), [
    ("Can we have lunch on Saturday?", "On Saturday we are open from 12 noon to 10:30 pm."),
    ("Is there a lunch menu on Wednesday?", "From Tuesday to Friday, lunch is from 12 noon to 2:30 pm."),
    ("How much is the corkage?", "Corkage is ten pounds a bottle."),
    ("How much is a three course lunch?", "The set lunch with three courses is 20 pounds."),
    ("How many people can the front desk seat?", "For more than 8 people, the manager books the table."),
    ("Where are you?", "We are at 14 Harbour Street in Brighton, near Queen's Road."),
    ("What is your phone number?", "Our number is 01273 555 019."),
    ("What is your address?", "The address of Trattoria Bella is 14 Harbour Street, Brighton, BN1 2AB."),
    ("How late can we come for dinner on Sunday?", "On Sunday we close at nine in the evening."),
    ("Are you open now?", "Yes, it is 5:10 pm on Sunday and we are open until 9 pm."),
])
def test_a_reply_the_facts_support_is_said_whole(question: str, reply: str) -> None:
    if "now" in question:
        brain = Receptionist(Says(reply), FACTS, clock=lambda: 1764436200.0).for_call()  # 29 Nov 2025, 17:10
        out = list(brain.reply([], question, threading.Event()))
        said, decided = "".join(d for d in out if isinstance(d, str)), [d for d in out if isinstance(d, Decision)]
    else:
        said, decided, _model = hear(reply, question)
    assert said == reply and decided == []


@pytest.mark.parametrize(("question", "reply", "kind", "said"), [
    ("How much is the corkage?", "Corkage is 12 pounds a bottle.",
     "number", "Corkage is — sorry, to be exact: Corkage, 10 pounds a bottle."),
    ("How much does a pizza cost?", "A pizza costs from eleven to nineteen pounds.",
     "number", "A pizza costs from eleven to — sorry, to be exact: Pizza, from 11 to 16 pounds."),
    ("Where can I park my car?", "You can park on Kings Street, two minutes away.",
     "name", "You can park on — sorry, to be exact: Five minutes' walk from Brighton station"),
    ("How much is the set lunch?", "13 pounds.", "number", "Set lunch, two courses, 16 pounds."),
])
def test_a_claim_the_facts_do_not_hold_is_cut_and_the_fact_said_instead(question: str, reply: str, kind: str,
                                                                     said: str) -> None:
    heard, decided, model = hear(reply, question)
    assert heard.startswith(said), heard
    assert [d.kind for d in decided] == [kind] and decided[0].by == "guard"
    assert model.closed  # the model was stopped


def test_a_no_to_what_the_facts_hold_is_cut_and_the_fact_said_instead() -> None:
    heard, decided, model = hear("No, we do not have vegan food.", "Do you have vegan pizza?")
    assert heard == "Vegetarian dishes are marked on the menu; vegan pizza and pasta are available."
    assert [d.kind for d in decided] == ["no"] and model.closed
    # a "No" the facts give (they say "no cheques") is the model's to say
    heard, decided, _model = hear("No, we take cards and cash.", "Can I pay by cheque?")
    assert heard == "No, we take cards and cash." and decided == []


def test_a_name_written_another_way_is_the_facts_name() -> None:
    guard = Guard("Facilities, wifi: Free wifi in every room", "Is there internet?", "Facilities, wifi: Free wifi")
    said = guard.feed("Yes, there is free Wi-Fi in every room.") + guard.finish()
    assert said == "Yes, there is free Wi-Fi in every room."
    assert guard.slip is None


def test_another_day_than_the_one_asked_about_is_cut() -> None:
    """(The hours on a day are answered by rule; the guard still reads a model reply about a day.)"""
    guard = Guard(FACTS.describe(), "What time do you open on Saturday?", "Hours, Saturday: 12 noon to 10:30 pm")
    assert guard.feed("We close on Sunday at 9 pm.") == "We close on" and guard.slip is not None
    assert guard.slip.kind == "day"


def test_with_no_fact_to_say_the_guard_says_it_does_not_know() -> None:
    guard = Guard(FACTS.describe(), "Is the wine list long?")
    assert guard.feed("We have 40 wines") == "We have" and guard.slip is not None
    assert Guard(FACTS.describe(), "How much is the corkage?", "Corkage: 10 pounds").feed("It is 12 pounds ") == "It is"
    heard, decided, _model = hear("Yes, about 40 of them.", "What about it?")
    assert decided and heard.endswith("I don't have that information. I can put you through to the front desk, "
                                      "if you like.")


def test_numbers_in_words_and_digits() -> None:
    assert numbers_in("10:30 pm, twelve pounds, twenty-one, half past ten, £16") == {10, 30, 12, 21, 16}
    assert numbers_in("the one on the left") == set()


def test_a_yes_to_what_the_facts_deny_is_cut_and_the_fact_said_instead() -> None:
    heard, decided, model = hear("Yes, you can pay by cheque.", "Can I pay by cheque?")
    assert "cheque" in heard.lower() and not heard.startswith("Yes") and "no cheques" in heard.lower(), heard
    assert [d.kind for d in decided] == ["yes"] and model.closed


@pytest.mark.parametrize(("reply", "said"), [
    ("Yes, vegan pizza and pasta are available.", "Yes, vegan pizza and pasta are available."),
    ("Yes, it is marked on the menu.", "Yes, it is marked on the menu."),  # held, then vouched for
])
def test_a_yes_that_goes_on_to_say_what_the_facts_hold_is_said_whole(reply: str, said: str) -> None:
    heard, decided, _model = hear(reply, "Do you have vegan pizza?")
    assert heard == said and decided == []


@pytest.mark.parametrize("reply", ["Yes, we have vegan food.", "Yes", "Yes, of course. Anything else?",
                                   "Yes, we do! It is marked on the menu."])  # the first sentence must say it
def test_a_yes_that_says_nothing_the_facts_hold_is_not_said(reply: str) -> None:
    """("Do you accept pets?" "Yes, the hotel accepts pets." when the facts say only dogs are welcome.)"""
    heard, decided, model = hear(reply, "Do you have vegan food?")
    assert not heard.startswith("Yes"), heard
    assert "vegan pizza and pasta are available" in heard
    assert [d.kind for d in decided] == ["yes"]


def test_a_yes_is_held_only_for_a_yes_no_question() -> None:
    guard = Guard(FACTS.describe(), "How much is the corkage?", "Prices, Corkage: 10 pounds a bottle")
    assert guard.feed("Yes, it is ") == "Yes, it is" and guard.slip is None


def test_a_yes_the_facts_say_in_the_question_s_own_words_is_said_at_once() -> None:
    """("Do you have vegan pizza?": "... vegan pizza and pasta are available"): nothing to wait for."""
    heard, decided, _model = hear("Yes, we have vegan pizza.", "Do you have vegan pizza?")
    assert heard == "Yes, we have vegan pizza." and decided == []
    guard = Guard(FACTS.describe(), "Do you have vegan food?", "Menu, vegan: vegan pizza and pasta are available",
                  support=frozenset({"pizza", "pasta"}))
    assert guard.feed("Yes, we ") == ""  # held: nothing yet says what the facts hold
    assert guard.feed("have pizza ") == "Yes, we have pizza" and guard.slip is None


def test_a_yes_cut_is_followed_by_the_fact_that_says_the_question_s_words() -> None:
    """The vet's facts: "pay" stands for "check" too, and vaccinations come with a yearly health check; the
    fact said instead of a bare "Yes" to "Can I pay by card?" is the one about paying by card."""
    from agent.dialog.facts import load_facts
    from tests.agent_proc import REPO
    vet = load_facts(REPO / "agent" / "tools" / "bench" / "businesses" / "vet.toml")
    model = Says("Yes, you can pay by card.")
    out = list(Receptionist(model, vet, can_transfer=True).for_call().reply([], "Can I pay by card?",
                                                                            threading.Event()))
    said = "".join(d for d in out if isinstance(d, str))
    assert "by card or cash" in said and "Vaccinations" not in said, said


CALL_FACTS = (("Your booking", "date", "Friday 11 December"), ("Your booking", "time", "8 pm"),
              ("Your booking", "people", "4"), ("Your booking", "name", "Peter Jones"))


class Sees(Says):
    """:class:`Says`, keeping what the model was given."""

    seen = ""

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str]:
        self.seen = user_text
        yield from super().reply(history, user_text, cancel, unsure)


@pytest.mark.parametrize("question", ["What time is my booking?", "What time is the table for?",
                                      "How many people is it for?", "What name is it under?",
                                      "Oh yes what time is my bookings?"])
def test_an_outbound_calls_own_facts_are_the_models_and_ground_its_reply(question: str) -> None:
    """A call's own facts (``POST /v1/calls`` ``facts``) start the model's view of every turn, a question about
    them goes to the model (not to the booking or hours rules), and its reply from them is said whole; the
    shared brain's other calls never see them, and the same reply there is cut."""
    reply = "Your table for 4 is on Friday 11 December at 8 pm, in the name of Peter Jones."
    shared = Receptionist(Sees(reply), FACTS)
    greeting = [Message("assistant", "Hello, this is Trattoria Bella, calling about your table on Friday.")]
    out = list(shared.for_call("", CALL_FACTS).reply(greeting, question, threading.Event()))
    said = "".join(d for d in out if isinstance(d, str))
    assert said == reply, out
    assert not any(isinstance(d, Decision) for d in out), out
    model = shared.inner
    assert isinstance(model, Sees)
    assert "Your booking, time: 8 pm" in model.seen, model.seen
    if "my" in question.split():  # the caller's own: only the call's facts, not the business's policy on bookings
        assert "Policies" not in model.seen, model.seen
    other = list(shared.for_call().reply(greeting, question, threading.Event()))
    assert "".join(d for d in other if isinstance(d, str)) != reply, other


def test_a_word_of_a_calls_own_facts_misheard_is_asked_back_as_theirs() -> None:
    """"What time is my boking?" (Whisper, over SIP) on a call about a booking: asked back as the call's
    "booking" (the business's facts have only "bookings"), and "Yes." gives the model the call's facts."""
    model = Sees("Your booking is for 8 pm.")
    brain = Receptionist(model, FACTS).for_call("", CALL_FACTS)
    history = [Message("assistant", "Hello, this is Trattoria Bella, calling about your booking on Friday.")]
    out = list(brain.reply(history, "Oh yes, what time is my boking?", threading.Event()))
    back = "".join(d for d in out if isinstance(d, str))
    assert back == "Sorry, did you ask about booking?", out
    history += [Message("user", "Oh yes, what time is my boking?"), Message("assistant", back)]
    out = list(brain.reply(history, "Yes.", threading.Event()))
    assert "".join(d for d in out if isinstance(d, str)) == "Your booking is for 8 pm.", out
    assert "Your booking, time: 8 pm" in model.seen and "Policies" not in model.seen, model.seen


def test_an_outbound_calls_own_facts_leave_the_business_rules_be() -> None:
    """On a call with its own facts, a question about the business is answered as on any other call."""
    brain = Receptionist(Says("(the model)"), FACTS).for_call("", CALL_FACTS)
    out = list(brain.reply([], "What time do you open on Friday?", threading.Event()))
    assert [d.kind for d in out if isinstance(d, Decision)] == ["hours"], out
    out = list(brain.reply([], "Can I book another table for Saturday?", threading.Event()))
    assert [d.kind for d in out if isinstance(d, Decision)] == ["booking"], out
