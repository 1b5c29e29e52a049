"""Settings of one exteri-mail installation: a TOML file, then environment.

Lookup order for the file: --config, $EXTERI_MAIL_CONFIG, then the first
of DEFAULT_PATHS that exists. Environment variables (EXTERI_MAIL_*, nested
with __) override the file; command-line flags override both.
"""

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .dns import config as dns_config  # issue 6
from .dns.config import Deliverability  # issue 6
from .errors import InvalidInput
from .values import Address, DomainName, Port, is_host_name

DEFAULT_STATE_DIR = Path("/var/lib/exteri-mail")
DEFAULT_PATHS = (
    Path("/etc/exteri-mail/exteri-mail.toml"),
    DEFAULT_STATE_DIR / "exteri-mail.toml",
)


class Ports(BaseModel):
    smtp: Port = 25
    submission: Port = 587
    submissions: Port = 465
    imap: Port = 143
    imaps: Port = 993
    pop3: Port = 110
    pop3s: Port = 995
    quota_status: Port = 10031
    # Dovecot's LMTP and auth on TCP: only opened for MX hosts elsewhere
    # (mailstore.listen); one host uses Unix sockets.
    lmtp: Port = 24
    auth: Port = 10033
    from_check: Port = 10034
    webmail: Port = 8443
    web: Port = 8080


def _host(value: str) -> str:
    """An IP address (brackets allowed) or a host name, as Postfix and
    Roundcube are given it: without brackets, lower case."""
    text = value.strip().lower()
    try:
        return str(ipaddress.ip_address(text.removeprefix("[").removesuffix("]")))
    except ValueError:
        pass
    if not is_host_name(text):
        raise ValueError(f"{value!r} is neither an IP address nor a host name")
    return text.rstrip(".")


class Mailstore(BaseModel):
    """How Postfix reaches Dovecot: LMTP delivery, SASL logins, quota policy.

    On one host they meet on Unix sockets in Postfix's queue and the quota
    policy on 127.0.0.1. When Postfix and Dovecot run on different hosts,
    each MX host sets `host` to the Dovecot host's private address and the
    Dovecot host sets `listen` to that address: Dovecot then also takes
    LMTP, auth and quota-status on TCP there (ports.lmtp, ports.auth,
    ports.quota_status). Those three carry passwords and mail in clear, so
    they belong on a private network that only the MX hosts reach.
    """

    host: Annotated[str, AfterValidator(_host)] | None = None
    listen: list[Address] = Field(default_factory=list)
    # The name mail clients and the webmail reach Dovecot by when it runs on
    # another host (its certificate carries it), and that name's public
    # addresses for `dns records`; None: hostname, Dovecot is here.
    name: Annotated[str, AfterValidator(_host)] | None = None
    addresses: list[Address] = Field(default_factory=list)


# nginx serves the webmail and the MTA-STS policy by name: one port can do both.
SHARED_PORTS = {"ports.webmail", "deliverability.mta_sts_port"}


# --- Account requests and the web application (issue 7) -------------------
class Web(BaseModel):
    """The request form, setup pages and autoconfiguration (`exteri-mail web`).

    The app listens on listen[0]:ports.web unless `exteri-mail web --listen`
    says otherwise; links in the messages it sends start with public_url.
    """

    # Where links in messages point, e.g. https://mail.esteri.org/account;
    # None: the loopback address the app itself listens on.
    public_url: str | None = None
    # Signs sessions and CSRF tokens; None: a random key per process, so
    # set it when several processes serve the app.
    secret_key: str | None = None
    # Proxies in front of the app whose X-Forwarded-For is trusted.
    proxy_hops: int = 0
    # Outgoing mail of the app: the local Postfix unless told otherwise.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    # Sender of the app's messages; None: the support address.
    sender: str | None = None
    confirm_hours: int = Field(default=48, gt=0)
    setup_days: int = Field(default=14, gt=0)
    # Requests accepted per client per hour and per forward address per day.
    rate_per_client: int = Field(default=5, gt=0)
    rate_per_address: int = Field(default=3, gt=0)
    webmail_url: str | None = None


