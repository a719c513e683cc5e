//! A Prometheus-compatible query API (`/api/v1/query`: Prometheus, Thanos, VictoriaMetrics),
//! asked over plain HTTP with hyper's client: instant queries only. Its answers are hostile
//! input of any size (a compromised host exports what it likes; the query API may be anyone's):
//! an answer is read up to [`MAX_ANSWER_BYTES`] by the async worker (I/O only), then parsed on
//! a blocking thread ([`parse`]) as a stream into compact records that hold only the labels the
//! caller keeps, each cut at [`MAX_LABEL_BYTES`], and at most [`Keep::max_series`] of them: the
//! memory kept is bounded by what is kept, not by the bytes received, and the work by the
//! caller's deadline, looked at as the series go by. Knows nothing of boards or of routes.

use std::collections::HashMap;
use std::fmt;
use std::time::Instant;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The most bytes of one answer read (a fleet of 25,000 workers' series is a few MB).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// The most bytes of one label value kept (longer ones are cut at a character's boundary).
pub const MAX_LABEL_BYTES: usize = 256;

/// How often (in series) the parse looks at its deadline.
const DEADLINE_EVERY: usize = 1024;

/// Where the query API is: `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    pub url: String,
    host: String,
    port: u16,
    prefix: String,
}

/// What a query keeps of its answer: the labels (every other is skipped unread; the first is
/// the one series are counted by, `instance`), how many series at most, how many of one
/// target, and how many targets (the rest are counted, not kept).
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub labels: &'static [&'static str],
    pub max_series: usize,
    pub per_target: usize,
    pub max_targets: usize,
}

/// One series of an instant vector: the labels kept (in [`Keep::labels`]' order, absent ones
/// `None`), and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Box<[Option<Box<str>>]>,
    pub value: f64,
}

impl Series {
    /// The value of the label at `index` of [`Keep::labels`].
    pub fn label(&self, index: usize) -> Option<&str> {
        self.labels.get(index).and_then(|l| l.as_deref())
    }
}

/// An instant vector as kept: its series (as [`Keep`] says), how many it had, and how many
/// each of its first [`Keep::max_targets`] targets had (of those the filter took).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vector {
    pub series: Vec<Series>,
    pub seen: usize,
    pub per_target: HashMap<Box<str>, usize>,
}

/// Why a query has no answer; its text names the query API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// No answer by the deadline (a 504).
    Late(String),
    /// No answer at all, or not one of a query API (a 502).
    Bad(String),
}

/// An answer as read: its status and its bytes, not yet parsed.
pub struct Raw {
    status: hyper::StatusCode,
    body: Bytes,
}

