"""The webhook receiver the tests deliver to (the demo's, ``agent/tools/receiver.py``)."""

from agent.tools.receiver import Delivery, WebhookReceiver

__all__ = ["Delivery", "WebhookReceiver"]
