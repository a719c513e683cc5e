// Active workers with live process stats, from Node.js with better-sqlite3.
// Setup: npm install better-sqlite3@12   (version 12 for Node 20)
// Usage: node examples/node_client.mjs BOARD.db [path/to/libkanban_workers.so]
import Database from "better-sqlite3";

const [board, ext = "target/release/libkanban_workers.so"] = process.argv.slice(2);
const db = new Database(board, { readonly: true, fileMustExist: true });
db.loadExtension(ext);

const rows = db
  .prepare(
    `SELECT w.run_id, w.task_id, w.worker_pid, p.alive, p.reason, p.cpu_percent, p.rss_bytes
     FROM active_workers AS w LEFT JOIN proc_stats(w.worker_pid) AS p
     ORDER BY w.started_at`
  )
  .all();
console.log(JSON.stringify(rows, null, 2));
