//! One list of every board's rows (`?board=*`, issue 39 §2): each row the board's own, as its
//! board's list writes it, with `board` (its slug) first; then what each board answered.

use rusqlite::types::ValueRef;

use super::{keys, list_head, to_bytes, within_bound, write_as};
use crate::shim::ApiError;
use crate::shim::sample::Rows;

/// One board's part of the answer: its slug, its rows (or why it has none) and when they were
/// read.
pub struct Part<'a> {
    pub board: &'a str,
    pub rows: Result<&'a Rows, &'a ApiError>,
    pub checked_at: i64,
}

/// `{"<list>": [{"board", ...}, ...], "count", "checked_at", "boards": [{"board", "count",
/// "checked_at"} or {"board", "status", "detail"}], "boards_left_out"}`: the rows of each
/// board in turn, `checked_at` the oldest of the boards' (what the list is at least as fresh
/// as). 507 past [`super::MAX_ANSWER_BYTES`], as every list.
pub fn every_board_json(
    list: &[u8],
    parts: &[Part<'_>],
    left_out: usize,
) -> Result<Vec<u8>, ApiError> {
    let rows: usize = parts
        .iter()
        .map(|p| p.rows.map_or(0, |r| r.rows.len()))
        .sum();
    let mut out = list_head(list, rows);
    let mut count = 0usize;
    for part in parts {
        let Ok(board_rows) = part.rows else { continue };
        let keys = keys(board_rows.columns.iter().map(String::as_str));
        let board = to_bytes(&serde_json::Value::from(part.board));
        for row in &board_rows.rows {
            if count > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"board\":");
            out.extend_from_slice(&board);
            for (i, (key, kind)) in keys.iter().enumerate() {
                out.push(b',');
                out.extend_from_slice(key);
                write_as(
                    &mut out,
                    *kind,
                    row.get(i).map_or(ValueRef::Null, ValueRef::from),
                );
            }
            out.push(b'}');
            within_bound(&out)?;
            count += 1;
        }
    }
    let oldest = parts
        .iter()
        .filter(|p| p.rows.is_ok())
        .map(|p| p.checked_at)
        .min()
        .unwrap_or_else(super::now_secs);
    let boards: Vec<serde_json::Value> = parts.iter().map(board_entry).collect();
    out.extend_from_slice(
        format!("],\"count\":{count},\"checked_at\":{oldest},\"boards\":").as_bytes(),
    );
    out.extend_from_slice(&to_bytes(&serde_json::Value::from(boards)));
    out.extend_from_slice(format!(",\"boards_left_out\":{left_out}}}").as_bytes());
    within_bound(&out)?;
    Ok(out)
}

/// What one board answered: its count and when, or its error's status and detail.
fn board_entry(part: &Part<'_>) -> serde_json::Value {
    match part.rows {
        Ok(rows) => serde_json::json!({
            "board": part.board,
            "count": rows.rows.len(),
            "checked_at": part.checked_at,
        }),
        Err(e) => serde_json::json!({
            "board": part.board,
            "status": e.status,
            "detail": e.detail,
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rusqlite::types::Value;

    #[test]
    fn rows_of_each_board_with_its_slug_then_each_boards_answer() {
        let rows = |ids: &[i64]| Rows {
            columns: vec!["run_id".into(), "alive".into(), "cmdline".into()],
            rows: ids
                .iter()
                .map(|i| {
                    vec![
                        Value::Integer(*i),
                        Value::Integer(1),
                        Value::Text("[\"x\"]".into()),
                    ]
                })
                .collect(),
        };
        let (a, b) = (rows(&[1, 2]), rows(&[1]));
        let busy = ApiError::new(503, "board /x is busy");
        let parts = [
            Part {
                board: "default",
                rows: Ok(&a),
                checked_at: 20,
            },
            Part {
                board: "ops",
                rows: Ok(&b),
                checked_at: 10,
            },
            Part {
                board: "bad",
                rows: Err(&busy),
                checked_at: 0,
            },
        ];
        let out = every_board_json(b"workers", &parts, 2).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["count"], 3);
        assert_eq!(v["checked_at"], 10);
        assert_eq!(
            v["workers"][2],
            serde_json::json!({"board": "ops", "run_id": 1, "alive": true, "cmdline": ["x"]})
        );
        assert_eq!(
            v["boards"][1],
            serde_json::json!({"board": "ops", "count": 1, "checked_at": 10})
        );
        assert_eq!(
            v["boards"][2],
            serde_json::json!({"board": "bad", "status": 503, "detail": "board /x is busy"})
        );
        assert_eq!(v["boards_left_out"], 2);
    }
}
