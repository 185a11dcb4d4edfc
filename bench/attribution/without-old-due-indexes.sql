-- Tried with bench/ab.sh's A_SQL (bench/README.md, eighth session). Builds since
-- m20261207_000011_drop_old_due_indexes have no such indexes on PostgreSQL.
DROP INDEX idx_tasks_due_date, idx_tasks_owner_id_due_date;
