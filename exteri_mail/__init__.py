"""exteri-mail: Postfix and Dovecot driven by a PostgreSQL registry."""

__version__ = "0.1.0"
