#!/bin/sh
# Run once by the postgres image when its volume is empty (/docker-entrypoint-initdb.d): the apps'
# role, portcullis_app, with METADATA_DB_PASSWORD, owner of the `portcullis` database and no
# superuser, with the attributes packages/db/src/migrate/bootstrap.ts gives the quick start's role.
# The superuser (POSTGRES_PASSWORD) is for the demo seed only (it creates the Chinook role and
# database); the apps never use it.
set -eu
: "${METADATA_DB_PASSWORD:?METADATA_DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v pw="$METADATA_DB_PASSWORD" <<'SQL'
CREATE ROLE portcullis_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD :'pw';
CREATE DATABASE portcullis OWNER portcullis_app;
REVOKE ALL ON DATABASE portcullis FROM PUBLIC;
GRANT CONNECT, TEMPORARY, CREATE ON DATABASE portcullis TO portcullis_app;
SQL
# NOINHERIT: the role gets nothing through pg_database_owner, so it owns the public schema outright
# (as bootstrap.ts's reassignment gives it); without this the migrations are refused on PostgreSQL 15.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname portcullis -c 'ALTER SCHEMA public OWNER TO portcullis_app'