# --- end of issue 7 block ---------------------------------------------------


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXTERI_MAIL_", env_nested_delimiter="__", extra="forbid"
    )

    hostname: DomainName = "mail.esteri.org"
    primary_domain: DomainName = "esteri.org"
    alias_domain: DomainName = "exteri.it"
    # Where postmaster@, abuse@ and the support address of every domain go.
    operators: str = "operatori@ext.test"
    support_local_part: str = "assistenza"

    dsn: str = "postgresql://exterimail_admin@127.0.0.1/exterimail"
    mail_dsn: str = "postgresql://exterimail_mail@127.0.0.1/exterimail"

    state_dir: Path = DEFAULT_STATE_DIR
    # Paths default to folders of state_dir (see Settings.path); a deployed
    # server sets them to the system ones (/etc/postfix, /var/spool/postfix...).
    postfix_dir: Path | None = None
    postfix_queue_dir: Path | None = None
    postfix_data_dir: Path | None = None
    dovecot_dir: Path | None = None
    dovecot_run_dir: Path | None = None
    dovecot_state_dir: Path | None = None
    log_dir: Path | None = None
    vmail_dir: Path | None = None
    vmail_user: str = "vmail"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    listen: list[Address] = Field(default_factory=lambda: ["127.0.0.1"])
    ports: Ports = Field(default_factory=Ports)
    relay: str | None = None
    # SRS, DKIM and DNS records (issue 6).
    deliverability: Deliverability = Field(default_factory=Deliverability)
    # The stand-alone instance runs its own Postfix/Dovecot config trees;
    # a deployed server (Ansible) uses the system ones and the system queue.
    instance: bool = True
    # Accept forwards to reserved test domains (ext.test): lab instances only.
    test_domains: bool = False
    # Account requests and the web application (issue 7).
    web: Web = Field(default_factory=Web)
    # What this host runs: "mx" (Postfix and its helpers), "imap" (Dovecot);
    # neither on a host that only keeps the registry or serves the webmail.
    runs: list[Literal["mx", "imap"]] = Field(default_factory=lambda: ["mx", "imap"])
    mailstore: Mailstore = Field(default_factory=Mailstore)

    @field_validator("relay")
    @classmethod
    def _relay(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, sep, port = value.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"relay {value!r} must be HOST:PORT, port 1-65535")
        return value.strip()

    @model_validator(mode="after")
    def _split(self) -> "Settings":
        store = self.mailstore
        if self.runs_mx and not self.runs_imap and store.host is None:
            raise ValueError(
                "runs has no imap: set mailstore.host to the Dovecot host's address"
            )
        for name in ("host", "name"):
            if self.runs_imap and getattr(store, name) is not None:
                raise ValueError(
                    f"mailstore.{name} is for MX hosts without Dovecot, and runs "
                    "has imap"
                )
        if store.listen and not self.runs_imap:
            raise ValueError(
                f"mailstore.listen {store.listen} is for the Dovecot host, and runs "
                "has no imap"
            )
        if self.runs_imap and not self.runs_mx and not store.listen:
            raise ValueError(
                "runs has no mx: set mailstore.listen to the address the MX hosts "
                "reach Dovecot on"
            )
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> "Settings":
        """Every port this installation opens is its own, and a helper's
        port moved with ports.smtp stays a port."""
        seen: dict[int, str] = {}
        for name, number in self._all_ports():
            if not 0 < number < 65536:
                raise ValueError(
                    f"{name} would be {number} (moved like ports.smtp): set it "
                    "to a port 1-65535"
                )
            other = seen.setdefault(number, name)
            if other != name and {other, name} != SHARED_PORTS:
                raise ValueError(
                    f"{other} and {name} are both {number}: each needs its own port"
                )
        return self

    def _all_ports(self) -> list[tuple[str, int]]:
        helpers = [
            (f"deliverability.{name}", dns_config.port(self, name))
            for name in dns_config.STANDARD_PORTS
        ]
        own = [(f"ports.{name}", n) for name, n in self.ports.model_dump().items()]
        return own + helpers

    @property
    def imap_hostname(self) -> str:
        """The name IMAP and POP3 clients connect to."""
        return self.mailstore.name or self.hostname

    @property
    def runs_mx(self) -> bool:
        return "mx" in self.runs

    @property
    def runs_imap(self) -> bool:
        return "imap" in self.runs

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                   dotenv_settings, file_secret_settings):
        # The environment beats the TOML file, which is passed in as init.
        return env_settings, init_settings

    @property
    def domains(self) -> tuple[str, str]:
        return self.primary_domain, self.alias_domain

    def path(self, name: str) -> Path:
        """Instance paths default to folders of the state directory."""
        explicit = getattr(self, name)
        if explicit is not None:
            return Path(explicit)
        defaults = {
            "postfix_dir": "postfix",
            "postfix_queue_dir": "spool/postfix",
            "postfix_data_dir": "lib/postfix",
            "dovecot_dir": "dovecot",
            "dovecot_run_dir": "run/dovecot",
            "dovecot_state_dir": "lib/dovecot",
            "log_dir": "log",
            "vmail_dir": "vmail",
            "tls_cert": "tls/cert.pem",
            "tls_key": "tls/key.pem",
        }
        return self.state_dir / defaults[name]


def first_error(exc: ValidationError) -> str:
    """One line for the operator out of pydantic's report."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, (str, int, float)) and str(value) not in message:
        message = f"{message}, not {value!r}"
    return message if where in message else f"{where}: {message}"


def find_config(explicit: str | os.PathLike | None = None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise InvalidInput(f"config file not found: {path}")
        return path
    env = os.environ.get("EXTERI_MAIL_CONFIG")
    if env is not None:
        # Set but empty means "no file": defaults and environment only.
        return find_config(env) if env else None
    return next((p for p in DEFAULT_PATHS if p.is_file()), None)


def load(config: str | os.PathLike | None = None, **overrides) -> Settings:
    path = find_config(config)
    data: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"config file {path} is not valid TOML: {exc}") from None
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise InvalidInput(f"config {path or '(defaults)'}: {first_error(exc)}") from None
    updates = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


def dump(settings: Settings, path: Path) -> None:
    """Write SETTINGS as TOML, readable by root only (it holds DSNs)."""
    import tomli_w

    data = settings.model_dump(mode="json", exclude_none=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(tomli_w.dumps(data))
    tmp.replace(path)
