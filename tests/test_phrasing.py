"""The receptionist's rules against the ways callers say things: each rule, what it must and must not take."""

from __future__ import annotations

import pytest

from agent.dialog.phrasing import answers_offer, asks_if_human, asks_the_date, asks_the_time, plain, wants_a_person

ASKS_FOR_A_PERSON = [
    "Can I speak to someone?", "Can I speak to someone please?", "I'd like to talk to someone.",
    "Could I talk to somebody about a booking?", "Put me through to the manager.", "Can you put me through?",
    "Please put me through to the front desk.", "A real person, please.", "Can I talk to a human?",
    "I want to speak to a real person.", "I need to talk to someone real.", "Transfer me, please.",
    "Could you transfer me to reception?", "Connect me to the front desk.", "Can you connect me with a person?",
    "Get me a human.", "Operator.", "Operator, please.", "Reception, please.", "The front desk please.",
    "I'd like to speak with the manager.", "May I speak to the owner?", "Can I talk to a member of staff?",
    "Is there someone I can talk to?", "Is there anybody I can speak with?", "Let me speak to a person.",
    "I'd prefer a real person.", "I want an operator.", "Can I have a person please?", "Give me a human.",
    "Could you pass me over to someone?", "Can you forward my call to the front desk?",
    "Can I speak to the chef?", "I would like to talk to the boss.", "Speak to someone.",
    "Talk to a person.", "Human please.", "Can you get the manager on the line?", "Put me through please.",
    "Could you get someone to help me?", "I just want to speak to somebody.", "Can I chat with a real human?",
    "Just connect me to someone please.", "I'd rather talk to the receptionist.", "Can I talk to a live person?",
]
NOT_A_PERSON = [
    "How many people can the back room seat?", "Is the manager nice?", "Do you have a table?",
    "Do you have a table for a person in a wheelchair?", "Can I bring a person with a dog?",
    "Is the front desk open on Sunday?", "Who is the manager?", "Are you a real person?",
    "What time do you open?", "Can a person book for twelve?", "Is the chef Italian?",
    "How much is it per person?", "The price per person, please.", "Do you need a deposit per person?",
    "Is there someone at the door to greet us?", "Does the manager arrange private events?",
    "I don't want to speak to anyone, just tell me the hours.", "No, I don't need to talk to someone.",
    "My friend is a human rights lawyer.", "Can I talk to you about the menu?", "I spoke to someone yesterday.",
    "Someone told me you have vegan pizza.", "Is the staff friendly?", "Do your staff speak Italian?",
    "Can you tell me about the set lunch?", "What does the front desk do?", "How many staff do you have?",
    "Does anyone play music there?", "Is anybody allergic to nuts usually?", "Can somebody park outside?",
    "What's your phone number?", "Where are you?", "Can I pay by card?", "A table for two people.",
    "We are six people.", "A pizza, please.", "The menu please.", "Are you open?", "Can I bring my dog?",
    "Yes please.", "Thank you.", "Goodbye.", "No thanks.", "Is the operator of the car park you?",
    "Can the manager's office be booked?",
]


@pytest.mark.parametrize("text", ASKS_FOR_A_PERSON)
def test_asks_for_a_person(text: str) -> None:
    assert wants_a_person(text)


@pytest.mark.parametrize("text", NOT_A_PERSON)
def test_does_not_ask_for_a_person(text: str) -> None:
    assert not wants_a_person(text)


