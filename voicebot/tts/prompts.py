"""What a flow can say before any call starts: static prompt texts to pre-render, recorded WAVs to load.

A prompt is *static* when its template has no placeholders, so its audio is the same on every call and
can be synthesized once at deployment (``PromptCache.build(static_prompts(flow))``). Recorded prompts
(``play:``) are converted to the phone's 8 kHz once, at load time, never per call.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from voicebot.audio.pcm import PHONE_RATE, Pcm, read_wav
from voicebot.audio.resample import resample
from voicebot.flow.compile import CompiledFlow
from voicebot.flow.interpret import menu_is_static, menu_text
from voicebot.flow.schema import AskNode, Flow, HandoffNode, HangupNode, MenuNode, SayNode, prompt_list


def static_prompts(flow: CompiledFlow) -> list[str]:
    """Every text without variables that ``flow`` (and its subflows) can say, as the engine says it.

    Texts are rendered (``{{`` becomes ``{``), de-duplicated and in flow order. Argument templates and
    handoff reasons are left out: they are never spoken.
    """
    texts: list[str] = []
    for spec in flow.flows.values():
        texts += _node_prompts(flow, spec)
        if any(isinstance(node, (AskNode, MenuNode)) for node in spec.nodes.values()):
            texts += _settings_prompts(spec)
    # The error apology always comes from the root flow's settings, whichever flow failed.
    texts.append(flow.flows[flow.root].settings.on_error.prompt)
    rendered = (_render_static(flow, text) for text in texts)
    return list(dict.fromkeys(text for text in rendered if text))


def _node_prompts(flow: CompiledFlow, spec: Flow) -> list[str]:
    texts: list[str] = []
    for node in spec.nodes.values():
        if isinstance(node, (SayNode, HandoffNode, HangupNode)):
            # A say node's prompt beside a play file is its fallback text, spoken when the file cannot be.
            texts += prompt_list(node.prompt)
        elif isinstance(node, (AskNode, MenuNode)):
            texts += prompt_list(node.prompt) + prompt_list(node.no_input) + prompt_list(node.no_match)
            texts += [node.help] if node.help else []
            if isinstance(node, MenuNode):
                menu = static_menu_text(flow, node)
                texts += [menu] if menu else []
    return texts


def _settings_prompts(spec: Flow) -> list[str]:
    settings = spec.settings
    return [
        settings.confirm.prompt,  # "{value}": never static, but left to the template check like the rest
        settings.confirm.retry_prompt,
        settings.confirm.secure_prompt,
        settings.help,
        *prompt_list(settings.no_input),
        *prompt_list(settings.no_match),
    ]


def _render_static(flow: CompiledFlow, source: str) -> str | None:
    template = flow.template(source)
    return template.render({}) if template.is_static else None


def static_menu_text(flow: CompiledFlow, node: MenuNode) -> str | None:
    """The options sentence the engine adds to a menu, or None when a label or word has variables."""
    if not menu_is_static(flow, node):
        return None
    return menu_text(flow, node, lambda source: flow.template(source).render({}))


def recorded_prompts(flow: CompiledFlow) -> list[Path]:
    """The WAV files of every ``play:`` in ``flow`` and its subflows, relative to each one's flow file."""
    found: list[Path] = []
    for name, spec in flow.flows.items():
        folder = flow.paths[name].parent
        found += [folder / node.play for node in spec.nodes.values() if isinstance(node, SayNode) and node.play]
    return list(dict.fromkeys(found))


def load_recorded(path: Path, rate: int = PHONE_RATE) -> Pcm:
    """A recorded prompt as mono PCM at ``rate``: 16-bit WAV, mono or stereo, at any sample rate.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and its format
    for anything else (8/24-bit, float, compressed, more than two channels).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"recorded prompt {path} not found")
    pcm, native = read_wav(path)
    return resample(pcm, native, rate) if native != rate else pcm


def load_all_recorded(paths: Iterable[Path], rate: int = PHONE_RATE) -> dict[Path, Pcm]:
    """Every recorded prompt of a flow, loaded once at start-up."""
    return {path: load_recorded(path, rate) for path in paths}
