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
 * set of preferences, identities and contacts.
 *
 * Only Plus accounts have an IMAP login; a failed login explains that,
 * with the same words for a wrong password and for an address without a
 * mailbox, so the page tells nobody which plan an address has.
 */
class exteri_login extends rcube_plugin
{
    public $task = 'login';

    public function init()
    {
        $this->add_hook('authenticate', [$this, 'authenticate']);
        $this->add_hook('login_failed', [$this, 'login_failed']);
    }

    public function authenticate($args)
    {
        $this->load_config();
        $this->add_texts('localization/');

        $typed = mb_strtolower(trim($args['user']));
        $args['user'] = $this->current_address($typed) ?? $this->fold_alias($typed);

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

    /** The account's current address, or null when the registry has none. */
    private function current_address($address)
    {
        $parts = explode('@', $address);
        if (count($parts) != 2) {
            return null;
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
                "SELECT username FROM mail_logins"
                . " WHERE local_part = ? AND domain = ? AND service = 'imap'"
            );
            $query->execute($parts);
            $username = $query->fetchColumn();
        }
        catch (PDOException $e) {
            // Degraded, not broken: the alias fold below still applies.
            rcube::raise_error([
                'code' => 503, 'file' => __FILE__, 'line' => __LINE__,
                'message' => 'exteri_login: registry lookup failed: ' . $e->getMessage(),
            ], true, false);
            return null;
        }
        return $username === false ? null : $username;
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
