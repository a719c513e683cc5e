#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Property tests of request routing: any method and path gets a route or a clear error,
//! never a panic; ids round-trip; only positive 64-bit decimal ids are accepted.

use kanban_workers::shim::http::routes::{PLUGIN_PREFIX, Read, Route, route, shown};
use proptest::prelude::*;

/// Path-like strings: fragments of real routes mixed with hostile pieces.
fn path() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("runs".to_owned()),
        Just("workers".to_owned()),
        Just("active".to_owned()),
        Just("inspect".to_owned()),
        Just("..".to_owned()),
        Just("%2F".to_owned()),
        Just("%00".to_owned()),
        Just(PLUGIN_PREFIX.to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_request_routes_or_errors_clearly(method in prop_oneof![Just("GET".to_owned()), Just("HEAD".to_owned()), Just("POST".to_owned()), any::<String>()], p in path(), query in proptest::option::of(prop_oneof![Just("live=1".to_owned()), Just("live=0&x=%ff".to_owned()), any::<String>()])) {
        match route(&method, &p, query.as_deref()) {
            Ok(Route::Read(Read::Run(id) | Read::Inspect(id) | Read::Processes(id) | Read::History(id)) | Route::Terminate(id) | Route::Reap(id) | Route::Stop(id) | Route::Pause(id) | Route::Resume(id) | Route::FollowLog(id)) => prop_assert!(id >= 1),
            Ok(Route::Read(Read::TaskLog { task_id, tail })) => {
                prop_assert!(!task_id.is_empty());
                prop_assert!(tail.is_none_or(|t| (1..=2_000_000).contains(&t)));
            }
            Ok(Route::Read(Read::Endings { since })) => prop_assert!(since.is_none_or(|s| s >= 0)),
            Ok(Route::Read(Read::WorkersActive | Read::WorkersHistory) | Route::Sampled(_) | Route::EveryBoard(_) | Route::Fleet | Route::Page) => {}
            Err(e) => {
                prop_assert!(matches!(e.status, 404 | 405 | 422), "{}", e.status);
                prop_assert!(!e.detail.is_empty());
                prop_assert!(!e.detail.chars().any(char::is_control), "{:?}", e.detail);
            }
        }
    }

    #[test]
    fn every_positive_id_round_trips_under_both_prefixes(id in 1i64..=i64::MAX, plugin in any::<bool>()) {
        let prefix = if plugin { PLUGIN_PREFIX } else { "" };
        prop_assert_eq!(route("GET", &format!("{prefix}/runs/{id}"), None), Ok(Route::Read(Read::Run(id))));
        prop_assert_eq!(route("HEAD", &format!("{prefix}/runs/{id}/inspect"), None), Ok(Route::Read(Read::Inspect(id))));
    }

    #[test]
    fn only_decimal_positive_ids_are_accepted(s in "[^/]{1,30}") {
        let parsed = s.parse::<i64>().ok().filter(|n| *n >= 1 && s.bytes().all(|b| b.is_ascii_digit()));
        match route("GET", &format!("/runs/{s}"), None) {
            Ok(Route::Read(Read::Run(id))) => prop_assert_eq!(Some(id), parsed),
            Ok(other) => prop_assert!(false, "{other:?}"),
            Err(e) => {
                prop_assert_eq!(parsed, None);
                prop_assert_eq!(e.status, 422);
            }
        }
    }

    #[test]
    fn shown_text_is_bounded_and_printable(s in any::<String>()) {
        let out = shown(&s);
        prop_assert!(!out.chars().any(char::is_control));
        prop_assert!(out.chars().count() <= 100 * 10 + 3);
    }
}