ASKS_THE_TIME = [
    "What time is it?", "What time is it now?", "What time is it right now?", "What's the time?",
    "What is the time, please?", "What's the time now?", "Can you tell me the time?",
    "Can you tell me the time please?", "Could you tell me what time it is?", "Do you know what time it is?",
    "Have you got the time?", "Do you have the time?", "Got the time?", "What time is it there?",
    "Sorry, what time is it?", "Excuse me, what's the time?", "Tell me the time.", "What is the current time?",
    "What's the exact time?", "Have you got the right time?", "What time do you make it?", "Give me the time.",
    "Um, what time is it?", "So what time is it now?", "What time is it at the moment?", "Time is it now?",
    "Hi, what time is it please?", "What time is it where you are?", "I'd like to know what time it is.",
    "Can I ask what time it is?", "What's the time there?", "Any idea what time it is?",
    "Hello, what's the time?", "What time is it in Brighton?", "Could you give me the time?",
    "What's the correct time?", "Do you know the time?", "Can you give me the current time?",
    "Right, what time is it?", "Okay, what time is it?",
]
NOT_THE_TIME = [
    "What time do you open?", "What time do you open on Saturday?", "What time is it open?",
    "What time is it open until?", "What time is it open till on Sunday?", "What time is lunch?",
    "What time is dinner served?", "What time is the kitchen open until?", "What time is the last booking?",
    "What time do you close?", "What time does the kitchen close?", "What time are you open until?",
    "What time is it closing tonight?", "What time is it best to come?", "What time is it busy?",
    "What time is it quiet?", "What time is the table?", "What's the time of the last sitting?",
    "What is the time for lunch on Friday?", "What's the time you close?", "What time should I come?",
    "What time can I come?", "What time is the set lunch served?", "Is it open at this time?",
    "Are you open at lunch time?", "What's the best time to call?", "How long does it take?",
    "At what time do you stop serving?", "Do you have time for a table of four?", "What times are you open?",
    "Tell me the time you open.", "When do you open?", "Opening times, please.", "Is now a good time?",
    "What time is it served from?", "What time is the back room free?", "What time is it available?",
    "What time is breakfast?", "What time's the kitchen open?", "Have you got the times for Sunday?",
]


@pytest.mark.parametrize("text", ASKS_THE_TIME)
def test_asks_the_time(text: str) -> None:
    assert asks_the_time(text)


@pytest.mark.parametrize("text", NOT_THE_TIME)
def test_does_not_ask_the_time(text: str) -> None:
    assert not asks_the_time(text)


ASKS_THE_DATE = [
    "What's the date?", "What is the date today?", "What's today's date?", "What is today's date?",
    "What day is it?", "What day is it today?", "What's today?", "What date is it?", "What date is it today?",
    "Tell me the date.", "Can you tell me the date?", "Which day is it today?", "What's the date today?",
    "Sorry, what day is it?", "What is the date?", "Could you give me the date?", "Today is what day?",
    "What day is today?", "What's the date now?", "Um, what's the date?", "Do you know what day it is?",
    "Hi, what's today's date please?", "Can you give me the date?", "What is today?", "Which day is it?",
    "Okay, what date is it today?", "And what's the date today?", "Today's date please, what is it?",
    "What is the date, please?", "What's the date today please?", "What day is it?",
    "Right, what's the date?", "What day is today, please?", "Could you tell me what day it is?",
    "I'd like to know what day it is.", "What date is today?", "So what's today's date?",
    "Hello, what is the date?", "Tell me the date please.", "Excuse me, what's the date today?",
]
NOT_THE_DATE = [
    "What's the date of the wine evening?", "What date is the private event?", "What day are you closed?",
    "What day is best to come?", "What days are you open?", "What day is the fish delivered?",
    "Are you open today?", "What time do you close today?", "Is today a holiday?", "What's on today?",
    "What's today's special?", "What is today's soup?", "Can I book for today?", "What day is it that you close?",
    "On what date do you reopen?", "Which day do you close early?", "What's the date you reopen?",
    "Is the date fixed?", "Do you have a date night menu?", "Can I change the date of my booking?",
    "What day of the week are you closed?", "What day is the quiz?", "Are you open on that day?",
    "What time is it?", "Do you take dates for events?", "What is the dates' dessert?",
    "Is it busy today?", "How much is the set lunch today?", "Are you open on Sunday?", "What is the best day?",
    "What days do you do lunch?", "Which days are you closed?", "Up to what date can I book?",
    "What date do you start the summer menu?", "What day is it you do the set lunch?", "Is it open every day?",
    "Can I come any day?", "What is your address?", "Do you open on bank holidays?", "The date for the party?",
]


@pytest.mark.parametrize("text", ASKS_THE_DATE)
def test_asks_the_date(text: str) -> None:
    assert asks_the_date(text)


@pytest.mark.parametrize("text", NOT_THE_DATE)
def test_does_not_ask_the_date(text: str) -> None:
    assert not asks_the_date(text)


