<?php
// managed by exteri-mail: copied from templates/roundcube/ at each render.

/**
 * One Roundcube user per person, and a clear answer to everyone else.
 *
 * Roundcube keys its users by the login as typed; Dovecot accepts every
 * address of an account, in either domain and any case. Before Roundcube
 * logs in, the typed address is replaced by the account's current address
 * from the registry (the same answer Dovecot's passdb gives), so
 * "Anna.Neri@exteri.it" and "anna.neri@esteri.org" are one user with one
 * set of preferences, identities and contacts. After a rename the user
 * Roundcube knew under a former address takes the new one.
 *
 * Only Plus accounts have an IMAP login; a failed login explains that,
 * with the same words for a wrong password and for an address without a
 * mailbox, so the page tells nobody which plan an address has.
 */
class exteri_login extends rcube_plugin
{
    public function init()
    {
        $this->add_hook('authenticate', [$this, 'authenticate']);
        $this->add_hook('login_failed', [$this, 'login_failed']);
        $this->add_hook('storage_connect', [$this, 'storage_connect']);
    }

    /**
     * Name the browser's address to Dovecot, which trusts it from loopback
     * only: its log and its brute-force delay then see the real client.
     */
    public function storage_connect($args)
    {
        $args['preauth_ident'] = ['x-originating-ip' => rcube_utils::remote_ip()];
        return $args;
    }

    public function authenticate($args)
    {
        $this->load_config();
        $this->add_texts('localization/');

        $typed = mb_strtolower(trim($args['user']));
        $addresses = $this->account_addresses($typed);
        if ($addresses) {
            $args['user'] = $addresses[0];
            $this->adopt_former_user($addresses);
        }
        else {
            $args['user'] = $this->fold_alias($typed);
        }

        // Roundcube shows this text only when the login fails.
        if ($args['valid']) {
            $args['error'] = $this->gettext('loginfailed');
        }
        return $args;
    }

    public function login_failed($args)
    {
        // The server being down is not the user's fault: say so instead.
        if ($args['code'] == rcmail::ERROR_STORAGE) {
            rcmail::get_instance()->output->show_message('storageerror', 'error');
        }
        return $args;
    }

    /**
     * The account's current address first, then every other address it
     * logs in with; empty when the address has no IMAP login.
     */
    private function account_addresses($address)
    {
        $parts = explode('@', $address);
        if (count($parts) != 2) {
            return [];
        }

        $config = rcmail::get_instance()->config;
        try {
            $db = new PDO(
                $config->get('exteri_login_pdo_dsn'),
                $config->get('exteri_login_user'),
                $config->get('exteri_login_password'),
                [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 5]
            );
            $query = $db->prepare(
                "SELECT other.username, other.local_part || '@' || other.domain"
                . " FROM mail_logins typed JOIN mail_logins other"
                . " ON other.username = typed.username AND other.service = 'imap'"
                . " WHERE typed.local_part = ? AND typed.domain = ?"
                . " AND typed.service = 'imap'"
            );
            $query->execute($parts);
            $rows = $query->fetchAll(PDO::FETCH_NUM);
        }
        catch (PDOException $e) {
            // Degraded, not broken: the alias fold still applies.
            rcube::raise_error([
                'code' => 503, 'file' => __FILE__, 'line' => __LINE__,
                'message' => 'exteri_login: registry lookup failed: ' . $e->getMessage(),
            ], true, false);
            return [];
        }
        if (!$rows) {
            return [];
        }

        $current = $rows[0][0];
        $others = array_diff(array_column($rows, 1), [$current]);
        return array_merge([$current], array_values($others));
    }

    /**
     * Give the Roundcube user of a former address the current one, with
     * the identity that carried it, unless the current one has a user.
     */
    private function adopt_former_user($addresses)
    {
        $db = rcmail::get_instance()->get_dbh();
        $users = $db->table_name('users', true);
        $identities = $db->table_name('identities', true);
        $marks = implode(', ', array_fill(0, count($addresses), '?'));

        $found = $db->query("SELECT user_id, username FROM $users"
            . " WHERE username IN ($marks) ORDER BY username = ? DESC, user_id",
            ...array_merge($addresses, [$addresses[0]]));
        $user = $db->fetch_assoc($found);
        if (!$user || $user['username'] === $addresses[0]) {
            return;
        }

        $db->query("UPDATE $users SET username = ? WHERE user_id = ?",
            $addresses[0], $user['user_id']);
        $db->query("UPDATE $identities SET email = ? WHERE user_id = ? AND email = ?",
            $addresses[0], $user['user_id'], $user['username']);
        rcube::write_log('userlogins', sprintf('exteri_login: user %d renamed from %s to %s',
            $user['user_id'], $user['username'], $addresses[0]));
    }

    /** Without the registry: the alias domain spelled as the primary one. */
    private function fold_alias($address)
    {
        $config = rcmail::get_instance()->config;
        $alias = '@' . $config->get('exteri_login_alias_domain');
        $primary = '@' . $config->get('exteri_login_primary_domain');
        if (substr($address, -strlen($alias)) === $alias) {
            return substr($address, 0, -strlen($alias)) . $primary;
        }
        return $address;
    }
}