impl Prometheus {
    /// `url` as `--prometheus` takes it: `http://HOST[:PORT][/PREFIX]` (port 9090 by default).
    pub fn parse(url: &str) -> Result<Prometheus, String> {
        let bad = |why: &str| format!("--prometheus: '{url}' {why}");
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("is not an http:// address (https: put a local proxy before it)"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("has a port that is not a number"))?,
            ),
            _ => (authority, 9090),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || authority.contains('@') {
            return Err(bad("names no host"));
        }
        Ok(Prometheus {
            url: url.trim_end_matches('/').to_owned(),
            host: host.to_owned(),
            port,
            prefix: prefix.to_owned(),
        })
    }

    /// The answer's bytes to `promql`, evaluated now, read by `deadline` (I/O only: parse
    /// them with [`Prometheus::vector`] on a blocking thread).
    pub async fn fetch(&self, promql: &str, deadline: Instant) -> Result<Raw, Failed> {
        match tokio::time::timeout_at(deadline.into(), self.ask(promql)).await {
            Ok(answer) => answer,
            Err(_) => Err(self.late()),
        }
    }

    /// The failure of an answer not had by the deadline.
    pub fn late(&self) -> Failed {
        Failed::Late(format!("Prometheus at {} did not answer in time", self.url))
    }

    fn bad(&self, why: impl fmt::Display) -> Failed {
        Failed::Bad(format!("Prometheus at {}: {why}", self.url))
    }

    async fn ask(&self, promql: &str) -> Result<Raw, Failed> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.bad(e))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.bad(e))?;
        tokio::spawn(conn);
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish();
        let request = hyper::Request::get(format!("{}/api/v1/query?{query}", self.prefix))
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| self.bad(e))?;
        let response = send.send_request(request).await.map_err(|e| self.bad(e))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| {
                self.bad(format!(
                    "its answer could not be read ({e}; at most {} MiB)",
                    MAX_ANSWER_BYTES >> 20
                ))
            })?
            .to_bytes();
        Ok(Raw { status, body })
    }

    /// The instant vector in `raw`, as `keep` says, parsed before `deadline` (CPU work: on a
    /// blocking thread). The bytes are read once, as a stream: no tree of the whole answer is
    /// built.
    pub fn vector(
        &self,
        raw: &Raw,
        keep: Keep,
        filter: &Filter,
        deadline: Instant,
    ) -> Result<Vector, Failed> {
        let mut de = serde_json::Deserializer::from_slice(&raw.body);
        let seed = AnswerSeed {
            keep: Rules {
                keep,
                filter,
                deadline,
            },
        };
        let answer = match seed.deserialize(&mut de).and_then(|a| de.end().map(|()| a)) {
            Ok(answer) => answer,
            Err(e) if e.to_string().starts_with(PAST_DEADLINE) => return Err(self.late()),
            Err(_) => {
                return Err(self.bad(format!("answered {} without JSON", raw.status)));
            }
        };
        if answer.status.as_deref() != Some("success") {
            let error = answer.error.as_deref().unwrap_or("no error given");
            let error: String = error.chars().take(MAX_LABEL_BYTES).collect();
            return Err(self.bad(format!("answered {}: {error}", raw.status)));
        }
        answer.vector.ok_or_else(|| self.bad("answered no vector"))
    }
}

/// Which series a query keeps, by their kept labels.
pub type Filter = dyn Fn(&[Option<Box<str>>]) -> bool + Send;

/// What a parse keeps, and until when it may run.
#[derive(Clone, Copy)]
struct Rules<'f> {
    keep: Keep,
    filter: &'f Filter,
    deadline: Instant,
}

/// The error text of a parse stopped at its deadline.
const PAST_DEADLINE: &str = "past the request's deadline";

/// The scalars where a visitor wants something else: read as `None` (a hostile answer may put
/// anything anywhere; it is skipped, never an error that stops the parse).
macro_rules! scalars_are_none {
    () => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

/// A list read to its end, unkept.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// A map read to its end, unkept.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// `{"status", "error", "data": {"result": [...]}}`, the rest skipped.
struct Answer {
    status: Option<String>,
    error: Option<String>,
    vector: Option<Vector>,
}

struct AnswerSeed<'f> {
    keep: Rules<'f>,
}