YES_TO_AN_OFFER = [
    "Yes.", "Yes please.", "Yeah.", "Yep.", "Sure.", "Sure, thanks.", "Okay.", "OK.", "Okay, thank you.",
    "Alright.", "All right, go ahead.", "Go ahead.", "Please.", "Please do.", "Yes, please do.",
    "That would be great.", "That would be great, thanks.", "That'd be lovely.", "Yes, put me through.",
    "Put me through please.", "Yes, that would be helpful.", "Of course.", "Absolutely.", "Definitely.",
    "Certainly.", "Why not.", "Sounds good.", "Yes, thank you very much.", "Yeah, go on.", "Okay then.",
    "Yes, I would like that.", "I'd like that.", "Uh huh.", "Mm hmm, yes.", "Um, yes please.", "Oh yes please.",
    "Yes, connect me.", "Sure, put me through to the front desk.", "Perfect, thanks.", "Great, yes.",
    "Yes yes, please.", "Yeah sure.", "Lovely, thank you.", "Okay, please do.", "Go for it.",
]
NO_TO_AN_OFFER = [
    "No.", "No thanks.", "No, thank you.", "Nope.", "Nah.", "Not now.", "Not now, thanks.", "Not yet.",
    "That's okay.", "That's alright, thanks.", "It's fine.", "It's okay, thank you.", "I'm fine.",
    "I'm fine, thanks.", "I'm good, thanks.", "Never mind.", "Don't bother.", "Don't worry.",
    "No worries, thanks.", "No need.", "Not necessary.", "Leave it.", "Forget it.", "Maybe later.",
    "I'll call back.", "I'll try later, thanks.", "No, that's fine.", "No, it's okay.", "Um, no thanks.",
    "Oh no, that's okay.", "Well, no.", "Not really.", "Not today, thanks.", "No no, that's fine.",
    "Nope, that's all.", "No thank you very much.", "I'd rather not.", "Not at the moment.",
    "No, thanks anyway.", "Not right now.",
]
NEITHER = [
    "Okay, and what time do you close?", "Yes, and how much is the set lunch?", "Sure, but do you take cards?",
    "No, but can I bring my dog?", "Okay. What's your address?", "What time do you open?", "Thank you.",
    "Thanks.", "Hmm.", "Well.", "Yes, what about Sunday?", "Okay, do you have vegan food?",
    "Is that the front desk?", "Who is the front desk?", "No, I want to know the hours.",
    "Yes I want to book a table for four.", "Sure, how much is corkage?", "Okay so are you open on Monday?",
    "Yeah, and where can I park?", "Alright, what about parking?", "I don't know.", "Maybe.",
    "Not sure, what do they do?", "Okay, is there a car park?", "Yes, is the back room free on Saturday?",
    "Right, and what's the phone number?", "Please tell me the opening hours.", "Please, how much is pizza?",
    "Okay, thanks, and do you have gluten free pasta?", "Yes, but first, are you open tonight?",
    "No, not the front desk, the manager.", "Sure, after you tell me the address.", "What do you mean?",
    "Sorry?", "Pardon?", "Could you say that again?", "Yes, that's right, a table for two.", "Hello?",
    "Okay, what else?", "Fine, what are your prices?",
]


@pytest.mark.parametrize("text", YES_TO_AN_OFFER)
def test_yes_to_an_offer(text: str) -> None:
    assert answers_offer(text) == "yes"


@pytest.mark.parametrize("text", NO_TO_AN_OFFER)
def test_no_to_an_offer(text: str) -> None:
    assert answers_offer(text) == "no"


@pytest.mark.parametrize("text", NEITHER)
def test_more_than_a_yes_or_a_no_is_a_new_question(text: str) -> None:
    assert answers_offer(text) is None


@pytest.mark.parametrize("text", ["Are you a real person?", "Are you a robot?", "Am I talking to a machine?",
                                  "Is this a recording?", "Are you human?", "Is this a real person?"])
def test_asks_if_the_agent_is_a_person(text: str) -> None:
    assert asks_if_human(text) and not wants_a_person(text)


def test_plain_words() -> None:
    assert plain("What’s the TIME?!") == "what is the time"
    assert plain("I'd rather not, that's okay.") == "i would rather not that is okay"
