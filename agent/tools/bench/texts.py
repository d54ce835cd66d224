"""What the benchmark says and hears: reply texts of three lengths, caller utterances."""

from __future__ import annotations

from pathlib import Path

__all__ = ["INTERRUPTION", "REPLIES", "UTTERANCES", "QUESTIONS", "TRIGGERS", "write_script", "words"]

_SHORT = [
    "Sure, I can do that.",
    "Your order has shipped.",
    "The office opens at nine.",
    "Yes, that is correct.",
    "Please hold for a moment.",
]
_SENTENCES = [
    "Thank you for calling the support line, and I am happy to help you today.",
    "Your account shows two open orders, and both of them are on their way to you now.",
    "The first parcel left our warehouse yesterday morning, so it should arrive tomorrow.",
    "The second one is waiting for a part, which we expect to receive by the end of the week.",
    "If you would like, I can send you a text message with the tracking numbers for both.",
    "You can also change the delivery address until the parcel reaches your local depot.",
    "Our opening hours are from nine in the morning until six in the evening, Monday to Friday.",
    "On Saturdays the shop is open until noon, and it is closed on Sundays and public holidays.",
    "If anything arrives damaged, keep the packaging and call us within fourteen days.",
    "We will then collect the item from your home at no cost and send you a replacement.",
    "Payments can be made by card, by bank transfer, or in cash when you collect an order.",
    "Refunds usually reach your account within three to five working days after we approve them.",
    "For questions about an invoice, please have the invoice number ready when you call.",
    "You will find it in the top right corner of the first page, just below our logo.",
    "Is there anything else I can help you with today, or would you like me to repeat that?",
]


def words(text: str) -> int:
    return len(text.split())


def _compose(target_words: int, offset: int) -> str:
    parts: list[str] = []
    i = offset
    while sum(words(p) for p in parts) < target_words - 8:
        parts.append(_SENTENCES[i % len(_SENTENCES)])
        i += 1
    return " ".join(parts)


REPLIES: dict[str, list[str]] = {
    "short": _SHORT,
    "medium": [_compose(30, 2 * k) for k in range(5)],
    "long": [_compose(150, 3 * k) for k in range(5)],
}
"""Five different replies of about 5, 30 and 150 words."""

TRIGGERS = {"short": "Please give me a short answer.", "medium": "Give me a medium sized answer please.",
            "long": "Please give me a long answer."}
"""What the caller says to get a reply of each length (the script matches the key word)."""
PATTERNS = {"short": r"\bshort\b", "medium": r"\b(middle|medium)\b", "long": r"\blong\b"}

UTTERANCES: dict[str, list[str]] = {
    "short": ["What is the weather like today?", "Can you tell me the time please?",
              "I would like to check my order."],
    "medium": [" ".join(_SENTENCES[k : k + 2]) for k in (0, 4, 8)],
    "long": [" ".join(_SENTENCES[k : k + 6]) for k in (0, 5, 9)],
}
"""Caller utterances of about 2, 10 and 30 seconds (sentences spoken without a long pause)."""

INTERRUPTION = "Stop, stop, wait a moment, I have another question for you."
"""What the caller says over the agent's long reply in the barge-in phase."""

QUESTIONS = [
    "What is the capital of France?",
    "How are you today?",
    "Can you help me with my order?",
    "What time do you open tomorrow?",
    "Where is the nearest train station?",
    "What is the weather like today?",
    "Can I speak to someone please?",
    "How much does the delivery cost?",
    "Do you have any apples?",
    "What is your name?",
    "Can you repeat that please?",
    "Tell me something interesting.",
]
"""Questions for the voice-to-voice turns with the LLM."""


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join('"' + t.replace('"', '\\"') + '"' for t in items) + "]"


def write_script(path: Path) -> Path:
    """A scripted-brain TOML whose rules answer 'short', 'medium' and 'long' in turn."""
    rules = [f"[[rule]]\npattern = '{PATTERNS[kind]}'\nreplies = {_toml_list(texts)}\n"
             for kind, texts in REPLIES.items()]
    path.write_text('fallback = "I heard you."\n\n' + "\n".join(rules), encoding="utf-8")
    return path
