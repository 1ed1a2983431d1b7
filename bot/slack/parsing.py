"""The ``/transfer`` text parser: forgiving about how it is typed, one sentence when it is wrong."""

from __future__ import annotations

import difflib
import enum
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from providers.base import Action, Phase, parse_action
from providers.settings import PROVIDER_TYPES

__all__ = [
    "MAX_COMMAND_LENGTH",
    "Command",
    "CommandError",
    "Verb",
    "parse_command",
]

logger = logging.getLogger(__name__)

MAX_COMMAND_LENGTH = 500
MAX_PAGE = 10_000

_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_REF = re.compile(r"^[\w][\w.:/@+-]{0,252}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([^\W_]([\w-]{0,61}[^\W_])?\.)+[^\W\d_][\w-]{0,62}$")
_SLACK_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_QUOTES = "`'\"\u201c\u201d\u2018\u2019"  # straight, back and curly quotes
_TRAILING = ".,;:!?"

_Parser = Callable[[str, list[str], str], "Command"]


class Verb(enum.StrEnum):
    """What a ``/transfer`` command asks for; ``ACT`` carries an :class:`Action`."""

    HELP = "help"
    STATUS = "status"
    HISTORY = "history"
    LIST = "list"
    WATCH = "watch"
    UNWATCH = "unwatch"
    SYNC = "sync"
    MINE = "mine"
    ACT = "act"


_VERB_WORDS = {
    "help": Verb.HELP,
    "?": Verb.HELP,
    "status": Verb.STATUS,
    "show": Verb.STATUS,
    "history": Verb.HISTORY,
    "audit": Verb.HISTORY,
    "list": Verb.LIST,
    "ls": Verb.LIST,
    "watch": Verb.WATCH,
    "track": Verb.WATCH,
    "unwatch": Verb.UNWATCH,
    "untrack": Verb.UNWATCH,
    "sync": Verb.SYNC,
    "mine": Verb.MINE,
}
# What difflib may suggest for a typo: our words and the provider verbs.
_KNOWN_WORDS = (
    *(verb.value for verb in Verb if verb is not Verb.ACT),
    *(action.value for action in Action),
    "abort",
    "reset",
    "resubmit",
    "relaunch",
    "start",
    "send_password",
    "foa",
)


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed ``/transfer`` command."""

    verb: Verb
    ref: str | None = None
    account: str | None = None
    provider: str | None = None  # list filter: a provider type
    phase: Phase | None = None  # list filter
    page: int = 1
    action: Action | None = None  # set when verb is ACT
    word: str = ""  # the word the user typed for the verb, lower-cased ("reset", "list")


class CommandError(ValueError):
    """A command we can't run; ``message`` is one plain sentence for the person who typed it."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def parse_command(text: str, *, command: str = "/transfer") -> Command:
    """Parse the text after ``/transfer``; raise CommandError with one sentence when it's wrong.

    Args:
        text: what Slack sent as the command's ``text``.
        command: the slash command's name, for the sentences.
    """
    if len(text) > MAX_COMMAND_LENGTH:
        raise CommandError(
            f"That is too long for `{command}` ({len(text)} characters, at most "
            f"{MAX_COMMAND_LENGTH}); try `{command} help`."
        )
    words = _words(text)
    if not words:
        return Command(Verb.HELP, word="help")
    first, args = words[0].lower(), words[1:]
    verb = _VERB_WORDS.get(first)
    if verb is not None:
        return _PARSERS[verb](first, args, command)
    action = parse_action(first)
    if action is not None:
        ref = _one_ref(first, args, command, secret_hint=True)
        return Command(Verb.ACT, ref=ref, action=action, word=first)
    if not args and _DOMAIN.match(words[0]):  # "/transfer example.com" means its status
        return Command(Verb.STATUS, ref=words[0].lower(), word="status")
    raise CommandError(_unknown_verb(first, command))


def _words(text: str) -> list[str]:
    """Split the text into words, undoing Slack's escaping and auto-links."""
    text = _SLACK_LINK.sub(_link_text, text)
    text = html.unescape(text)
    words = []
    for raw in text.split():
        word = raw.strip(_QUOTES).rstrip(_TRAILING).strip(_QUOTES)
        if word:
            words.append(word)
    return words


