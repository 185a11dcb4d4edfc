-- The two trigram indexes of `q` as GiST instead of GIN (bench/ab.sh or bench/pgbench.sh
-- B_SQL; twelfth session): a GiST trigram index holds one signature a row where GIN
-- holds an entry a trigram, so a create writes one index tuple into each, not one a
-- trigram. `LIKE '%…%'` uses either as it is.
DROP INDEX idx_tasks_title_search_trgm, idx_tasks_description_search_trgm;
CREATE INDEX idx_tasks_title_search_trgm ON tasks USING gist (title_search gist_trgm_ops);
CREATE INDEX idx_tasks_description_search_trgm ON tasks USING gist (description_search gist_trgm_ops);
