-- Tried with bench/ab.sh's A_SQL (bench/README.md, eighth session).
DROP INDEX idx_tasks_due_date, idx_tasks_owner_id_due_date;
