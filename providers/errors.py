"""The provider error tree: every error carries one sentence a person can act on."""

from __future__ import annotations

__all__ = [
    "AuthenticationFailed",
    "BadReply",
    "InvalidInput",
    "NotAllowedNow",
    "ProviderError",
    "RateLimited",
    "TimedOut",
    "TransferNotFound",
    "Unavailable",
    "Unsupported",
    "WrongAccount",
]


class ProviderError(Exception):
    """Something a provider account could not do, said in plain words.

    ``message`` is what a user reads: one sentence about what went wrong and, where it
    helps, what to do next. It never contains a secret. ``transient`` errors may go away
    by themselves (a read may be retried); ``maybe_applied`` is set when an action's
    request may have reached the provider although no answer came back, so its outcome
    is unknown and it must not be repeated automatically.
    """

    transient: bool = False
    default_message = "The provider could not do that."

    def __init__(
        self,
        message: str | None = None,
        *,
        account: str | None = None,
        detail: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        self.message = message or self.default_message
        self.account = account
        self.detail = detail  # the provider's own words, for the card; never a secret
        self.maybe_applied = maybe_applied
        super().__init__(self.message)

    @property
    def kind(self) -> str:
        """A short stable name for metrics and logs, e.g. ``rate_limited``."""
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def __str__(self) -> str:
        return self.message


class AuthenticationFailed(ProviderError):
    default_message = "The provider refused our credentials; check the account's API key or token."


class TransferNotFound(ProviderError):
    default_message = "The provider has no such transfer; check the reference and the account."


class WrongAccount(ProviderError):
    default_message = (
        "That transfer belongs to another account at the provider; "
        "watch it under the account that owns it."
    )


class NotAllowedNow(ProviderError):
    default_message = "The transfer's current state does not allow that action."


class Unsupported(ProviderError):
    default_message = "This provider does not offer that action."


class InvalidInput(ProviderError):
    default_message = "A value given for the action is not valid."


class RateLimited(ProviderError):
    transient = True
    default_message = "The provider is rate limiting us; try again in a minute."

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kwargs: object
    ) -> None:
        self.retry_after = retry_after
        if message is None and retry_after is not None:
            message = (
                f"The provider is rate limiting us; try again in {max(1, round(retry_after))} s."
            )
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class Unavailable(ProviderError):
    transient = True
    default_message = "The provider is unavailable right now; try again in a few minutes."


class TimedOut(Unavailable):
    default_message = "The provider did not answer in time; try again in a few minutes."


class BadReply(ProviderError):
    transient = True
    default_message = (
        "The provider sent a reply we could not understand; nothing was changed on our side."
    )
