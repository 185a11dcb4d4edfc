-- Issue 16's B-tree list indexes beyond the ones the build before issue 14 had, taken
-- away after the server migrated (bench/ab.sh's A_SQL / B_SQL; twelfth session): the
-- part of bench/attribution/without-issue-16-writes.sql that is neither the trigram
-- indexes nor task_recency. Lists still answer (slower sorts).
DROP INDEX idx_tasks_due_asc_id, idx_tasks_due_desc_id, idx_tasks_owner_due_asc_id,
  idx_tasks_owner_due_desc_id, idx_tasks_owner_priority_id, idx_tasks_priority_id,
  idx_tasks_owner_title_id, idx_tasks_title_id;
