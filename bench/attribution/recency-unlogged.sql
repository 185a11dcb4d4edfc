-- task_recency as an UNLOGGED table (bench/ab.sh or bench/pgbench.sh B_SQL; twelfth
-- session): its heap and index writes go to no WAL. The table is derived from `tasks`
-- alone, so a crash (which empties an unlogged table) could be mended by filling it
-- again; this probe only measures what the WAL of its writes costs.
ALTER TABLE task_recency SET UNLOGGED;
