-- Tried with bench/ab.sh's A_SQL (bench/README.md, eighth session).
ALTER INDEX idx_tasks_title_search_trgm SET (gin_pending_list_limit = 65536);
ALTER INDEX idx_tasks_description_search_trgm SET (gin_pending_list_limit = 65536);
