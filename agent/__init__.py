"""sip-agent: a self-hosted SIP/RTP voice agent."""

__version__ = "0.1.0"
