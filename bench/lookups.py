"""Lookup latency of the queries Postfix and Dovecot run, at several sizes.

The SQL timings run the daemons' exact query text (exteri_mail.server.
queries) over one persistent connection as the mail role, as proxymap and
Dovecot's auth process do. postmap and doveadm go through the real maps
and auth service; they start a process per call, so they are reported
beside the SQL figures, not instead of them.
"""

import random
import statistics
import subprocess
import time

import people

from exteri_mail.server import queries

SEQ_SCAN_TABLES = ("accounts", "addresses")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def sample_keys(instance, count: int, seed: int) -> list[tuple[str, str]]:
    """(local part, domain): mostly existing addresses, some alias, some unknown."""
    with instance.connect() as conn:
        rows = conn.execute(
            "SELECT local_part FROM addresses ORDER BY md5(local_part || %s) LIMIT %s",
            (str(seed), count),
        ).fetchall()
    rng = random.Random(seed)
    primary, alias = instance.settings.primary_domain, instance.settings.alias_domain
    keys = []
    for (local,) in rows:
        roll = rng.random()
        if roll < 0.1:
            local = "".join(rng.choice("abcdefghij") for _ in range(8)) + ".nessuno"
        keys.append((local, alias if 0.1 <= roll < 0.2 else primary))
    return keys


def _statements(local: str, domain: str) -> dict[str, str]:
    # Keys are generated [a-z.] text, so no quoting is needed to splice them.
    fill = lambda q, **v: _fill(q, v)  # noqa: E731
    maps = queries.POSTFIX_MAPS
    return {
        "domains": fill(maps["domains"], s=domain),
        "aliases": fill(maps["aliases"], u=local, d=domain),
        "mailboxes": fill(maps["mailboxes"], u=local, d=domain),
        "sender_logins": fill(maps["sender_logins"], u=local, d=domain),
        "passdb_imap": fill(queries.DOVECOT_PASSWORD, n=local, d=domain, s="imap"),
        "userdb": fill(queries.DOVECOT_USER, n=local, d=domain),
    }


def _fill(query: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        query = query.replace(f"%{name}", value)
    return query.replace("{vmail}", "/var/vmail")


def sql_latencies(instance, keys: list[tuple[str, str]]) -> dict[str, list[float]]:
    """Milliseconds of each lookup, by query."""
    times: dict[str, list[float]] = {}
    with instance.connect(mail_role=True, autocommit=True) as conn:
        for local, domain in keys:
            for name, statement in _statements(local, domain).items():
                started = time.perf_counter()
                conn.execute(statement, prepare=False).fetchall()
                times.setdefault(name, []).append(
                    (time.perf_counter() - started) * 1000
                )
    return times


def summary(times: dict[str, list[float]]) -> dict[str, float]:
    every = [t for values in times.values() for t in values]
    result = {"p50_ms": statistics.median(every), "p99_ms": _percentile(every, 0.99)}
    for name, values in times.items():
        result[f"{name}_p50_ms"] = statistics.median(values)
    return result


def plans(instance) -> tuple[dict[str, str], list[str]]:
    """EXPLAIN ANALYZE of each query for existing keys; tables read by Seq Scan."""
    with instance.connect() as conn:
        local = conn.execute(
            "SELECT ad.local_part FROM addresses ad "
            "JOIN accounts ac ON ac.id = ad.account_id "
            "WHERE ac.plan = 'plus' AND ad.is_current LIMIT 1"
        ).fetchone()[0]
        statements = _statements(local, instance.settings.primary_domain)
        texts, scans = {}, []
        for name, statement in statements.items():
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement)
            texts[name] = "\n".join(r[0] for r in rows)
            scans += [
                f"{name}: {line.strip()}"
                for line in texts[name].splitlines()
                if "Seq Scan on" in line
                and line.split("Seq Scan on ")[1].split()[0] in SEQ_SCAN_TABLES
            ]
    return texts, scans


def postmap_ms_per_key(instance, keys: list[tuple[str, str]]) -> float | None:
    """Mean time of one lookup through proxymap's pgsql aliases map."""
    table = f"proxy:pgsql:{instance.postfix_dir}/pgsql/aliases.cf"
    lines = "".join(f"{local}@{domain}\n" for local, domain in keys)

    def run(text: str) -> float:
        started = time.perf_counter()
        subprocess.run(
            ["postmap", "-c", str(instance.postfix_dir), "-q", "-", table],
            input=text,
            capture_output=True,
            text=True,
            check=True,
        )
        return time.perf_counter() - started

    try:
        one = min(run(lines.split("\n", 1)[0] + "\n") for _ in range(3))
        many = run(lines)
    except (OSError, subprocess.CalledProcessError):
        return None
    return max(0.0, (many - one) / max(1, len(keys) - 1) * 1000)


def doveadm_ms(instance, keys: list[tuple[str, str]]) -> dict[str, float] | None:
    """Median wall time of `doveadm auth test` and `doveadm user` (per process)."""
    conf = str(instance.settings.path("dovecot_dir") / "dovecot.conf")
    with instance.connect() as conn:
        plus = [
            r[0]
            for r in conn.execute(
                "SELECT ad.local_part FROM addresses ad "
                "JOIN accounts ac ON ac.id = ad.account_id "
                "WHERE ac.plan = 'plus' AND ad.is_current "
                "AND ac.password_hash IS NOT NULL "
                "AND ac.status = 'active' ORDER BY md5(ad.local_part) LIMIT %s",
                (len(keys),),
            )
        ]
    domain = instance.settings.primary_domain
    auth, user = [], []
    for local in plus:
        address = f"{local}@{domain}"
        auth.append(
            _timed(
                [
                    "doveadm",
                    "-c",
                    conf,
                    "auth",
                    "test",
                    "-x",
                    "service=imap",
                    address,
                    people.PASSWORD,
                ]
            )
        )
        user.append(_timed(["doveadm", "-c", conf, "user", address]))
    if not auth or None in auth or None in user:
        return None
    return {"auth_test_ms": statistics.median(auth), "user_ms": statistics.median(user)}


def _timed(args: list[str]) -> float | None:
    started = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True)
    return (time.perf_counter() - started) * 1000 if result.returncode == 0 else None
