-- Tried with bench/ab.sh's A_SQL (bench/README.md, eighth session).
DROP INDEX idx_tasks_title_search_trgm, idx_tasks_description_search_trgm;
CREATE INDEX idx_tasks_search_trgm ON tasks USING gin ((title_search || E'\n' || COALESCE(description_search, '')) gin_trgm_ops);
