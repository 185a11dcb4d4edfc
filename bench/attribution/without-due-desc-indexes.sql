-- The two descending due-date list indexes (`COALESCE(due_date, '-infinity')`), taken
-- away after the server migrated: what a pair of list indexes costs a write.
DROP INDEX idx_tasks_owner_due_desc_id, idx_tasks_due_desc_id;
