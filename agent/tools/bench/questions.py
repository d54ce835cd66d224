"""Phone questions for the ``answers`` phase: five businesses, each with a facts file and its callers.

Each question is graded on the answer's words (see :func:`agent.tools.bench.answers.grade`): ``need``
patterns must all be found, a ``bad`` one must not.  Kinds:

- ``direct``: asked as the facts put it; ``paraphrase``: the same in a caller's own words;
- ``follow-up``: leans on the questions said before it in the same call (``before``, not graded);
- ``out of scope``: the facts do not hold the answer, which must be "I don't know" (and no invention);
- ``near-miss``: a question as a recogniser can mishear it ("what's up you're opening our month
  Saturday"): right when answered right or asked back, wrong when answered as heard or "I don't know";
- ``person``: asks for a person (the transfer); ``clock``: the time or the date.

The restaurant's facts are the example facts the project ships; the four others are in ``businesses/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...dialog.facts import example_facts_path

__all__ = ["BUSINESSES", "Business", "DONT_KNOW", "INVENTS", "PERSON", "Question", "RESTAURANT"]


@dataclass(frozen=True)
class Question:
    text: str
    topic: str
    need: tuple[str, ...] = ()
    """Patterns that must all be in the answer (each may hold alternatives)."""
    bad: tuple[str, ...] = ()
    """Patterns of an invented answer."""
    clock: bool = False
    """The answer tells the time: its numbers come from the clock, not the facts."""
    kind: str = "direct"
    before: tuple[str, ...] = ()
    """Said earlier in the same call (a follow-up's context); their answers are not graded."""


@dataclass(frozen=True)
class Business:
    name: str
    facts: Path
    questions: tuple[Question, ...]


PERSON = r"put you through|can't put you through"
DONT_KNOW = r"don't know|do not know|not sure|no information|don't have that"
INVENTS = (r"\byes\b", r"\bwe (do|have|offer)\b", r"\bpounds?\b")
BOOKED = r"i (have|'ve) (booked|reserved|made)|is booked for you|(booked|reserved) (it|you|that) for you"
NOT = r"\bnot\b|n't|\bno\b"


def _unknown(text: str) -> Question:
    return Question(text, "unknown", (DONT_KNOW,), INVENTS, kind="out of scope")


def _near(text: str, topic: str, *need: str) -> Question:
    return Question(text, topic, need, kind="near-miss")


def _then(before: str | tuple[str, ...], text: str, topic: str, *need: str) -> Question:
    return Question(text, topic, need, kind="follow-up", before=(before,) if isinstance(before, str) else before)


def _person(text: str) -> Question:
    return Question(text, "person", (PERSON,), kind="person")


RESTAURANT: tuple[Question, ...] = (
    Question("What are your opening hours on Saturday?", "hours", (r"10:30|10\.30|half past ten",)),
    Question("Are you open on Monday?", "hours", (r"closed|not open",), (r"\byes\b",)),
    Question("What time do you close on Sunday?", "hours", (r"\b9\b|\bnine\b",)),
    Question("When do you open for lunch on Wednesday?", "hours", (r"\b12\b|noon|twelve",), kind="paraphrase"),
    Question("Are you open for dinner on Friday?", "hours", (r"\b6\b|\bsix\b",), (r"\bclosed\b",)),
    Question("Until when are you open on Sunday evening?", "hours", (r"\b9\b|\bnine\b",), kind="paraphrase"),
    Question("Can I book a table for four tonight?", "booking", (r"front desk|put you through",),
             (BOOKED, r"you can book a table for four tonight")),
    Question("I would like to make a reservation for Saturday.", "booking", (r"front desk|put you through",),
             (BOOKED,), kind="paraphrase"),
    Question("Do you have a table for twelve people?", "booking", (r"manager|front desk|put you through|\b8\b|eight",),
             (r"\byes\b",)),
    Question("Do you take walk-ins?", "booking", (r"welcome|table is free",), (r"\bno\b",)),
    Question("How much is the set lunch?", "prices", (r"\b16\b|\b20\b|sixteen|twenty",)),
    Question("How much is a three course lunch?", "prices", (r"\b20\b|twenty",), kind="paraphrase"),
    Question("How much does a pizza cost?", "prices", (r"\b11\b|eleven",)),
    Question("What do you charge for corkage?", "prices", (r"\b10\b|\bten\b",)),
    Question("How much is the pasta?", "prices", (r"\b18\b|eighteen",)),
    Question("Do you have gluten free pasta?", "menu", (r"gluten",), (r"not available|\bno\b",)),
    Question("Do you have vegan food?", "menu", (r"vegan",), (r"\bno\b|\bnot\b",)),
    Question("What kind of food do you serve?", "menu", (r"pasta|pizza|fish|italian",), kind="paraphrase"),
    Question("What is your address?", "directions", (r"harbour street",)),
    Question("How do I get to you from the station?", "directions",
             (r"queen'?s road|harbour street|five minutes|\bwalk",), kind="paraphrase"),
    Question("Where can I park my car?", "directions", (r"church street|no parking|(not|n't) have (any )?parking",)),
    Question("What is your phone number?", "directions", (r"01273|\b555\b",)),
    Question("Can I bring my dog?", "policies", (r"terrace",)),
    Question("Can I pay by cheque?", "policies", (r"cheque|check|cards? and cash",), (r"\byes\b",)),
    Question("Do you take credit cards?", "policies", (r"cards",),  # ("Cards and cash; no cheques" is a yes)
             (r"^no\b|(?:do not|don.t|cannot|can.t) (?:take|accept)",)),
    Question("Can I hire the back room for a birthday party?", "policies",
             (r"manager|back room|\b20\b|twenty|private",), kind="paraphrase"),
    _unknown("Do you do takeaway?"),
    _unknown("Is there live music on Friday nights?"),
    _unknown("How much is a bottle of house wine?"),
    _unknown("Do you have a children's menu?"),
    _unknown("Is the restaurant wheelchair accessible?"),
    Question("What time is it please?", "clock", ("{hour}",), clock=True, kind="clock"),
    Question("What day is it today?", "clock", ("{weekday}",), clock=True, kind="clock"),
    _person("Can I speak to a person please?"),
    _person("I would like to talk to the manager."),
    _then("What time do you close on Saturday?", "And on Sunday?", "hours", r"\b9\b|\bnine\b"),
    _then("How much is a pizza?", "And the pasta?", "prices", r"\b12\b|\b18\b|twelve|eighteen"),
    _then("Do you have vegan food?", "What about gluten free?", "menu", r"gluten"),
    _then("Can I bring my dog?", "What about inside?", "policies", r"terrace|not inside|n't|not (?:welcome|allowed)"),
    _then("Are you open on Monday?", "And on Tuesday?", "hours", r"\b12\b|noon|\b6\b"),
    _near("What is up your opening our month on Saturday?", "hours", r"10:30|10\.30|half past ten"),
    _near("How much is the set lunge?", "prices", r"\b16\b|\b20\b"),
    _near("Do you take walking?", "booking", r"welcome|table is free"),
)
"""Phone questions about the example facts (``agent/dialog/example_facts.toml``)."""

VET: tuple[Question, ...] = (
    Question("What time do you open on Saturday?", "hours", (r"\b9\b|\bnine\b",)),
    Question("Are you open on Sunday?", "hours", (r"closed|emergenc|out.of.hours",)),
    Question("What time do you close on weekdays?", "hours", (r"\b7\b|\bseven\b",)),
    Question("How much is a consultation?", "prices", (r"\b42\b",)),
    Question("How much does a dog vaccination cost?", "prices", (r"\b58\b",)),
    Question("How much is it to neuter a cat?", "prices", (r"\b95\b",)),
    Question("Do you microchip dogs?", "services", (r"microchip",), (r"\bno\b",)),
    Question("How much is a microchip?", "prices", (r"\b25\b",)),
    Question("Do you treat rabbits?", "services", (r"rabbit",), (r"(not|n't) treat rabbits",)),
    Question("Do you see horses?", "services", (NOT,), (r"^yes",)),
    Question("What is your address?", "directions", (r"mill lane",)),
    Question("Is there parking?", "directions", (r"free parking|behind the practice|parking behind",)),
    Question("What is your phone number?", "directions", (r"01273|\b555\b",)),
    Question("Can I book an appointment for my cat?", "booking", (r"nurses|put you through",), (BOOKED,)),
    Question("What should I do in an emergency at night?", "policies", (r"vets now|911",)),
    Question("Do you take new clients?", "policies", (r"welcome|register|^yes\b",), (r"\bno\b",)),
    Question("How long does a repeat prescription take?", "policies", (r"\b48\b",)),
    Question("Can I pay by card?", "policies", (r"card",), (r"\bno\b",)),
    Question("Do you handle pet insurance claims?", "policies", (r"insurance|claim|\b15\b",)),
    Question("Do you clean dogs' teeth?", "services", (r"dental|scale|teeth",), (r"\bno\b",)),
    Question("When are you open on a Saturday morning?", "hours", (r"\b9\b|\bnine\b",), kind="paraphrase"),
    Question("What do you charge for a cat's yearly booster?", "prices", (r"\b52\b",), kind="paraphrase"),
    Question("How much would it cost to have my dog spayed?", "prices", (r"\b240\b",), kind="paraphrase"),
    Question("Where are you exactly?", "directions", (r"mill lane|lewes",), kind="paraphrase"),
    Question("How do I find you from the station?", "directions", (r"co-?op|mill lane|two minutes|\bwalk",),
             kind="paraphrase"),
    Question("Can you look after my guinea pig?", "services", (r"guinea|small pets|consultation",),
             (r"(not|n't) (treat|see)",), kind="paraphrase"),
    _then("What time do you open on Saturday?", "And what time do you close?", "hours", r"\b1\b|\bone\b"),
    _then("How much is a dog vaccination?", "And for a cat?", "prices", r"\b52\b"),
    _then("Do you neuter cats?", "How much is that?", "prices", r"\b95\b"),
    _then("Are you open on Saturday?", "What about Sunday?", "hours", r"closed|emergenc|out.of.hours"),
    _then("Do you do microchipping?", "How long does it take?", "services", r"\bwait\b"),
    _then("How much is a consultation?", "Can I pay by card?", "policies", r"card"),
    _unknown("Do you do pet grooming?"),
    _unknown("Do you sell dog food?"),
    _unknown("Do you offer home visits?"),
    _unknown("Do you keep animals in overnight?"),
    _unknown("Do you do acupuncture for dogs?"),
    _near("How much is a con sell tation?", "prices", r"\b42\b"),
    _near("Do you do new to ring for cats?", "services", r"neuter|spay|\b95\b"),
    _near("What are you opening ours on Saturday?", "hours", r"\b9\b|\bnine\b"),
    _near("Can I get my dog vaccine nation price?", "prices", r"\b58\b"),
    _person("Can I talk to a nurse please?"),
    _person("I'd like to speak to someone, please."),
    Question("What's the time, please?", "clock", ("{hour}",), clock=True, kind="clock"),
)

PLUMBER: tuple[Question, ...] = (
    Question("What are your opening hours on Saturday?", "hours", (r"\b8\b|\b12\b|noon",)),
    Question("Are you open on Sundays?", "hours", (r"closed|emergenc",)),
    Question("How much is a call-out?", "prices", (r"\b65\b",)),
    Question("What is your hourly rate?", "prices", (r"\b55\b",)),
    Question("How much is an emergency call-out at night?", "prices", (r"\b120\b",)),
    Question("How much is a boiler service?", "prices", (r"\b90\b",)),
    Question("How much does a new boiler cost?", "prices", (r"2,?200|two thousand",)),
    Question("Do you give free quotes?", "prices", (r"free|quote",), (r"\bno\b",)),
    Question("Are your engineers Gas Safe registered?", "services", (r"gas safe",), (r"\bno\b",)),
    Question("Do you fit bathrooms?", "services", (r"bathroom",), (r"\bno\b",)),
    Question("Can you unblock a drain?", "services", (r"drain",), (r"\bno\b",)),
    Question("Do you do electrical work?", "services", (NOT,), (r"^yes",)),
    Question("Which areas do you cover?", "area", (r"brighton|hove|lewes|shoreham",)),
    Question("Do you come out to Shoreham?", "area", (r"shoreham",), (r"\bno\b",)),
    Question("How quickly can you come in an emergency?", "services", (r"\b2\b|two hours",)),
    Question("Is your work guaranteed?", "policies", (r"\b12\b|twelve",)),
    Question("Can I pay by bank transfer?", "policies", (r"transfer",), (r"\bno\b",)),
    Question("How much is a landlord gas safety certificate?", "prices", (r"\b75\b",)),
    Question("Can you come and fix my leaking tap tomorrow?", "booking", (r"office|put you through",), (BOOKED,)),
    Question("What is your address?", "directions", (r"station yard",)),
    Question("What do you charge per hour?", "prices", (r"\b55\b",), kind="paraphrase"),
    Question("My toilet won't flush, can you help?", "services", (r"toilet|flush|office|put you through",),
             kind="paraphrase"),
    Question("How much to service my boiler?", "prices", (r"\b90\b",), kind="paraphrase"),
    Question("Are you open at the weekend?", "hours", (r"saturday|\b8\b|\b12\b|noon",), kind="paraphrase"),
    Question("Do you do emergencies on a Sunday?", "services", (r"emergenc|24 hours",), (r"^no\b",),
             kind="paraphrase"),
    Question("What's the charge to come out?", "prices", (r"\b65\b",), kind="paraphrase"),
    _then("How much is a call-out?", "And at the weekend?", "prices", r"\b120\b"),
    _then("Do you service boilers?", "How much is that?", "prices", r"\b90\b"),
    _then("What time do you open on Saturday?", "And when do you close?", "hours", r"\b12\b|noon"),
    _then("Do you fit new boilers?", "How much does that cost?", "prices", r"2,?200|two thousand"),
    _then("What time do you open on weekdays?", "What about Saturday?", "hours", r"\b8\b|\beight\b"),
    _unknown("Do you clean gutters?"),
    _unknown("Can you fix my washing machine?"),
    _unknown("Do you install solar panels?"),
    _unknown("Do you sell radiators?"),
    _unknown("Do you do air conditioning?"),
    _near("How much is a boy let service?", "prices", r"\b90\b"),
    _near("What is your our Lee rate?", "prices", r"\b55\b"),
    _near("Do you do emergency cool outs?", "services", r"emergenc|24|\b2\b"),
    _near("Are you gas safe rich stood?", "services", r"gas safe"),
    _person("Can I speak to a plumber please?"),
    _person("Put me through to the office, please."),
    Question("What's the date today?", "clock", ("{weekday}|{day}",), clock=True, kind="clock"),
)

HOTEL: tuple[Question, ...] = (
    Question("What time is check-in?", "times", (r"\b3\b|three",)),
    Question("When do I have to check out?", "times", (r"\b11\b|eleven",)),
    Question("How much is a double room?", "prices", (r"\b95\b",)),
    Question("How much extra is a sea view?", "prices", (r"\b20\b|twenty",)),
    Question("How much is a family room?", "prices", (r"\b140\b",)),
    Question("Is breakfast included?", "prices", (r"included",), (r"^no\b",)),
    Question("What time is breakfast on Sunday?", "times", (r"\b8\b|\b11\b|eight|eleven",)),
    Question("What time is breakfast during the week?", "times", (r"\b7\b|\b10\b|seven|ten",)),
    Question("Do you have parking?", "policies", (r"\b12\b|\b15\b|car park",), (r"^no\b",)),
    Question("How much is parking?", "prices", (r"\b15\b|fifteen",)),
    Question("Can I bring my dog?", "policies", (r"dog|ground",), (r"^no\b",)),
    Question("Is there a pool?", "facilities", (NOT,), (r"^yes",)),
    Question("Do you have a gym?", "facilities", (NOT,), (r"^yes",)),
    Question("Is there wifi?", "facilities", (r"wi-?fi|free",), (r"^no\b",)),
    Question("What time does the bar close?", "facilities", (r"midnight|\b12\b",)),
    Question("When is dinner served?", "facilities", (r"\b6\b|9:30|six",)),
    Question("What is your cancellation policy?", "policies", (r"\b48\b",)),
    Question("Do you have accessible rooms?", "rooms", (r"accessible|ground floor|wet room",), (r"^no\b",)),
    Question("Can I book a room for Friday night?", "booking", (r"reservations|put you through",), (BOOKED,)),
    Question("Where are you?", "directions", (r"marine parade|seafront",)),
    Question("Is the reception open all night?", "times", (r"\b24\b|twenty.four",)),
    Question("Can you keep our bags after check-out?", "policies", (r"luggage|free|bags",), (r"^no\b",)),
    Question("How many people can stay in a family room?", "rooms", (r"\b4\b|four",), kind="paraphrase"),
    Question("What's the price of a room for two?", "prices", (r"\b95\b",), kind="paraphrase"),
    Question("How do I get to you from the station?", "directions", (r"bus|\b7\b|seven|marine parade",),
             kind="paraphrase"),
    Question("Do you accept pets?", "policies", (r"dog",), kind="paraphrase"),
    Question("Can I cancel for free?", "policies", (r"\b48\b",), kind="paraphrase"),
    _then("How much is a double room?", "And with a sea view?", "prices", r"\b20\b|\b115\b|twenty"),
    _then("What time is check-in?", "And check-out?", "times", r"\b11\b|eleven"),
    _then("Do you have a car park?", "How much is it?", "prices", r"\b15\b|fifteen"),
    _then("What time is breakfast on weekdays?", "And at the weekend?", "times", r"\b8\b|\b11\b|eight|eleven"),
    _then("Do you allow dogs?", "How much does that cost?", "prices", r"\b20\b|twenty"),
    _unknown("Do you have a spa?"),
    _unknown("Is there a laundry service?"),
    _unknown("Do you have electric car chargers?"),
    _unknown("Can you arrange airport taxis?"),
    _unknown("Do you have a cot for a baby?"),
    _near("What time is chick in?", "times", r"\b3\b|three"),
    _near("How much is a dub bull room?", "prices", r"\b95\b"),
    _near("Is there free why fight?", "facilities", r"wi-?fi|free"),
    _near("What time is brake fast on Sunday?", "times", r"\b8\b|\b11\b|eight|eleven"),
    _person("Can I speak to reservations?"),
    _person("I need to talk to someone at the front desk."),
    Question("What time is it now?", "clock", ("{hour}",), clock=True, kind="clock"),
)

SALON: tuple[Question, ...] = (
    Question("Are you open on Monday?", "hours", (r"closed|not open",), (r"^yes",)),
    Question("What time do you close on Thursday?", "hours", (r"\b8\b|eight",)),
    Question("What time do you open on Saturday?", "hours", (r"8:30|half past eight",)),
    Question("How much is a men's cut?", "prices", (r"\b24\b",)),
    Question("How much is a women's cut and blow-dry?", "prices", (r"\b48\b",)),
    Question("How much is a children's haircut?", "prices", (r"\b15\b",)),
    Question("How much are highlights?", "prices", (r"\b85\b",)),
    Question("How much is a full colour?", "prices", (r"\b70\b",)),
    Question("Do I need a patch test?", "services", (r"\b48\b|patch",)),
    Question("Do you do wedding hair?", "services", (r"wedding|trial",), (r"\bno\b",)),
    Question("Do you do nails?", "services", (NOT,), (r"^yes",)),
    Question("Do you take walk-ins?", "policies", (r"welcome|free",), (r"^no\b",)),
    Question("What is your cancellation policy?", "policies", (r"\b24\b|half",)),
    Question("Can I pay by card?", "policies", (r"card",), (r"^no\b",)),
    Question("Where can I park?", "policies", (r"regency|western road|pay and display",)),
    Question("Do you sell gift vouchers?", "policies", (r"voucher|\b20\b",), (r"^no\b",)),
    Question("Can I book a haircut for Friday?", "booking", (r"stylists|put you through",), (BOOKED,)),
    Question("What is your address?", "directions", (r"western road",)),
    Question("Are you open on Sunday?", "hours", (r"closed|not open",), (r"^yes",)),
    Question("Do you do balayage?", "services", (r"balayage|yes",), (r"\bno\b",)),
    Question("How much for a blow-dry on its own?", "prices", (r"\b28\b",), kind="paraphrase"),
    Question("What does a kid's haircut cost?", "prices", (r"\b15\b",), kind="paraphrase"),
    Question("Are you open late any night?", "hours", (r"thursday|friday|\b8\b",), kind="paraphrase"),
    Question("What happens if I miss my appointment?", "policies", (r"half",), kind="paraphrase"),
    Question("Where exactly are you?", "directions", (r"western road|post office",), kind="paraphrase"),
    _then("How much is a men's cut?", "And for a child?", "prices", r"\b15\b"),
    _then("What time do you open on Saturday?", "And when do you close?", "hours", r"\b5\b|five"),
    _then("Do you do highlights?", "How much are they?", "prices", r"\b85\b"),
    _then("Are you open on Tuesday?", "What about Monday?", "hours", r"closed|not open"),
    _then("Do you do colour?", "How much is that?", "prices", r"\b70\b"),
    _unknown("Do you do eyebrow threading?"),
    _unknown("Do you do hair extensions?"),
    _unknown("Do you sell shampoo?"),
    _unknown("Do you do perms?"),
    _unknown("Is there a toilet for customers?"),
    _near("How much is a men's cat?", "prices", r"\b24\b"),
    _near("What time do you clothes on Thursday?", "hours", r"\b8\b|eight"),
    _near("How much are high lights?", "prices", r"\b85\b"),
    _near("Do you take walk ends?", "policies", r"welcome|free"),
    _person("Can I speak to a stylist?"),
    _person("Could you put me through to someone?"),
    Question("What day is it today?", "clock", ("{weekday}",), clock=True, kind="clock"),
)

_HERE = Path(__file__).resolve().parent / "businesses"
BUSINESSES: tuple[Business, ...] = (
    Business("restaurant", example_facts_path(), RESTAURANT),
    Business("vet", _HERE / "vet.toml", VET),
    Business("plumber", _HERE / "plumber.toml", PLUMBER),
    Business("hotel", _HERE / "hotel.toml", HOTEL),
    Business("salon", _HERE / "salon.toml", SALON),
)
"""The businesses of the answers phase, each with its facts file and its callers' questions."""