def _link_text(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if label:
        return label
    for prefix in ("mailto:", "http://", "https://"):
        if target.lower().startswith(prefix):
            return target[len(prefix) :].rstrip("/")
    return target


def _quote(word: str) -> str:
    """A user's word, safe to echo in a sentence: short, no Slack markup."""
    cleaned = "".join(ch for ch in word if ch.isprintable())
    cleaned = re.sub(r"[`<>&*_~\s]", "", cleaned)
    return cleaned if len(cleaned) <= 30 else cleaned[:29] + "…"


def _unknown_verb(word: str, command: str) -> str:
    close = difflib.get_close_matches(word, _KNOWN_WORDS, n=1, cutoff=0.6)
    shown = _quote(word)
    if close:
        return (
            f"`{command} {shown}` isn't a command; try `{command} {close[0]}` or `{command} help`."
        )
    return f"`{command} {shown}` isn't a command; try `{command} help`."


def _clean_ref(word: str, command: str, verb: str) -> str:
    if not _REF.match(word):
        raise CommandError(
            f"`{_quote(word)}` doesn't look like a transfer reference; give `{command} {verb}` "
            f"a domain, a provider id or the bot's short id (like `t-4k7q`)."
        )
    return word.lower() if _DOMAIN.match(word) else word


def _one_ref(verb: str, args: list[str], command: str, *, secret_hint: bool = False) -> str:
    example = f"`{command} {verb} example.com`"
    if not args:
        raise CommandError(
            f"`{command} {verb}` needs a transfer: a domain, a provider id or the bot's "
            f"short id, e.g. {example}."
        )
    if len(args) > 1:
        # Never echo the extra words: someone may have typed a secret after the ref.
        if secret_hint:
            raise CommandError(
                f"`{command} {verb}` takes just one transfer, e.g. {example}; values such as "
                f"a new authInfo are asked for in a private form after you run it."
            )
        raise CommandError(f"`{command} {verb}` takes just one transfer, e.g. {example}.")
    return _clean_ref(args[0], command, verb)


def _parse_help(word: str, args: list[str], command: str) -> Command:
    return Command(Verb.HELP, word=word)


def _parse_ref_verb(verb: Verb) -> _Parser:
    def parse(word: str, args: list[str], command: str) -> Command:
        return Command(verb, ref=_one_ref(word, args, command), word=word)

    return parse


def _parse_watch(word: str, args: list[str], command: str) -> Command:
    if len(args) != 2:
        raise CommandError(
            f"`{command} {word}` needs a provider account and a transfer, "
            f"e.g. `{command} {word} hostway-main example.com`."
        )
    account = _clean_account(args[0], command, word)
    return Command(Verb.WATCH, ref=_clean_ref(args[1], command, word), account=account, word=word)


def _parse_mine(word: str, args: list[str], command: str) -> Command:
    if args:
        raise CommandError(f"`{command} {word}` takes nothing more; it lists what you own.")
    return Command(Verb.MINE, word=word)


def _parse_sync(word: str, args: list[str], command: str) -> Command:
    if len(args) > 1:
        raise CommandError(
            f"`{command} {word}` takes at most one provider account, "
            f"e.g. `{command} {word}` or `{command} {word} opensrs-main`."
        )
    account = _clean_account(args[0], command, word) if args else None
    return Command(Verb.SYNC, account=account, word=word)


def _clean_account(word: str, command: str, verb: str) -> str:
    account = word.lower()
    if not _ACCOUNT.match(account):
        raise CommandError(
            f"`{_quote(word)}` isn't a provider account name; `{command} {verb}` wants the "
            f"account's short name as configured, like `hostway-main`."
        )
    return account


def _parse_list(word: str, args: list[str], command: str) -> Command:
    provider: str | None = None
    phase: Phase | None = None
    page = 1
    rest = [arg.lower() for arg in args]
    while rest:
        arg = rest.pop(0)
        if arg.startswith("page"):
            number = arg[4:].lstrip(":=#") or (rest.pop(0) if rest else "")
            page = _page_number(number, command)
        elif arg in PROVIDER_TYPES:
            if provider is not None and provider != arg:
                raise CommandError(
                    f"`{command} list` shows one provider at a time; "
                    f"try `{command} list {provider}` or `{command} list {arg}`."
                )
            provider = arg
        elif _phase_of(arg) is not None:
            if phase is not None and phase != _phase_of(arg):
                raise CommandError(
                    f"`{command} list` shows one phase at a time; "
                    f"try `{command} list {phase.value}`."
                )
            phase = _phase_of(arg)
        else:
            raise CommandError(
                f"`{command} list` takes a provider ({', '.join(PROVIDER_TYPES)}), a phase "
                f"({', '.join(p.value for p in Phase)}) and `page N`, in any order; "
                f"`{_quote(arg)}` is none of those."
            )
    return Command(Verb.LIST, provider=provider, phase=phase, page=page, word=word)


def _phase_of(word: str) -> Phase | None:
    word = {"canceled": "cancelled", "done": "completed", "stuck": "blocked"}.get(word, word)
    try:
        return Phase(word)
    except ValueError:
        return None


def _page_number(text: str, command: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise CommandError(
            f"A page is a number from 1 to {MAX_PAGE}, e.g. `{command} list page 2`."
        )
    return int(text)


_PARSERS: dict[Verb, _Parser] = {
    Verb.HELP: _parse_help,
    Verb.STATUS: _parse_ref_verb(Verb.STATUS),
    Verb.UNWATCH: _parse_ref_verb(Verb.UNWATCH),
    Verb.HISTORY: _parse_ref_verb(Verb.HISTORY),
    Verb.LIST: _parse_list,
    Verb.WATCH: _parse_watch,
    Verb.SYNC: _parse_sync,
    Verb.MINE: _parse_mine,
}
