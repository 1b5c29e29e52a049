-- Roles and database of the registry, made when missing. psql prints the
-- tag of each statement that \gexec runs (CREATE ROLE...), and only then.
SELECT format('CREATE ROLE %I LOGIN', :'admin_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'admin_role') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'mail_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'mail_role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I ENCODING %L TEMPLATE template0',
              :'target', :'admin_role', 'UTF8')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'target') \gexec
