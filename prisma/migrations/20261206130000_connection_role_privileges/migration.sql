-- What a connection's target role may do beyond its database, recorded by every connection test:
-- links on a superuser or a member of pg_execute_server_program/pg_read_server_files/
-- pg_write_server_files are refused, or (when the operator allows such roles) never admin.
ALTER TABLE "connections" ADD COLUMN "role_privileges" JSONB;
