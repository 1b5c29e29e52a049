"""The lookups Postfix and Dovecot run against the registry's mail_* views.

One place for them: the templates print them, and `server check` runs them.
Keys are split into local part and domain so each lookup hits an index.
"""

# Postfix pgsql_table(5) queries: %s is the whole key, %u/%d its parts
# (a key without a local part, such as "@esteri.org", runs no query).
POSTFIX_MAPS = {
    "domains": "SELECT domain FROM mail_domains WHERE domain = '%s'",
    "aliases": (
        "SELECT destination FROM mail_aliases WHERE local_part = '%u' AND domain = '%d'"
    ),
    "mailboxes": (
        "SELECT mailbox FROM mail_mailboxes WHERE local_part = '%u' AND domain = '%d'"
    ),
    "sender_logins": (
        "SELECT login FROM mail_sender_logins WHERE local_part = '%u' AND domain = '%d'"
    ),
    # Names the restriction class (main.cf) that asks for the quota.
    "mailbox_quota": (
        "SELECT DISTINCT 'mailbox_quota' FROM mail_users "
        "WHERE local_part = '%u' AND domain = '%d'"
    ),
    # Port 25 offers no AUTH, so Postfix's *_sender_login_mismatch checks
    # are inert there; this access map refuses our senders instead.
    "sender_owned": (
        "SELECT '553 5.7.1 Sender address belongs to a user of ours: send it "
        "through the submission port, authenticated' FROM mail_sender_logins "
        "WHERE local_part = '%u' AND domain = '%d' LIMIT 1"
    ),
}

# Dovecot SQL driver queries: %n user part, %d domain, %s service.
DOVECOT_PASSWORD = (
    "SELECT username AS user, password FROM mail_logins "
    "WHERE local_part = '%n' AND domain = '%d' AND service = '%s'"
)
DOVECOT_USER = (
    "SELECT username AS user, '{vmail}/' || mailbox AS home, "
    "'*:bytes=' || quota_bytes AS quota_rule FROM mail_users "
    "WHERE local_part = '%n' AND domain = '%d'"
)
DOVECOT_ITERATE = "SELECT DISTINCT username AS user FROM mail_users"
