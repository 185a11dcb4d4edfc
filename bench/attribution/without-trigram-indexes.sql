-- The two trigram indexes of `q` (issue 16) taken away after the server migrated
-- (bench/ab.sh's A_SQL / B_SQL).
DROP INDEX idx_tasks_title_search_trgm, idx_tasks_description_search_trgm;