impl<'de> DeserializeSeed<'de> for AnswerSeed<'_> {
    type Value = Answer;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Answer, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AnswerSeed<'_> {
    type Value = Answer;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a query API's answer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Answer, A::Error> {
        let mut answer = Answer {
            status: None,
            error: None,
            vector: None,
        };
        while let Some(key) = map.next_key::<KeyName>()? {
            match key.0.as_deref() {
                Some("status") => answer.status = map.next_value::<Text>()?.0,
                Some("error") => answer.error = map.next_value::<Text>()?.0,
                Some("data") => {
                    answer.vector = map.next_value_seed(DataSeed { keep: self.keep })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(answer)
    }
}

/// `{"resultType", "result": [...]}`: the result, when it is a list.
struct DataSeed<'f> {
    keep: Rules<'f>,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Option<Vector>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Vector>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = Option<Vector>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the answer's data")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Vector>, A::Error> {
        let mut vector = None;
        while let Some(key) = map.next_key::<KeyName>()? {
            if key.0.as_deref() == Some("result") {
                vector = map.next_value_seed(ResultSeed { keep: self.keep })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(vector)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    scalars_are_none!();
}

/// `[{"metric": {...}, "value": [t, "v"]}, ...]`: the series kept, the rest counted.
struct ResultSeed<'f> {
    keep: Rules<'f>,
}

impl<'de> DeserializeSeed<'de> for ResultSeed<'_> {
    type Value = Option<Vector>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Vector>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_> {
    type Value = Option<Vector>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an instant vector")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Vector>, A::Error> {
        let Rules {
            keep,
            filter,
            deadline,
        } = self.keep;
        let mut vector = Vector::default();
        loop {
            if vector.seen % DEADLINE_EVERY == 0 && Instant::now() >= deadline {
                return Err(de::Error::custom(PAST_DEADLINE));
            }
            // Not a series of an instant vector (no value, a value not a number): skipped.
            let Some(series) = seq.next_element_seed(SeriesSeed(keep))? else {
                break;
            };
            vector.seen += 1;
            let Some(series) = series.filter(|s| filter(&s.labels)) else {
                continue;
            };
            let target = series.labels.first().cloned().flatten().unwrap_or_default();
            let room = vector.per_target.len() < keep.max_targets;
            let counted = match vector.per_target.get_mut(&target) {
                Some(n) => {
                    *n += 1;
                    *n
                }
                None if room => {
                    vector.per_target.insert(target, 1);
                    1
                }
                None => continue,
            };
            if counted <= keep.per_target && vector.series.len() < keep.max_series {
                vector.series.push(series);
            }
        }
        Ok(Some(vector))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
    scalars_are_none!();
}

/// One result: `Some` when it has a value that is a number.
struct SeriesSeed(Keep);

impl<'de> DeserializeSeed<'de> for SeriesSeed {
    type Value = Option<Series>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Series>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SeriesSeed {
    type Value = Option<Series>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a series")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Series>, A::Error> {
        let mut labels: Option<Box<[Option<Box<str>>]>> = None;
        let mut value = None;
        while let Some(key) = map.next_key::<KeyName>()? {
            match key.0.as_deref() {
                Some("metric") => labels = map.next_value_seed(LabelsSeed(self.0))?,
                Some("value") => value = map.next_value_seed(ValueSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let labels = labels.unwrap_or_else(|| vec![None; self.0.labels.len()].into());
        Ok(value.map(|value| Series { labels, value }))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    scalars_are_none!();
}

/// A series' labels: only those kept, each cut at [`MAX_LABEL_BYTES`]; a label that is not
/// text is absent.
struct LabelsSeed(Keep);

impl<'de> DeserializeSeed<'de> for LabelsSeed {
    type Value = Option<Box<[Option<Box<str>>]>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed {
    type Value = Option<Box<[Option<Box<str>>]>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a series' labels")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut labels: Vec<Option<Box<str>>> = vec![None; self.0.labels.len()];
        while let Some(key) = map.next_key::<KeyName>()? {
            let at = key
                .0
                .as_deref()
                .and_then(|k| self.0.labels.iter().position(|l| *l == k));
            match at {
                Some(i) => labels[i] = map.next_value::<Text>()?.0.map(cut),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(labels.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    scalars_are_none!();
}

/// `[t, "v"]`: the value, when it is a number written as text (as the query API writes it).
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Option<f64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sample")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<f64>, A::Error> {
        let _time = seq.next_element::<IgnoredAny>()?;
        let value = seq.next_element::<Text>()?.and_then(|t| t.0);
        skip_seq(seq)?;
        Ok(value.and_then(|v| v.parse::<f64>().ok()))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
    scalars_are_none!();
}

/// A map key, when short enough to be one of ours (longer keys are skipped, not copied).
struct KeyName(Option<Box<str>>);

impl<'de> de::Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyName, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyName, E> {
                Ok(KeyName((v.len() <= 64).then(|| v.into())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A value, when it is text (cut at [`MAX_LABEL_BYTES`] when kept); anything else is skipped.
struct Text(Option<String>);

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(cut_str(v).to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text, A::Error> {
                skip_seq(seq).map(|()| Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text, A::Error> {
                skip_map(map).map(|()| Text(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `v` cut at [`MAX_LABEL_BYTES`], at a character's boundary.
fn cut_str(v: &str) -> &str {
    if v.len() <= MAX_LABEL_BYTES {
        return v;
    }
    let mut end = MAX_LABEL_BYTES;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    &v[..end]
}

fn cut(v: String) -> Box<str> {
    v.into_boxed_str()
}
