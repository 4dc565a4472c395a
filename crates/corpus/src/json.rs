//! A minimal streaming JSON writer.
//!
//! Records are written straight into the file buffer, in CloudTrail's own key order, because
//! building a `serde_json::Value` per record would cost more than the gzip that follows it.
//! Keys are trusted literals; every string value is escaped.

use std::fmt::Display;
use std::io::Write as _;

/// Writes `s` as a JSON string literal.
pub fn escape_into(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                let _ = write!(out, "\\u{b:04x}");
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// An open JSON object.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Writes one object whose members `f` adds.
    pub fn write(out: &'a mut Vec<u8>, f: impl FnOnce(&mut Obj<'_>)) {
        out.push(b'{');
        let mut obj = Obj { out, empty: true };
        f(&mut obj);
        obj.out.push(b'}');
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        escape_into(self.out, value);
        self
    }

    /// A string member whose value is formatted (and then escaped).
    pub fn display(&mut self, key: &str, value: impl Display) -> &mut Self {
        self.str(key, &value.to_string())
    }

    /// A string member, or nothing when `value` is `None`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.str(key, v);
        }
        self
    }

    /// A number member.
    pub fn num(&mut self, key: &str, value: impl Display) -> &mut Self {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A `null` member.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.out.extend_from_slice(b"null");
        self
    }

    /// A nested object member.
    pub fn obj(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.key(key);
        Obj::write(self.out, f);
        self
    }

    /// An array member.
    pub fn arr(&mut self, key: &str, f: impl FnOnce(&mut Arr<'_>)) -> &mut Self {
        self.key(key);
        Arr::write(self.out, f);
        self
    }
}

/// An open JSON array.
pub struct Arr<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Arr<'a> {
    fn write(out: &'a mut Vec<u8>, f: impl FnOnce(&mut Arr<'_>)) {
        out.push(b'[');
        let mut arr = Arr { out, empty: true };
        f(&mut arr);
        arr.out.push(b']');
    }

    fn sep(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
    }

    /// An object element.
    pub fn obj(&mut self, f: impl FnOnce(&mut Obj<'_>)) -> &mut Self {
        self.sep();
        Obj::write(self.out, f);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_json_with_escapes() {
        let mut out = Vec::new();
        Obj::write(&mut out, |o| {
            o.str("a", "x\"y\\z\u{1b}[31m<b>\n")
                .num("n", 3)
                .bool("t", true)
                .null("z")
                .obj("o", |o| {
                    o.arr("l", |a| {
                        a.obj(|_| {}).obj(|o| {
                            o.opt_str("skip", None).opt_str("k", Some("v"));
                        });
                    });
                });
        });
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["a"], "x\"y\\z\u{1b}[31m<b>\n");
        assert_eq!(v["o"]["l"][1]["k"], "v");
        assert!(v["o"]["l"][1].get("skip").is_none());
        assert_eq!(v["n"], 3);
        assert!(v["z"].is_null());
    }
}
