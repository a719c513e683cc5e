//! One list of every board's rows (`?board=*`, issue 39 §2): each row the board's own, as its
//! board's list writes it, with `board` (its slug) first; then what each board answered.

use serde::ser::{Serialize, SerializeMap as _, SerializeSeq as _, Serializer};

use super::json::{self, Rows as _};
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
/// as). 507 past [`super::json::MAX_ANSWER_BYTES`], as every list.
pub fn every_board_json(
    list: &[u8],
    parts: &[Part<'_>],
    left_out: usize,
) -> Result<Vec<u8>, ApiError> {
    let rows = json::Sampled(
        parts
            .iter()
            .filter_map(|p| {
                let rows = p.rows.ok()?;
                Some(json::Sample {
                    board: Some(p.board),
                    keys: json::keys(rows.columns.iter().map(String::as_str), 0),
                    rows: &rows.rows,
                })
            })
            .collect(),
    );
    let oldest = parts
        .iter()
        .filter(|p| p.rows.is_ok())
        .map(|p| p.checked_at)
        .min()
        .unwrap_or_else(super::now_secs);
    let answer = Every {
        list: &String::from_utf8_lossy(list),
        rows: &rows,
        checked_at: oldest,
        parts,
        left_out,
    };
    json::write(&answer, 256 + 320 * rows.count(), None)
}

/// The answer, in its order.
struct Every<'a> {
    list: &'a str,
    rows: &'a json::Sampled<'a>,
    checked_at: i64,
    parts: &'a [Part<'a>],
    left_out: usize,
}

impl Serialize for Every<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry(self.list, self.rows)?;
        map.serialize_entry("count", &self.rows.count())?;
        map.serialize_entry("checked_at", &self.checked_at)?;
        map.serialize_entry("boards", &Boards(self.parts))?;
        map.serialize_entry("boards_left_out", &self.left_out)?;
        map.end()
    }
}

/// What each board answered: its count and when, or its error's status and detail.
struct Boards<'a>(&'a [Part<'a>]);

impl Serialize for Boards<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for part in self.0 {
            seq.serialize_element(&Answered(part))?;
        }
        seq.end()
    }
}

/// What one board answered.
struct Answered<'a>(&'a Part<'a>);

impl Serialize for Answered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let part = self.0;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("board", part.board)?;
        match part.rows {
            Ok(rows) => {
                map.serialize_entry("count", &rows.rows.len())?;
                map.serialize_entry("checked_at", &part.checked_at)?;
            }
            Err(e) => {
                map.serialize_entry("status", &e.status)?;
                map.serialize_entry("detail", &e.detail)?;
            }
        }
        map.end()
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
