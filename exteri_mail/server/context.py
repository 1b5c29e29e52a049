"""The data the templates print, normalised from Settings in one place."""

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..dns import helpers as deliverability  # issue 6
from ..errors import InvalidInput
from ..settings import Settings
from ..values import WILDCARD_ADDRESSES
from . import queries

HEADER = "managed by exteri-mail: edits are overwritten by `exteri-mail server apply`"
ROLE_LOCAL_PARTS = ("postmaster", "abuse")


def _database(mail_dsn: str) -> dict:
    try:
        info = conninfo_to_dict(mail_dsn)
    except Exception as exc:  # psycopg raises ProgrammingError subclasses
        raise InvalidInput(f"mail_dsn is not a valid PostgreSQL DSN: {exc}") from None
    missing = [k for k in ("host", "dbname", "user", "password") if not info.get(k)]
    if missing:
        raise InvalidInput(f"mail_dsn lacks {', '.join(missing)}")
    port = info.get("port", "5432")
    return {
        "hosts": f"inet:{info['host']}:{port}",
        "dbname": info["dbname"],
        "user": info["user"],
        "password": info["password"],
        "dovecot_connect": make_conninfo(
            host=info["host"],
            port=port,
            dbname=info["dbname"],
            user=info["user"],
            password=info["password"],
        ),
    }


def role_aliases(s: Settings) -> list[tuple[str, str]]:
    """postmaster@, abuse@ and the support address of every domain."""
    local_parts = (*ROLE_LOCAL_PARTS, s.support_local_part)
    return [
        (f"{lp}@{domain}", s.operators) for domain in s.domains for lp in local_parts
    ]


def build(s: Settings) -> dict:
    ipv6 = any(":" in address for address in s.listen)
    vmail = s.path("vmail_dir")
    return {
        "header": HEADER,
        "hostname": s.hostname,
        "primary_domain": s.primary_domain,
        "alias_domain": s.alias_domain,
        "listen": s.listen,
        # Postfix takes interface addresses only: a wildcard is spelt "all".
        "inet_interfaces": (
            "all"
            if WILDCARD_ADDRESSES.intersection(s.listen)
            else ", ".join(s.listen)
        ),
        "inet_protocols": "all" if ipv6 else "ipv4",
        "mynetworks": ["127.0.0.1/32", *(["[::1]/128"] if ipv6 else [])],
        "ports": s.ports,
        "relay": s.relay and _relayhost(s.relay),
        "mailstore": mailstore(s),
        "role_aliases": role_aliases(s),
        "db": _database(s.mail_dsn),
        "postfix_dir": s.path("postfix_dir"),
        "queue_dir": s.path("postfix_queue_dir"),
        "data_dir": s.path("postfix_data_dir"),
        "dovecot_dir": s.path("dovecot_dir"),
        "dovecot_run_dir": s.path("dovecot_run_dir"),
        "dovecot_state_dir": s.path("dovecot_state_dir"),
        "instance_name": f"exteri-{s.state_dir.name}" if s.instance else "dovecot",
        "log_dir": s.path("log_dir"),
        "tls_cert": s.path("tls_cert"),
        "tls_key": s.path("tls_key"),
        "vmail_user": s.vmail_user,
        "message_size_limit": 50 * 1024 * 1024,
        # SRS and DKIM (issue 6).
        "deliverability": deliverability.postfix_data(s),
        "queries": {
            **queries.POSTFIX_MAPS,
            "password": queries.DOVECOT_PASSWORD,
            "user": queries.DOVECOT_USER.replace("{vmail}", str(vmail)),
            "iterate": queries.DOVECOT_ITERATE,
        },
    }


def mailstore(s: Settings) -> dict:
    """Where this host's Postfix reaches Dovecot, and what Dovecot opens
    for MX hosts elsewhere (see settings.Mailstore)."""
    host, ports = s.mailstore.host, s.ports
    if host is None:
        lmtp, auth, policy = "unix:private/dovecot-lmtp", "private/auth", "127.0.0.1"
    else:
        # Postfix wants an IPv6 address in brackets; a name works as is.
        policy = f"[{host}]" if ":" in host else host
        lmtp, auth = f"inet:[{host.strip('[]')}]:{ports.lmtp}", f"inet:{policy}:{ports.auth}"
    return {
        "postfix_local": s.runs_mx,
        "lmtp": lmtp,
        "auth": auth,
        "policy": f"inet:{policy}:{ports.quota_status}",
        "listen": s.mailstore.listen,
        "policy_listen": list(dict.fromkeys(["127.0.0.1", *s.mailstore.listen])),
    }


def _relayhost(relay: str) -> str:
    host, _, port = relay.rpartition(":")
    return f"[{host.strip('[]')}]:{port}"
