"""What every command needs: settings and one registry transaction."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import db
from ..accounts import Registry
from ..audit import current_operator
from ..settings import Settings, load


@dataclass
class AppContext:
    config: str | None = None
    dsn: str | None = None
    operator: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load(self.config, dsn=self.dsn)
        return self._settings

    @contextmanager
    def registry(self) -> Iterator[Registry]:
        s = self.settings
        with db.transaction(s.dsn) as conn:
            yield Registry(
                conn,
                s.primary_domain,
                s.alias_domain,
                current_operator(self.operator),
                test_domains=s.test_domains,
            )
