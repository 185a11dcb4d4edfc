-- What issue 16 added to every task write, taken away after the server migrated
-- (bench/ab.sh's A_SQL / B_SQL): the list indexes beyond the ones the build before
-- issue 14 had (it had (owner_id, created_at) and (created_at), which
-- idx_tasks_owner_created_id and idx_tasks_created_id replace and which stay), the
-- two trigram indexes of `q`, and the triggers that keep `task_recency`. Lists still
-- answer (slower sorts); the write benchmarks do not read them.
DROP INDEX idx_tasks_due_asc_id, idx_tasks_due_desc_id, idx_tasks_owner_due_asc_id,
  idx_tasks_owner_due_desc_id, idx_tasks_owner_priority_id, idx_tasks_priority_id,
  idx_tasks_owner_title_id, idx_tasks_title_id,
  idx_tasks_title_search_trgm, idx_tasks_description_search_trgm;
DROP TRIGGER task_recency_added ON tasks;
DROP TRIGGER task_recency_changed ON tasks;
DROP TRIGGER task_recency_removed ON tasks;
