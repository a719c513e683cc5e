-- run_claims: every run (every task_runs column) with the host its claim names and whether
-- that claim is this host's. Installed as a TEMP view: the one place these rules are
-- written; active_workers and run_verdicts read them from here (SQLite flattens the view
-- into their queries, so the board's indexes still serve them).
--
-- worker_host: the host part of claim_lock ("<host>:<pid>"), what precedes the first ':'
-- (host names have none); NULL when claim_lock is NULL, has no ':', or starts with one:
-- kanban_workers_claim_host(claim_lock), one call (the view is flattened into the queries
-- that read it, so worker_host is computed at each reference). local reads it once where
-- it names a host: coalesce(worker_host = kanban_workers_hostname(), worker_host IS NULL) is
-- "names this host, or none" (the second only when the first is NULL); this_boot is read
-- only for a claim that names another host (a CASE stops where an OR reads both sides).
-- local: the claim is this host's (kanban_workers_hostname()), or names no host (such a
-- claim is inspected locally, as the reference's routes do), or its fingerprint
-- (worker_started_at, "<boot_id>:<pid 1's start ticks>|<ticks>") carries this host's
-- instantiation, kanban_workers_epoch(): the claim was written on this host under another
-- name (a host renamed since, #73277). The whole epoch is compared, not the boot id alone:
-- a container on the same kernel shares the boot id, not pid 1. host_note says so.
-- Where the owner's distributed workers stamp the run's host (task_runs.machine_id, a Hermes
-- machine id) and this host's is known (kanban_workers_machine_id()), locality follows the
-- machine id, not the claim's host name: two hosts may share a name (containers), and a
-- coordinator's claim may name the coordinator. host_note says when the two disagree.
-- run_epoch: the instantiation the run's fingerprint carries (what precedes its '|'), when the
-- fingerprint has the owner's form ('<boot id>:<pid 1's start ticks>|<ticks>', both parts
-- there; kanban_workers_fingerprint_epoch, one call where the parts' SQL took several at each
-- reference; text no owner writes is another instantiation's) and this host's is known; else
-- NULL. A run whose
-- run_epoch is not this host's is never local, whatever its claim or machine id say: its
-- worker runs in another instantiation (a container of the same name on one shared board,
-- #111386; or this host before a restart), where its pid means another process than here.
-- started_at_s, ended_at_s, claim_expires_s, last_heartbeat_at_s: the times as numbers (the
-- owner tolerates numeric strings and ISO-8601 text since 0.20; see below).
-- {worker_started_at} and {machine_id} are replaced at install: NULL on boards without the
-- column; {machine_id} otherwise kanban_workers_machine_id_of(r.machine_id), so a stamp that is
-- not a machine id is none (NULL rather than a call of NULL where there is no column: the call
-- would run at every reference of the flattened view).
CREATE TEMP VIEW run_claims AS
SELECT *,
       CASE WHEN run_epoch <> kanban_workers_epoch() THEN 0
            WHEN run_machine_id IS NOT NULL AND kanban_workers_machine_id() IS NOT NULL
            THEN run_machine_id = kanban_workers_machine_id()
            ELSE CASE WHEN coalesce(worker_host = kanban_workers_hostname(), worker_host IS NULL) THEN 1
                      ELSE this_boot END
       END AS local,
       CASE WHEN run_machine_id IS NOT NULL AND kanban_workers_machine_id() IS NOT NULL
            THEN CASE WHEN run_machine_id <> kanban_workers_machine_id()
                          THEN 'the run''s machine_id ' || run_machine_id || ' is not this host''s ('
                               || kanban_workers_machine_id() || ')'
                      WHEN run_epoch <> kanban_workers_epoch()
                          THEN 'the run''s machine_id is this host''s, but its fingerprint carries '
                               || 'another instantiation (' || run_epoch || ', not '
                               || kanban_workers_epoch() || ')'
                      WHEN coalesce(worker_host <> kanban_workers_hostname(), 0)
                          THEN 'the claim names ' || worker_host || ', but the run''s machine_id is this host''s'
                 END
            WHEN run_epoch <> kanban_workers_epoch()
                 AND (worker_host IS NULL OR worker_host = kanban_workers_hostname())
            THEN 'same host name, another instantiation: the claim names '
                 || coalesce(worker_host, 'no host') || ', but the run''s fingerprint carries '
                 || run_epoch || ', not this host''s ' || kanban_workers_epoch()
                 || ' (a container of the same name, or this host before a restart)'
            WHEN worker_host <> kanban_workers_hostname() AND this_boot
            THEN 'renamed host: the claim names ' || worker_host || ', but its fingerprint '
                 || 'carries this host''s boot (' || kanban_workers_epoch() || ')'
       END AS host_note
FROM (
    SELECT r.*,
           -- The run's times as the owner's Run.from_row reads them (hermes-agent 0.20+,
           -- _to_epoch): an integer as it is, a real truncated, a string of digits as its
           -- number, an ISO-8601 text as its epoch seconds (a naive one as UTC; the owner
           -- takes the host's local time: the same on a UTC host), anything else NULL.
           -- The verdicts judge these; the owner's raw columns stay as they are.
           CASE WHEN typeof(r.started_at) IN ('integer', 'null') THEN r.started_at
                WHEN typeof(r.started_at) = 'real' THEN CAST(r.started_at AS INTEGER)
                WHEN trim(r.started_at) GLOB '[0-9]*' AND trim(r.started_at) NOT GLOB '*[^0-9]*'
                    THEN CAST(trim(r.started_at) AS INTEGER)
                ELSE CAST(strftime('%s', trim(r.started_at)) AS INTEGER)
           END AS started_at_s,
           CASE WHEN typeof(r.ended_at) IN ('integer', 'null') THEN r.ended_at
                WHEN typeof(r.ended_at) = 'real' THEN CAST(r.ended_at AS INTEGER)
                WHEN trim(r.ended_at) GLOB '[0-9]*' AND trim(r.ended_at) NOT GLOB '*[^0-9]*'
                    THEN CAST(trim(r.ended_at) AS INTEGER)
                ELSE CAST(strftime('%s', trim(r.ended_at)) AS INTEGER)
           END AS ended_at_s,
           CASE WHEN typeof(r.claim_expires) IN ('integer', 'null') THEN r.claim_expires
                WHEN typeof(r.claim_expires) = 'real' THEN CAST(r.claim_expires AS INTEGER)
                WHEN trim(r.claim_expires) GLOB '[0-9]*' AND trim(r.claim_expires) NOT GLOB '*[^0-9]*'
                    THEN CAST(trim(r.claim_expires) AS INTEGER)
                ELSE CAST(strftime('%s', trim(r.claim_expires)) AS INTEGER)
           END AS claim_expires_s,
           CASE WHEN typeof(r.last_heartbeat_at) IN ('integer', 'null') THEN r.last_heartbeat_at
                WHEN typeof(r.last_heartbeat_at) = 'real' THEN CAST(r.last_heartbeat_at AS INTEGER)
                WHEN trim(r.last_heartbeat_at) GLOB '[0-9]*' AND trim(r.last_heartbeat_at) NOT GLOB '*[^0-9]*'
                    THEN CAST(trim(r.last_heartbeat_at) AS INTEGER)
                ELSE CAST(strftime('%s', trim(r.last_heartbeat_at)) AS INTEGER)
           END AS last_heartbeat_at_s,
           -- A stamp that is not a machine id (a free string) is none: the claim decides.
           {machine_id} AS run_machine_id,
           kanban_workers_claim_host(r.claim_lock) AS worker_host,
           coalesce(typeof({worker_started_at}) = 'text'
                    AND kanban_workers_epoch() GLOB '?*:?*'
                    AND substr({worker_started_at}, 1, length(kanban_workers_epoch()) + 1)
                        = kanban_workers_epoch() || '|', 0) AS this_boot,
           CASE WHEN kanban_workers_epoch() GLOB '?*:?*'
                THEN kanban_workers_fingerprint_epoch({worker_started_at})
           END AS run_epoch
    FROM task_runs AS r
);
