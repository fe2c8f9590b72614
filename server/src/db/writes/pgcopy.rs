//! PostgreSQL's binary `COPY` format, for the bulk writes of a run: values go in as
//! PostgreSQL stores them, so neither side formats or parses text (UUIDs, times and
//! escaping were a third of the writer's CPU in the benchmark).
//!
//! Layout (PostgreSQL documentation, "COPY", binary format): a signature and two
//! zero 32-bit words; per row a 16-bit field count, then per field a 32-bit length
//! (-1 for NULL) and the value's bytes; a 16-bit -1 at the end. All big-endian.

use time::OffsetDateTime;
use uuid::Uuid;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix seconds.
const PG_EPOCH_UNIX: i64 = 946_684_800;
/// The version byte that starts a `jsonb` value in binary form.
const JSONB_VERSION: u8 = 1;
/// The element types of the arrays written (PostgreSQL's `pg_type` OIDs).
const TEXT_OID: i32 = 25;
const UUID_OID: i32 = 2950;

pub struct BinaryCopy {
    buf: Vec<u8>,
}

impl BinaryCopy {
    pub fn with_capacity(bytes: usize) -> BinaryCopy {
        let mut buf = Vec::with_capacity(bytes + 19);
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        BinaryCopy { buf }
    }

    /// Starts a row of `fields` values; exactly that many must follow.
    pub fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    fn value(&mut self, bytes: &[u8]) {
        let len = i32::try_from(bytes.len()).expect("a field is far below 2 GiB");
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    pub fn null(&mut self) {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// `text`: the UTF-8 bytes as they are (records are validated: no NUL can occur).
    pub fn text(&mut self, v: &str) {
        self.value(v.as_bytes());
    }

    pub fn opt_text(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub fn uuid(&mut self, v: Uuid) {
        self.value(v.as_bytes());
    }

    pub fn opt_uuid(&mut self, v: Option<Uuid>) {
        match v {
            Some(v) => self.uuid(v),
            None => self.null(),
        }
    }

    pub fn bool(&mut self, v: bool) {
        self.value(&[u8::from(v)]);
    }

    pub fn int8(&mut self, v: i64) {
        self.value(&v.to_be_bytes());
    }

    /// `timestamptz`: microseconds since PostgreSQL's epoch.
    pub fn timestamptz(&mut self, t: OffsetDateTime) {
        let micros = t.unix_timestamp_nanos() / 1000 - i128::from(PG_EPOCH_UNIX) * 1_000_000;
        self.int8(i64::try_from(micros).expect("a time PostgreSQL can hold"));
    }

    /// `jsonb` of a serializable value, written straight into the buffer.
    pub fn jsonb<T: serde::Serialize>(&mut self, v: &T) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        self.buf.push(JSONB_VERSION);
        serde_json::to_writer(&mut self.buf, v).expect("a map of strings serializes");
        let len = i32::try_from(self.buf.len() - at - 4).expect("a field is far below 2 GiB");
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// A one-dimensional `uuid[]`; `None` elements are NULL.
    pub fn uuid_array<'a>(&mut self, v: impl ExactSizeIterator<Item = Option<&'a Uuid>> + Clone) {
        self.array(UUID_OID, v.map(|u| u.map(|u| &u.as_bytes()[..])));
    }

    /// A one-dimensional `text[]`; `None` elements are NULL.
    pub fn text_array<'a>(&mut self, v: impl ExactSizeIterator<Item = Option<&'a str>> + Clone) {
        self.array(TEXT_OID, v.map(|t| t.map(str::as_bytes)));
    }

    /// Array layout: dimensions, a has-NULLs flag, the element type, then per
    /// dimension its length and lower bound (1), then the elements as fields.
    fn array<'a>(
        &mut self,
        element_type: i32,
        elements: impl ExactSizeIterator<Item = Option<&'a [u8]>> + Clone,
    ) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        let has_null = elements.clone().any(|e| e.is_none());
        let len = i32::try_from(elements.len()).expect("an array is far below 2^31 elements");
        for word in [1, i32::from(has_null), element_type, len, 1] {
            self.buf.extend_from_slice(&word.to_be_bytes());
        }
        for e in elements {
            match e {
                Some(bytes) => self.value(bytes),
                None => self.null(),
            }
        }
        let len = i32::try_from(self.buf.len() - at - 4).expect("a field is far below 2 GiB");
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_row_is_encoded_as_postgres_documents_it() {
        let mut c = BinaryCopy::with_capacity(0);
        c.row(4);
        c.text("né");
        c.null();
        c.bool(true);
        c.jsonb(&BTreeMap::from([("a", "b")]));
        let out = c.finish();
        let mut want = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        want.extend_from_slice(&[0, 4]);
        want.extend_from_slice(&[0, 0, 0, 3, b'n', 0xc3, 0xa9]);
        want.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        want.extend_from_slice(&[0, 0, 0, 1, 1]);
        want.extend_from_slice(&[0, 0, 0, 10, 1]);
        want.extend_from_slice(br#"{"a":"b"}"#);
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(out, want);
    }

    #[test]
    fn values_are_length_prefixed_so_none_can_end_a_field_or_a_row() {
        let mut c = BinaryCopy::with_capacity(0);
        c.row(1);
        c.text("a\tb\nc\\d\r\\N");
        let out = c.finish();
        assert_eq!(&out[19..25], &[0, 1, 0, 0, 0, 10]);
        assert_eq!(&out[25..35], b"a\tb\nc\\d\r\\N");
    }

    #[test]
    fn an_array_is_dimensions_then_its_elements_as_fields() {
        let mut c = BinaryCopy::with_capacity(0);
        c.row(1);
        c.text_array([Some("ab"), None].into_iter());
        let out = c.finish();
        let mut want = vec![0, 1];
        let words: [i32; 6] = [30, 1, 1, TEXT_OID, 2, 1];
        for w in words {
            want.extend_from_slice(&w.to_be_bytes());
        }
        want.extend_from_slice(&[0, 0, 0, 2, b'a', b'b', 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&out[19..out.len() - 2], &want[..]);
    }

    #[test]
    fn times_count_microseconds_from_2000() {
        let encode = |t: OffsetDateTime| {
            let mut c = BinaryCopy::with_capacity(0);
            c.timestamptz(t);
            let out = c.finish();
            i64::from_be_bytes(out[23..31].try_into().unwrap())
        };
        let y2k = OffsetDateTime::from_unix_timestamp(PG_EPOCH_UNIX).unwrap();
        assert_eq!(encode(y2k), 0);
        assert_eq!(
            encode(y2k + time::Duration::microseconds(1_000_002)),
            1_000_002
        );
        assert_eq!(encode(OffsetDateTime::UNIX_EPOCH), -946_684_800_000_000);
    }
}
