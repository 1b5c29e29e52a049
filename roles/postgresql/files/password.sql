-- The password comes from the environment, never from the command line.
\getenv password POSTGRESQL_ROLE_PASSWORD
ALTER ROLE :"role" PASSWORD :'password';
