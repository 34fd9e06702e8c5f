"""Telephone audio: PCM helpers, G.711, resampling, voice activity detection and endpointing.

Inside voicebot, PCM is always a 1-D ``numpy.ndarray`` of dtype int16, mono (see :mod:`voicebot.audio.pcm`).
Nothing is re-exported here on purpose: importing :mod:`voicebot.audio.pcm` must not pull in the native
adapters (soxr in :mod:`~voicebot.audio.resample`, webrtcvad in :mod:`~voicebot.audio.vad`).
"""
