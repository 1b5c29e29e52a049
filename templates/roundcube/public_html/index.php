<?php
// managed by exteri-mail: copied from templates/roundcube/ at each render.
// The web root's entry point: Roundcube's root is the folder above, which
// holds this instance's config and plugins beside links to the package.
define('INSTALL_PATH', realpath(__DIR__ . '/..') . '/');
include INSTALL_PATH . 'index.php';
