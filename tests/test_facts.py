"""Facts files and the receptionist's rules: pure logic, no model (the model is tested over SIP)."""

from __future__ import annotations

import datetime
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.dialog.actions import Decision, LookUp, Transfer
from agent.dialog.base import Brain, Message
from agent.dialog.facts import example_facts_path, load_facts, parse_facts
from agent.dialog.phrasing import asks_the_time, wants_a_person
from agent.dialog.receptionist import DONT_KNOW, Receptionist, spoken_time
from agent.errors import ConfigError
from tests.agent_proc import REPO, _env

FACTS = load_facts(example_facts_path())
SUNDAY_5PM = datetime.datetime(2026, 11, 29, 17, 10, tzinfo=datetime.UTC).timestamp()


class Echo(Brain):
    """Stands in for the model: says what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.histories: list[list[Message]] = []
        self.prepared: list[list[Message]] = []

    def prepare(self, history: list[Message]) -> None:
        self.prepared.append(history)

    def reply(self, history: list[Message], user_text: str, cancel: threading.Event,
              unsure: tuple[str, ...] = ()) -> Iterator[str]:
        self.asked.append(user_text)
        self.histories.append(history)
        yield f"model: {user_text}"


def answer(brain: Brain, text: str, history: list[Message] | None = None, unsure: tuple[str, ...] = ()) -> str:
    return "".join(d for d in brain.reply(history or [], text, threading.Event(), unsure) if isinstance(d, str))


def actions(brain: Brain, text: str, history: list[Message] | None = None) -> list[object]:
    """The call actions of a reply (not the decisions recorded with it)."""
    return [d for d in brain.reply(history or [], text, threading.Event()) if not isinstance(d, (str, Decision))]


def decisions(brain: Brain, text: str, history: list[Message] | None = None) -> list[Decision]:
    return [d for d in brain.reply(history or [], text, threading.Event()) if isinstance(d, Decision)]


def test_the_example_facts_load_as_prompt_lines() -> None:
    assert FACTS.name == "Trattoria Bella" and FACTS.timezone == "Europe/London"
    text = FACTS.describe()
    assert "Hours, Saturday: 12 noon to 10:30 pm" in text and "Prices, Corkage: 10 pounds a bottle" in text
    assert FACTS.transfer_to.startswith("sip:") and FACTS.transfer_who == "the front desk"


@pytest.mark.parametrize("question", ["Do you do takeaway?", "Is there live music on Friday?",
                                      "How much is a bottle of house wine?", "Is the food spicy?"])
def test_a_question_the_facts_do_not_cover_is_not_sent_to_the_model(question: str) -> None:
    model = Echo()
    reply = answer(Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM), question)
    assert reply.startswith(DONT_KNOW) and model.asked == []


@pytest.mark.parametrize("question", ["Oh, how much is corkage?", "Um, can I bring my dog?",
                                      "Oh yes, and where are you?"])
def test_a_sound_before_the_question_is_no_word_of_substance(question: str) -> None:
    """"Oh", "um": not a topic the facts lack (the question went unanswered: "not in the facts (oh)")."""
    model = Echo()
    reply = answer(Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM), question)
    assert not reply.startswith(DONT_KNOW) and model.asked, reply


@pytest.mark.parametrize(("question", "topic"), [
    ("What are your opening hours?", "Hours, Saturday"),
    ("Where are you located?", "Address"),
    ("Can I bring my dog?", "Policies, dogs"),
    ("How many people can the front desk seat?", "Policies, bookings"),
    ("How much is the set lunch?", "Prices, Set lunch"),
    ("Do you have vegan options?", "Menu, vegetarian"),
])
def test_a_covered_question_goes_to_the_model_with_the_facts_it_is_about(question: str, topic: str) -> None:
    model = Echo()
    answer(Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM), question)
    (asked,) = model.asked
    # the whole topic first (its KV state is kept once per topic), then the caller's words
    assert asked.startswith(f"({topic.split(',')[0]}") and asked.endswith(f")\n{question}") and topic in asked


def test_the_time_comes_from_the_clock_in_the_business_time_zone() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM)
    assert answer(brain, "Can you tell me the time please?") == "It's 5:10 pm on Sunday, 29 November."
    tokyo = Receptionist(model, FACTS, timezone="Asia/Tokyo", clock=lambda: SUNDAY_5PM)
    assert answer(tokyo, "What day is it today?") == "It's 2:10 am on Monday, 30 November."
    answer(brain, "Are you open now?")
    assert model.asked[-1].endswith("Are you open now? (It is 5:10 pm on Sunday, 29 November.)")
    assert model.asked[-1].startswith("(Hours, Monday: closed; ")
    assert not asks_the_time("What time do you open on Sunday?")
    noon = datetime.datetime(2026, 1, 2, 12, 0)
    assert spoken_time(noon) == "12 noon on Friday, 2 January"


@pytest.mark.parametrize("text", ["Can I speak to a person please?", "I'd like to talk to someone.",
                                  "Put me through to the manager.", "A real person, please.",
                                  "Can I talk to a human?", "Can I talk to a nurse please?",
                                  "Can I speak to reservations?", "Could I speak to a stylist?"])
def test_asking_for_a_person_is_a_rule_not_a_model_choice(text: str) -> None:
    assert wants_a_person(text)
    model = Echo()
    can = Receptionist(model, FACTS, can_transfer=True)
    assert "put you through to the front desk" in answer(can, text) and model.asked == []
    assert actions(can, text) == [Transfer(FACTS.transfer_to, "the front desk")]
    cannot = Receptionist(model, FACTS)
    assert "can't put you through" in answer(cannot, text) and model.asked == []
    assert actions(cannot, text) == []


def test_not_a_request_for_a_person() -> None:
    for text in ("How many people can the back room seat?", "Is the manager nice?", "Do you have a table?"):
        assert not wants_a_person(text), text


def test_yes_to_an_offer_puts_the_caller_through_a_second_miss_does_not() -> None:
    brain = Receptionist(Echo(), FACTS, can_transfer=True)
    offer = answer(brain, "Do you do takeaway?")
    assert offer == f"{DONT_KNOW} I can put you through to the front desk, if you like."
    history = [Message("user", "Do you do takeaway?"), Message("assistant", offer)]
    assert actions(brain, "Do you do takeaway?") == []  # an offer only
    assert "now, please hold" in answer(brain, "Yes please.", history)
    assert actions(brain, "Yes please.", history) == [Transfer(FACTS.transfer_to, "the front desk")]
    assert answer(brain, "No thanks.", history) == "All right. Is there anything else I can help you with?"
    later = history + [Message("user", "No thanks."), Message("assistant", "model: ok")]
    again = answer(brain, "Is there live music?", later)
    assert again == offer and actions(brain, "Is there live music?", later) == []


def test_more_than_a_yes_to_the_offer_is_a_new_question() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS, can_transfer=True)
    offer = answer(brain, "Do you do takeaway?")
    history = [Message("user", "Do you do takeaway?"), Message("assistant", offer)]
    text = "Okay, and what time do you close?"
    assert answer(brain, text, history).startswith("model: (") and model.asked[-1].endswith(text)
    assert [a for a in actions(brain, text, history) if isinstance(a, Transfer)] == []
    assert answer(brain, "What time is it open?", history).startswith("model: (Hours")


def test_words_no_fact_explains_in_a_question_about_a_topic_get_a_question_back() -> None:
    """A mishearing is asked about, quoting the topic; yes answers that topic; two questions back that did
    not help put the caller through."""
    model = Echo()
    brain = Receptionist(model, FACTS, can_transfer=True)
    heard = "What is up your opening our month on Saturday?"
    back = answer(brain, heard)
    assert back == "Sorry, did you ask about our hours on Saturday?" and model.asked == []
    history = [Message("user", heard), Message("assistant", back)]
    assert answer(brain, "Yes.", history).startswith("model: (Hours")
    assert model.asked[-1].endswith("Tell me about our hours on Saturday.")
    assert answer(brain, "No.", history) == "Sorry about that. What would you like to know?"
    history += [Message("user", "Your opening month on Saturday?")]
    history += [Message("assistant", answer(brain, "Your opening month on Saturday?", history[:2]))]
    assert history[-1].text == "Sorry, I still didn't catch that. Could you put it another way?"
    third = "Opening month Saturday!"
    assert "Let me put you through" in answer(brain, third, history)
    assert actions(brain, third, history) == [Transfer(FACTS.transfer_to, "the front desk")]
    without = Receptionist(Echo(), FACTS)
    assert answer(without, third, history) == DONT_KNOW and actions(without, third, history) == []


@pytest.mark.parametrize(("heard", "repaired", "word"), [
    ("What time is chick in?", "What time is check-in?", "check-in"),
    ("What time is brake fast on Sunday?", "What time is breakfast on Sunday?", "breakfast"),
    ("Is there free why fight?", "Is there free wifi?", "wifi"),  # alike as said, not as spelled
    ("How much is a boy let service?", "How much is a boiler service?", "boiler"),
])
def test_a_question_heard_as_words_that_sound_like_the_facts_is_repaired(heard: str, repaired: str,
                                                                       word: str) -> None:
    facts = parse_facts('name = "Harbour Hotel"\n[hours]\ncheck-in = "from 3 pm"\nbreakfast = "7 to 10 am"\n'
                        '[policies]\ndogs = "welcome, 15 pounds a night"\nwifi = "free in every room"\n'
                        '[prices]\n"boiler service" = "90 pounds"\n', "hotel.toml")
    assert facts.heard_as(heard) == (repaired, word)
    assert facts.heard_as("Do you have a swimming pool?") is None  # not near any fact: not a mishearing
    assert facts.heard_as("What time is check-in?") is None  # nothing unknown: nothing to repair


def test_a_question_that_sounds_like_a_fact_is_asked_back_and_yes_answers_it() -> None:
    model = Echo()
    facts = parse_facts('name = "Harbour Hotel"\n[hours]\ncheck-in = "from 3 pm"\n', "hotel.toml")
    brain = Receptionist(model, facts, can_transfer=True)
    heard = "What time is chick in?"
    back = answer(brain, heard)
    assert back == "Sorry, did you ask about check-in?" and model.asked == []
    assert answer(brain, "Yes.", [Message("user", heard), Message("assistant", back)]).startswith("model: (")
    assert model.asked[-1].endswith("What time is check-in?")


@pytest.mark.parametrize(("question", "facts_say"), [
    ("Is there Wi-Fi?", "wifi"), ("Can you keep our bags after checkout?", "check-out"),
    ("How much is the color?", "colour"), ("How much is a man's cut?", "men's cuts"),
    ("Can you unblock a drain?", "blocked drains"),
])
def test_a_word_written_another_way_is_the_facts_word(question: str, facts_say: str) -> None:
    facts = parse_facts(f'name = "X"\n[services]\nall = "{facts_say}, bags"\n', "x.toml")
    assert facts.unknown_words(question) == set()


def test_weekdays_and_weekends_are_the_days_they_name() -> None:
    assert FACTS.unknown_words("Are you open on weekdays?") == set()
    assert "Hours, Saturday" in "".join(fact.line() for fact in FACTS.relevant("Are you open at the weekend?"))


def test_a_word_the_recogniser_was_unsure_of_and_the_facts_do_not_hold_is_asked_about() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS, can_transfer=True)
    heard = "Do you have a gen?"  # "gym", as Whisper heard it, unsure of it
    asked = answer(brain, heard, unsure=("gen",))
    assert asked == 'Sorry, I didn\'t catch "gen". Could you say it again?'
    assert answer(brain, heard).startswith(DONT_KNOW)  # sure of it: a question about something else
    history = [Message("user", heard), Message("assistant", asked)]
    # the caller says it again and the same word is heard: it was heard right, and the facts do not have it
    assert answer(brain, "Do you have a gen?", history, unsure=("gen",)) == (
        f"{DONT_KNOW} I can put you through to the front desk, if you like.")
    said = answer(brain, "How much is the corkage?", history)  # said another way: answered
    assert said.startswith("model:") and "corkage" in model.asked[-1].lower()
    # unsure of a word the facts hold, or of a little word: no question back
    assert answer(brain, "How much is the corkage?", unsure=("corkage",)).startswith("model:")
    assert answer(brain, "Do you do live music?", unsure=("do",)).startswith(DONT_KNOW)


@pytest.mark.parametrize(("question", "said"), [
    ("Are you open on Monday?", "On Monday, we're closed."),
    ("What time do you close on Sunday?", "On Sunday, we're open 12 noon to 9 pm."),
    ("Are you open at the weekend?", "On Saturday, we're open 12 noon to 10:30 pm; and on Sunday, we're open 12 noon "
                                     "to 9 pm."),
    ("Are you open tomorrow?", "On Monday, we're closed."),  # (it is Sunday)
])
def test_the_hours_on_a_day_are_read_from_the_facts(question: str, said: str) -> None:
    model = Echo()
    brain = Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM)
    assert answer(brain, question) == said and model.asked == []
    history = [Message("user", "What time do you open on Saturday?"), Message("assistant", "At 12 noon.")]
    assert answer(brain, "And on Tuesday?", history).startswith("On Tuesday, we're open 12 noon to 2:30 pm")
    assert answer(brain, "What are your opening hours?").startswith("model:")  # no day: the model


def test_a_request_to_book_gets_who_books_and_the_offer_of_a_person() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS, can_transfer=True)
    said = answer(brain, "Can I book a table for four tonight?")
    assert said.startswith("I can't take bookings: the front desk books tables for up to 8 people.")
    assert "manager" in said and said.endswith("I can put you through to the front desk, if you like.")
    assert model.asked == []
    history = [Message("user", "Can I book a table for four tonight?"), Message("assistant", said)]
    assert actions(brain, "Yes please.", history) == [Transfer(FACTS.transfer_to, "the front desk")]


def test_a_follow_up_is_looked_up_with_the_question_before_it() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS)
    first = "Do you have gluten free pasta?"
    history = [Message("user", first), Message("assistant", answer(brain, first))]
    answer(brain, "How much is that?", history)
    assert "Prices, Pasta: from 12 to 18 pounds" in model.asked[-1]
    history = [Message("user", "How much is a pizza?"), Message("assistant", "From 11 to 16 pounds.")]
    answer(brain, "And the pasta?", history)  # the follow-up's words pick within the topic before
    assert model.asked[-1].startswith("(Prices, Pasta: from 12 to 18 pounds")


def test_are_you_a_robot_is_answered_by_rule() -> None:
    brain = Receptionist(Echo(), FACTS, can_transfer=True)
    assert answer(brain, "Are you a real person?") == (
        "I'm the automated receptionist of Trattoria Bella. I can put you through to the front desk, if you like.")
    assert actions(brain, "Are you a real person?") == []


def test_the_facts_a_model_answer_used_are_recorded() -> None:
    (look_up,) = actions(Receptionist(Echo(), FACTS), "What are your opening hours?")
    assert isinstance(look_up, LookUp) and look_up.topic == "Hours"
    assert "Saturday: 12 noon to 10:30 pm" in " ".join(look_up.facts)


def test_the_facts_a_rule_read_are_recorded() -> None:
    (look_up,) = actions(Receptionist(Echo(), FACTS, clock=lambda: SUNDAY_5PM), "Are you open at the weekend?")
    assert look_up == LookUp("Hours", ("Hours, Saturday: 12 noon to 10:30 pm", "Hours, Sunday: 12 noon to 9 pm"))
    (booking,) = actions(Receptionist(Echo(), FACTS, can_transfer=True), "Can I book a table?")
    assert isinstance(booking, LookUp) and booking.topic == "Policies" and "front desk books" in booking.facts[0]


@pytest.mark.parametrize(("text", "problem"), [
    ('kind = "a shop"', "it needs name"),
    ('name = "X"\nhours = 3\n[hours2]\nmonday = true', "must be text"),
    ('name = "X"\ntimezone = "Mars/Base"', "unknown timezone"),
    ('name = "X"\n[transfer]\nto = "frontdesk"', "must be a SIP URI"),
    ('name = "X"\nhours = [', "bad facts file"),
])
def test_a_bad_facts_file_is_one_clear_error(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_facts(text, "facts.toml")


def test_markdown_facts() -> None:
    facts = parse_facts("# Corner Garage\n\n## Hours\n- Monday to Friday: 8 am to 6 pm\n- Saturday: closed\n"
                        "## Services\n- MOT tests: 45 pounds\n", "garage.md", markdown=True)
    assert facts.name == "Corner Garage"
    assert "Hours, Saturday: closed" in facts.describe() and "Services, MOT tests: 45 pounds" in facts.describe()
    assert "tyre" in facts.unknown_words("Do you sell tyres?")  # (selling is what a business does)
    assert facts.covers("How much is an MOT test?")[0].key == "MOT tests"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli", "run", "--no-register", *args],
                          capture_output=True, text=True, timeout=60, env=_env(), cwd=REPO)


def test_a_bad_facts_file_or_time_zone_stops_the_agent_with_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "facts.toml"
    bad.write_text('kind = "a shop"\n')
    for args, expected in ((("--facts", str(bad)), "it needs name"),
                           (("--facts", str(tmp_path / "none.toml")), "cannot read --facts file"),
                           (("--timezone", "Mars/Base"), "unknown time zone")):
        result = _run(*args)
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_named_model_whose_checksum_fails_is_one_line_and_exit_2(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import models

    monkeypatch.setattr(models, "MODELS_DIR", tmp_path)
    (tmp_path / "llm").mkdir()
    info = models.LLM_MODELS["qwen-0.5b"]  # (not the default: its own get-models command)
    (tmp_path / info.local_file).write_bytes(b"GGUF not the model")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  {info.local_file}\n")
    with pytest.raises(models.ModelError, match="is corrupt.*get-models --llm qwen-0.5b"):
        models.resolve_llm("qwen-0.5b")
    (tmp_path / info.local_file).unlink()
    with pytest.raises(models.ModelError, match="not found.*get-models --llm qwen-0.5b"):
        models.resolve_llm("qwen-0.5b")
    result = _run("--brain", "llm", "--llm-model", "qwen-9b")
    assert result.returncode == 2 and "LLM model not found: qwen-9b" in result.stderr, result.stderr


def test_a_later_question_carries_only_the_facts_that_match_best() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS)
    first = answer(brain, "How much is the corkage?")
    history = [Message("user", "How much is the corkage?"), Message("assistant", first)]
    answer(brain, "How much is the corkage?", history)
    whole, later = model.asked
    assert whole.count("Prices, ") > 2  # the whole topic, whose KV state is kept
    assert later.count("Prices, ") <= 2 and "Corkage: 10 pounds a bottle" in later and len(later) < len(whole)
    (look_up,) = actions(brain, "How much is the corkage?", history)
    assert isinstance(look_up, LookUp) and len(look_up.facts) <= 2 and look_up.facts[0] in later


def test_earlier_questions_reach_the_model_as_it_saw_them() -> None:
    """The model's prompt for a later turn starts with the earlier turns exactly as it evaluated them (facts
    included), so what the last reply left in its context is reused; rule turns stay as said."""
    model = Echo()
    brain = Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM)
    first = answer(brain, "How much is the corkage?")
    history = [Message("user", "How much is the corkage?"), Message("assistant", first),
               Message("user", "What time is it?"), Message("assistant", answer(brain, "What time is it?"))]
    answer(brain, "Can I bring my dog?", history)
    seen = model.histories[-1]
    assert seen[0] == Message("user", model.asked[0]) and "Corkage: 10 pounds" in seen[0].text
    assert seen[1:] == history[1:]


def test_the_model_is_prepared_with_the_history_it_answers_with() -> None:
    model = Echo()
    brain = Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM).for_call()
    history = [Message("assistant", "Hello, Trattoria Bella, how can I help you?")]
    for question in ("How much is the corkage?", "Are you open now?", "Can I bring my dog?"):
        brain.prepare(history)
        reply = answer(brain, question, history)
        assert model.prepared[-1] == model.histories[-1]
        history = [*history, Message("user", question), Message("assistant", reply)]
    assert "Corkage: 10 pounds" in model.histories[-1][1].text  # as the model saw it, facts and all


def test_no_call_sees_what_the_model_saw_in_another() -> None:
    model = Echo()
    shared = Receptionist(model, FACTS, clock=lambda: SUNDAY_5PM)
    one, two = shared.for_call(), shared.for_call()
    answer(one, "Are you open now?")
    history = [Message("user", "Are you open now?"), Message("assistant", "model: yes")]
    answer(two, "Can I bring my dog?", history)
    assert model.histories[-1][0] == Message("user", "Are you open now?")  # call two never asked it
    answer(one, "Can I bring my dog?", history)
    assert model.histories[-1][0].text.endswith("Are you open now? (It is 5:10 pm on Sunday, 29 November.)")
    assert shared._seen == {}


BENCH = REPO / "agent" / "tools" / "bench" / "businesses"


@pytest.mark.parametrize(("business", "heard", "repaired", "word"), [
    ("vet", "How much is it to new to a cat?", "How much is it to neutering a cat?", "neutering"),
    ("salon", "Do you take walk cans?", "Do you take walk-ins?", "walk-ins"),
    ("salon", "How much is a blow drive?", "How much is a blow-dry?", "blow-dry"),
])
def test_known_words_run_together_that_sound_like_a_word_of_the_facts_are_read_as_it(
        business: str, heard: str, repaired: str, word: str) -> None:
    facts = load_facts(BENCH / f"{business}.toml")
    assert facts.unknown_words(heard) == set()  # every word is known: only the run gives the mishearing away
    assert facts.run_heard_as(heard) == (repaired, word)
    brain = Receptionist(Echo(), facts, can_transfer=True)
    assert answer(brain, heard) == f"Sorry, did you ask about {word}?"


@pytest.mark.parametrize(("business", "question"), [
    ("hotel", "What time is check in?"),  # the facts' word written apart is that word, not a mishearing
    ("vet", "Do you treat horses?"), ("vet", "How much is it to neuter a cat?"),
    ("plumber", "Do you come out at the weekend?"), ("salon", "How much is a women's cut and blow-dry?"),
    ("hotel", "Can I bring my dog?"), ("hotel", "Is breakfast included?"),
])
def test_a_question_said_right_is_not_read_as_another_word(business: str, question: str) -> None:
    assert load_facts(BENCH / f"{business}.toml").run_heard_as(question) is None


@pytest.mark.parametrize(("business", "heard", "word"), [
    ("vet", "Do you see courses?", "horses"),  # "our" after c said as in "course", not "nurses"
    ("plumber", "How much is a boy let service?", "boiler"),
    ("hotel", "What time is break fast?", "breakfast"),
])
def test_a_word_heard_is_read_as_the_facts_word_it_sounds_like(business: str, heard: str, word: str) -> None:
    found = load_facts(BENCH / f"{business}.toml").heard_as(heard)
    assert found is not None and found[1] == word
