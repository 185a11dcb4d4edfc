-- task_recency without its primary key (bench/ab.sh B_SQL; eleventh session): two index
-- entries a write instead of three; the update and delete triggers find a row by its
-- old (owner_id, updated_at, task_id) through the owner index, the update as a delete
-- and an insert (its OLD table gives the old values). Measured no faster.
ALTER TABLE task_recency DROP CONSTRAINT task_recency_pkey;
CREATE OR REPLACE FUNCTION task_recency_changed() RETURNS trigger LANGUAGE plpgsql
  SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$ BEGIN
  DELETE FROM task_recency USING before WHERE task_recency.owner_id = before.owner_id
    AND task_recency.updated_at = before.updated_at AND task_recency.task_id = before.id;
  INSERT INTO task_recency (task_id, owner_id, updated_at) SELECT id, owner_id, updated_at FROM changed;
  RETURN NULL; END $$;
DROP TRIGGER task_recency_changed ON tasks;
CREATE TRIGGER task_recency_changed AFTER UPDATE ON tasks REFERENCING OLD TABLE AS before NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION task_recency_changed();
CREATE OR REPLACE FUNCTION task_recency_removed() RETURNS trigger LANGUAGE plpgsql
  SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$ BEGIN
  DELETE FROM task_recency USING removed WHERE task_recency.owner_id = removed.owner_id
    AND task_recency.updated_at = removed.updated_at AND task_recency.task_id = removed.id;
  RETURN NULL; END $$;
