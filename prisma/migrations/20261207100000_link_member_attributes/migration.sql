-- Issue 14: attributes an admin sets for one member on one link ({{member.attr.NAME}} in row filters).
-- They belong to the member's access to the link: they go when the link, the user, the membership or
-- (for members) the link grant goes, and when the member can no longer use the link (demoted to
-- viewer, or to member without a grant) — so access granted again later starts without old values.
-- Owners and admins use every link without a link_access row, hence foreign keys to links and users
-- plus the triggers below rather than a foreign key to link_access.
CREATE TABLE "link_member_attributes" (
  "link_id" UUID NOT NULL,
  "user_id" UUID NOT NULL,
  "name" TEXT NOT NULL,
  "value" TEXT NOT NULL,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_by" UUID,
  CONSTRAINT "link_member_attributes_pkey" PRIMARY KEY ("link_id", "user_id", "name"),
  CONSTRAINT "link_member_attributes_link_id_fkey" FOREIGN KEY ("link_id") REFERENCES "links"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "link_member_attributes_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "link_member_attributes_updated_by_fkey" FOREIGN KEY ("updated_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  -- The same rule as MEMBER_ATTRIBUTE_NAME (@portcullis/policy/scope); the operations check it first
  -- with a readable message, this keeps plain SQL honest too.
  CONSTRAINT "link_member_attributes_name_check" CHECK ("name" ~ '^[a-z][a-z0-9_]{0,62}$'),
  CONSTRAINT "link_member_attributes_value_check" CHECK (octet_length("value") <= 1024)
);
CREATE INDEX "link_member_attributes_user_id_idx" ON "link_member_attributes"("user_id");

-- A member's grant to a link withdrawn: their attributes on it go with it.
CREATE FUNCTION portcullis_drop_attributes_of_link_access() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM link_member_attributes WHERE link_id = OLD.link_id AND user_id = OLD.user_id;
  RETURN NULL;
END;
$$;
CREATE TRIGGER link_access_drop_attributes AFTER DELETE ON "link_access"
  FOR EACH ROW EXECUTE FUNCTION portcullis_drop_attributes_of_link_access();

-- Leaving the team, or a role that no longer uses the link: viewers use no link, members only the
-- links they were granted.
CREATE FUNCTION portcullis_drop_attributes_of_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM link_member_attributes a USING links l
      WHERE a.link_id = l.id AND l.team_id = OLD.team_id AND a.user_id = OLD.user_id;
  ELSIF NEW.role = 'viewer' THEN
    DELETE FROM link_member_attributes a USING links l
      WHERE a.link_id = l.id AND l.team_id = NEW.team_id AND a.user_id = NEW.user_id;
  ELSIF NEW.role = 'member' THEN
    DELETE FROM link_member_attributes a USING links l
      WHERE a.link_id = l.id AND l.team_id = NEW.team_id AND a.user_id = NEW.user_id
        AND NOT EXISTS (SELECT 1 FROM link_access x WHERE x.link_id = a.link_id AND x.user_id = a.user_id);
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER memberships_drop_attributes AFTER UPDATE OF role OR DELETE ON "memberships"
  FOR EACH ROW EXECUTE FUNCTION portcullis_drop_attributes_of_membership();

-- Gateways cache a member's attributes with their key or grant: every change is announced on the
-- access channel (migration 20261206100000), delivered on commit, so they refresh within a second.
CREATE TRIGGER link_member_attributes_access_notify AFTER INSERT OR UPDATE OR DELETE ON "link_member_attributes"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
