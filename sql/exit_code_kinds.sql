-- exit_code_kinds: what a worker's exit code means, as the owner's dispatcher classifies it
-- (`_exit_code_kind`, hermes-agent 0.20-0.21.x): 0 a clean exit, 75 rate-limited (the quota
-- wall: requeued without counting a failure), 78 a terminal provider error; any other code is
-- `nonzero_exit`. Installed as a TEMP view; run_exits and the routes that read a log's exit
-- trailer look codes up here (one table, not a CASE in each).
CREATE TEMP VIEW exit_code_kinds(code, kind) AS
VALUES (0, 'clean_exit'), (75, 'rate_limited'), (78, 'terminal_provider');
