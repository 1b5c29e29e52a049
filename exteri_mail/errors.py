"""The domain's exceptions; the CLI maps each class to an exit status."""


class ExteriError(Exception):
    """A failure the operator can act on; its text is one line for stderr."""

    exit_code = 1


class InvalidInput(ExteriError):
    """A value given by the operator breaks a rule of the registry."""


class NotFound(ExteriError):
    """The named account, address or request does not exist."""


class Conflict(ExteriError):
    """The change clashes with the registry's state (taken, retired...)."""


class RegistryUnavailable(ExteriError):
    """PostgreSQL cannot be reached or refused the connection."""


class ServerError(ExteriError):
    """A daemon, its configuration or its tooling failed."""
