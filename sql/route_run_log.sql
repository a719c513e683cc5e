-- GET /runs/{run_id}/log?follow=1: the run's task (whose log is followed) and whether the
-- run has ended (the stream ends once it has and its log stops growing). ?1: the run id.
SELECT task_id, ended_at FROM task_runs WHERE id = ?1
