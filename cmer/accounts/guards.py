"""Database-level guard (PostgreSQL): an administrator account never holds a content role.

``Membership.save`` and ``User.save`` refuse it in the application (the only protection on
SQLite, used for development and tests); on PostgreSQL these triggers refuse it for any writer,
the application's role included:

- on ``accounts_membership`` INSERT/UPDATE: a content role (anything but ``admin``), not refused,
  for a staff or superuser account — unless the update only narrows a membership that exists
  already (ending a role held before the rule must stay possible);
- on ``accounts_user`` UPDATE: an account becoming staff or superuser while it holds a content
  role not refused and not ended.

SQLite gets no trigger on purpose: a later table rebuild by a migration would drop it silently.
"""

from __future__ import annotations

from typing import Any

FUNCTIONS = """
CREATE OR REPLACE FUNCTION cmer_membership_admin_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    privileged boolean;
BEGIN
    IF NEW.role = 'admin' OR NEW.status = 'refused' THEN
        RETURN NEW;
    END IF;
    SELECT (u.is_staff OR u.is_superuser) INTO privileged
        FROM accounts_user u WHERE u.id = NEW.user_id;
    IF NOT COALESCE(privileged, false) THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE'
        AND NEW.user_id = OLD.user_id AND NEW.role = OLD.role
        AND NEW.commune_id IS NOT DISTINCT FROM OLD.commune_id
        AND NEW.department_id IS NOT DISTINCT FROM OLD.department_id
        AND NEW.starts_on >= OLD.starts_on
        AND (OLD.ends_on IS NULL OR (NEW.ends_on IS NOT NULL AND NEW.ends_on <= OLD.ends_on))
        AND NOT (NEW.status = 'confirmed' AND OLD.status <> 'confirmed') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'CMER: an administrator account (user %) holds no content role', NEW.user_id
        USING ERRCODE = 'check_violation';
END
$$;

CREATE OR REPLACE FUNCTION cmer_user_admin_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.is_staff OR NEW.is_superuser) AND NOT (OLD.is_staff OR OLD.is_superuser)
        AND EXISTS (
            SELECT 1 FROM accounts_membership m
            WHERE m.user_id = NEW.id AND m.role <> 'admin' AND m.status <> 'refused'
                AND (m.ends_on IS NULL OR m.ends_on >= CURRENT_DATE)
        ) THEN
        RAISE EXCEPTION 'CMER: user % holds a content role and cannot become an administrator',
            NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
"""

TRIGGERS = """
DROP TRIGGER IF EXISTS accounts_membership_admin_guard ON accounts_membership;
CREATE TRIGGER accounts_membership_admin_guard BEFORE INSERT OR UPDATE ON accounts_membership
    FOR EACH ROW EXECUTE FUNCTION cmer_membership_admin_guard();
DROP TRIGGER IF EXISTS accounts_user_admin_guard ON accounts_user;
CREATE TRIGGER accounts_user_admin_guard BEFORE UPDATE ON accounts_user
    FOR EACH ROW EXECUTE FUNCTION cmer_user_admin_guard();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_membership_admin_guard ON accounts_membership;
DROP TRIGGER IF EXISTS accounts_user_admin_guard ON accounts_user;
DROP FUNCTION IF EXISTS cmer_membership_admin_guard();
DROP FUNCTION IF EXISTS cmer_user_admin_guard();
"""


def install(connection: Any) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(FUNCTIONS)
        cursor.execute(TRIGGERS)
    return True


def uninstall(connection: Any) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(DROP)
