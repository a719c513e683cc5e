-- POST /runs/{run_id}/stop, first: whether the board's tasks can be blocked as the owner's
-- block_task blocks them: they have block_kind and block_recurrences (the owner's init_db adds
-- both, hermes-agent 0.19.0 and the newer releases alike). A board without them is refused.
SELECT count(*) = 2 AS blockable
FROM pragma_table_info('tasks')
WHERE name IN ('block_kind', 'block_recurrences')
