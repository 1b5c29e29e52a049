-- exteri-mail registry. Applied by `exteri-mail db init`: every statement
-- is idempotent, so applying it again (or a newer version) is harmless.
-- The mail daemons read only the mail_* views at the end; grants to the
-- mail-server role are made by the CLI, which knows the role's name.

CREATE TABLE IF NOT EXISTS schema_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

CREATE TABLE IF NOT EXISTS domains (
    name text PRIMARY KEY CHECK (name = lower(name) AND name <> ''),
    kind text NOT NULL CHECK (kind IN ('primary', 'alias'))
);
CREATE UNIQUE INDEX IF NOT EXISTS domains_one_of_each_kind ON domains (kind);

-- Rows are written from exteri_mail.plans.PLANS at every `db init`.
CREATE TABLE IF NOT EXISTS plans (
    name             text PRIMARY KEY,
    forward_required boolean NOT NULL,
    submission       boolean NOT NULL,
    mailbox          boolean NOT NULL,
    imap             boolean NOT NULL,
    pop3             boolean NOT NULL,
    quota_bytes      bigint CHECK (quota_bytes > 0)
);

CREATE TABLE IF NOT EXISTS accounts (
    id            bigserial PRIMARY KEY,
    first_name    text NOT NULL CHECK (first_name <> ''),
    last_name     text NOT NULL CHECK (last_name <> ''),
    plan          text NOT NULL REFERENCES plans (name),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'closed')),
    forward       text CHECK (forward ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    password_hash text CHECK (password_hash ~ '^\{[A-Z0-9.-]+\}'),
    quota_bytes   bigint CHECK (quota_bytes > 0),
    alias_enabled boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every local part ever given to an account, its current one and those it
-- had before a rename. Rows are never deleted or moved to another account:
-- the primary key makes an address unique (it is stored lower-case, so
-- uniqueness is case-insensitive) and the trigger below makes it permanent.
CREATE TABLE IF NOT EXISTS addresses (
    local_part text PRIMARY KEY
               CHECK (local_part ~ '^[a-z]+\.[a-z]+$' AND length(local_part) <= 64),
    account_id bigint NOT NULL REFERENCES accounts (id),
    is_current boolean NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS addresses_one_current
    ON addresses (account_id) WHERE is_current;
CREATE INDEX IF NOT EXISTS addresses_by_account ON addresses (account_id);

CREATE OR REPLACE FUNCTION addresses_are_permanent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'address % is permanent and cannot be deleted', OLD.local_part;
    END IF;
    IF NEW.local_part <> OLD.local_part OR NEW.account_id <> OLD.account_id THEN
        RAISE EXCEPTION 'address % belongs to its account for life', OLD.local_part;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS addresses_permanent ON addresses;
CREATE TRIGGER addresses_permanent BEFORE UPDATE OR DELETE ON addresses
    FOR EACH ROW EXECUTE FUNCTION addresses_are_permanent();

CREATE TABLE IF NOT EXISTS audit_log (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    operator text NOT NULL,
    action   text NOT NULL,
    target   text,
    before   jsonb,
    after    jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_by_target ON audit_log (target);

CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;
DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();

-- What the mail daemons see. Each view exposes local_part and domain as
-- separate columns so that lookups hit the addresses primary key.

-- Postfix and Dovecot send each lookup as plain text, so it is planned
-- every time, and planning a join of five or six tables cost more than
-- running it (about 2 ms against 0.2 ms). The current address and the
-- primary domain are therefore scalar subqueries, not joins: the same rows
-- (an account has exactly one current address, the registry one primary
-- domain), a third of the planning time. See bench/ for the figures.

-- Every address an active account answers to, in every domain it may use:
-- the primary domain always, the alias domain when enabled.
CREATE OR REPLACE VIEW account_addresses AS
SELECT ad.local_part, d.name AS domain, ad.is_current, d.kind AS domain_kind,
       ac.id AS account_id,
       (SELECT cur.local_part FROM addresses cur
         WHERE cur.account_id = ac.id AND cur.is_current) AS current_local_part,
       ac.plan, ac.forward, ac.password_hash, ac.quota_bytes
  FROM addresses ad
  JOIN accounts ac ON ac.id = ad.account_id AND ac.status = 'active'
  JOIN domains d ON d.kind = 'primary' OR (d.kind = 'alias' AND ac.alias_enabled);

CREATE OR REPLACE VIEW mail_domains AS
SELECT name AS domain FROM domains;

-- Postfix virtual_alias_maps. The account's current primary address
-- forwards (a Plus mailbox keeps a copy); every other address it owns
-- leads to that current primary address.
CREATE OR REPLACE VIEW mail_aliases AS
SELECT aa.local_part, aa.domain,
       CASE WHEN p.mailbox
            THEN aa.local_part || '@' || aa.domain || ',' || aa.forward
            ELSE aa.forward END AS destination
  FROM account_addresses aa JOIN plans p ON p.name = aa.plan
 WHERE aa.is_current AND aa.domain_kind = 'primary' AND aa.forward IS NOT NULL
UNION ALL
SELECT aa.local_part, aa.domain,
       aa.current_local_part || '@'
       || (SELECT pd.name FROM domains pd WHERE pd.kind = 'primary') AS destination
  FROM account_addresses aa
 WHERE NOT (aa.is_current AND aa.domain_kind = 'primary');

-- Postfix virtual_mailbox_maps and the Dovecot mailbox location.
CREATE OR REPLACE VIEW mail_mailboxes AS
SELECT aa.local_part, aa.domain, 'a' || aa.account_id AS mailbox
  FROM account_addresses aa JOIN plans p ON p.name = aa.plan
 WHERE p.mailbox AND aa.is_current AND aa.domain_kind = 'primary';

-- Postfix smtpd_sender_login_maps: which SASL login owns which sender.
CREATE OR REPLACE VIEW mail_sender_logins AS
SELECT aa.local_part, aa.domain,
       aa.current_local_part || '@'
       || (SELECT pd.name FROM domains pd WHERE pd.kind = 'primary') AS login
  FROM account_addresses aa
  JOIN plans p ON p.name = aa.plan AND p.submission;

-- Dovecot passdb: one row per address and service the plan allows. Any of
-- the account's addresses logs in; the user is always the current one.
CREATE OR REPLACE VIEW mail_logins AS
SELECT aa.local_part, aa.domain, s.service,
       aa.current_local_part || '@'
       || (SELECT pd.name FROM domains pd WHERE pd.kind = 'primary') AS username,
       aa.password_hash AS password
  FROM account_addresses aa
  JOIN plans p ON p.name = aa.plan
  CROSS JOIN LATERAL (VALUES ('smtp', p.submission), ('imap', p.imap),
                             ('pop3', p.pop3)) AS s (service, granted)
 WHERE s.granted AND aa.password_hash IS NOT NULL;

-- Dovecot userdb: Plus mailboxes with their quota (the plan's unless the
-- account has its own). Every address of the account finds the mailbox
-- under its current name, so the quota-status check at RCPT covers the
-- alias-domain and former addresses too.
CREATE OR REPLACE VIEW mail_users AS
SELECT aa.local_part, aa.domain,
       aa.current_local_part || '@'
       || (SELECT pd.name FROM domains pd WHERE pd.kind = 'primary') AS username,
       'a' || aa.account_id AS mailbox,
       coalesce(aa.quota_bytes, p.quota_bytes) AS quota_bytes
  FROM account_addresses aa JOIN plans p ON p.name = aa.plan
 WHERE p.mailbox;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;

-- Account requests (issue 7) ------------------------------------------------
-- People ask for an address on the web form; the request waits for its
-- forward address to be confirmed (double opt-in), then for an operator.
-- Only the admin role reads these tables: grant_mail_role() revokes
-- everything from the mail-server role and grants it the mail_* views only.

CREATE TABLE IF NOT EXISTS account_requests (
    id           bigserial PRIMARY KEY,
    first_name   text NOT NULL CHECK (first_name <> '' AND length(first_name) <= 100),
    last_name    text NOT NULL CHECK (last_name <> '' AND length(last_name) <= 100),
    local_part   text NOT NULL CHECK (local_part ~ '^[a-z]+\.[a-z]+$'),
    forward      text NOT NULL CHECK (forward ~ '^[^@[:space:]]+@[^@[:space:]]+$'
                                      AND length(forward) <= 254),
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    language     text NOT NULL DEFAULT 'it' CHECK (language IN ('it', 'en')),
    client       text,
    status       text NOT NULL DEFAULT 'unconfirmed'
                 CHECK (status IN ('unconfirmed', 'pending', 'approved', 'rejected')),
    reason       text,
    account_id   bigint REFERENCES accounts (id),
    decided_by   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    confirmed_at timestamptz,
    decided_at   timestamptz,
    CHECK ((status = 'approved') = (account_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS account_requests_by_status
    ON account_requests (status, created_at);
CREATE INDEX IF NOT EXISTS account_requests_by_forward
    ON account_requests (lower(forward), created_at);
CREATE INDEX IF NOT EXISTS account_requests_by_client
    ON account_requests (client, created_at);

-- Links sent by mail: only the SHA-256 of each token is kept. A 'confirm'
-- token confirms one request once; a 'setup' token opens an account's
-- setup page until it expires and lets the password be chosen once.
CREATE TABLE IF NOT EXISTS web_tokens (
    digest     bytea PRIMARY KEY CHECK (length(digest) = 32),
    purpose    text NOT NULL CHECK (purpose IN ('confirm', 'setup')),
    request_id bigint REFERENCES account_requests (id),
    account_id bigint REFERENCES accounts (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    CHECK ((purpose = 'confirm') = (request_id IS NOT NULL)),
    CHECK ((purpose = 'setup') = (account_id IS NOT NULL))
);
CREATE INDEX IF NOT EXISTS web_tokens_by_account ON web_tokens (account_id)
    WHERE account_id IS NOT NULL;

REVOKE ALL ON account_requests, web_tokens FROM PUBLIC;
-- End of account requests (issue 7) -----------------------------------------
