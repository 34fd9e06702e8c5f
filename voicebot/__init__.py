"""voicebot: an open, self-hosted, speech-enabled self-service IVR."""

__version__ = "0.1.0"
