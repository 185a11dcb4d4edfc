-- The triggers that keep `task_recency` in step with `tasks`, taken away after the
-- server migrated (bench/ab.sh's or bench/pgbench.sh's A_SQL / B_SQL): what they cost a
-- write. Lists by `updated_at` read a table that no longer follows the writes.
DROP TRIGGER task_recency_added ON tasks;
DROP TRIGGER task_recency_changed ON tasks;
DROP TRIGGER task_recency_removed ON tasks;
