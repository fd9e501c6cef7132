//! The structure check that runs before every decode of untrusted bytes:
//! exactly one MessagePack value, arrays and maps nested at most
//! [`MAX_DEPTH`] deep, every length within the input.
//!
//! The decoders behind it (rmp-serde, rmpv, serde_json) recurse once per
//! level of nesting, so bytes nested thousands deep would exhaust the stack
//! of whatever thread or fiber decodes them and kill the process. This walk
//! is iterative (an explicit count of what each open array or map still
//! holds) and cheap: strings, binaries and extensions are skipped by their
//! length, never read.

use rmp::Marker;

use super::CodecError;

/// How deeply arrays and maps may nest in a message that is decoded: 32.
///
/// The decoders recurse once per level, and an unoptimized build spends a
/// few KiB of stack on each; 32 levels stay near 100 KiB, well inside the
/// smallest stack that decodes a message (2 MiB for a tokio worker or a
/// wasmtime fiber, 1 MiB for a `wasm32` guest). wasp's own structures nest
/// at most 4 deep, and a payload an application designs rarely passes 10;
/// so the limit costs nothing honest and leaves a wide margin.
pub const MAX_DEPTH: usize = 32;

/// Checks that `bytes` hold exactly one well-formed MessagePack value whose
/// arrays and maps nest at most [`MAX_DEPTH`] deep. It allocates nothing
/// and never recurses.
///
/// ```
/// use wasp_protocol::codec::{self, CodecError, MAX_DEPTH};
/// codec::check(&[0x92, 0x01, 0xa1, b'x'])?; // [1, "x"]
/// let deep = [vec![0x91; MAX_DEPTH + 1], vec![0xc0]].concat();
/// assert_eq!(codec::check(&deep), Err(CodecError::TooDeep { max: MAX_DEPTH }));
/// assert!(codec::check(&[0x01, 0x02]).is_err()); // a second value follows
/// # Ok::<(), CodecError>(())
/// ```
///
/// # Errors
///
/// [`CodecError::TooDeep`] past the depth limit; [`CodecError::Malformed`]
/// for empty input, a truncated value, the reserved marker `0xc1`, or bytes
/// after the value.
pub fn check(bytes: &[u8]) -> Result<(), CodecError> {
    walk(bytes, |_, _| {})
}

/// One item of a MessagePack value, as its marker (and length) announce it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Item<'a> {
    Nil,
    Bool,
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Ext(&'a [u8]),
    /// An array of this many items.
    Array(u32),
    /// A map of this many entries.
    Map(u32),
}

/// Where an item sits: how many arrays and maps enclose it, and whether it
/// is the key of a map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) depth: usize,
    pub(crate) key: bool,
}

/// One open array or map: the items it still holds (two per map entry).
#[derive(Clone, Copy)]
struct Open {
    left: u64,
    map: bool,
}

/// Walks the one value in `bytes` item by item, depth first, handing each
/// to `visit`; refuses what [`check`] refuses. Its stack is a fixed array
/// of [`MAX_DEPTH`] counters: it allocates nothing.
pub(crate) fn walk<'a>(bytes: &'a [u8], mut visit: impl FnMut(Item<'a>, Position)) -> Result<(), CodecError> {
    if bytes.is_empty() {
        return Err(malformed("the input is empty"));
    }
    let mut input = Input { bytes, at: 0 };
    let mut open = [Open { left: 0, map: false }; MAX_DEPTH];
    let mut depth = 0;
    loop {
        let key = depth > 0 && open[depth - 1].map && open[depth - 1].left % 2 == 0;
        let start = input.at;
        let item = input.item()?;
        if depth > 0 {
            open[depth - 1].left -= 1;
        }
        visit(item, Position { depth, key });
        let (children, map) = match item {
            Item::Array(n) => (u64::from(n), false),
            Item::Map(n) => (2 * u64::from(n), true),
            _ => (0, false),
        };
        if matches!(item, Item::Array(_) | Item::Map(_)) && depth >= MAX_DEPTH {
            return Err(CodecError::TooDeep { max: MAX_DEPTH });
        }
        if children > 0 {
            // Each item takes at least one byte: a length past the input is
            // refused before the walk goes on.
            if children > input.left() as u64 {
                return Err(malformed(format!(
                    "{} at byte {start} announces {children} items, more than the {} bytes left",
                    if map { "a map" } else { "an array" },
                    input.left()
                )));
            }
            open[depth] = Open { left: children, map };
            depth += 1;
            continue;
        }
        while depth > 0 && open[depth - 1].left == 0 {
            depth -= 1;
        }
        if depth == 0 {
            break;
        }
    }
    match input.left() {
        0 => Ok(()),
        n => Err(malformed(format!("trailing bytes after the value ({n})"))),
    }
}

fn malformed(why: impl Into<String>) -> CodecError {
    CodecError::Malformed(why.into())
}

/// The bytes, and how far the walk has read.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        match self.bytes.get(self.at..).and_then(|rest| rest.get(..n)) {
            Some(taken) => {
                self.at += n;
                Ok(taken)
            }
            None => Err(malformed(format!("truncated: {n} bytes wanted at byte {}, {} left", self.at, self.left()))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A big-endian unsigned length of 1, 2 or 4 bytes.
    fn len(&mut self, width: usize) -> Result<usize, CodecError> {
        let n = match width {
            1 => u32::from(self.array::<1>()?[0]),
            2 => u32::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?),
        };
        Ok(n as usize)
    }

    /// The next item: its marker, length and (for strings, binaries and
    /// extensions) its bytes.
    fn item(&mut self) -> Result<Item<'a>, CodecError> {
        let at = self.at;
        let marker = Marker::from_u8(self.array::<1>()?[0]);
        Ok(match marker {
            Marker::Null => Item::Nil,
            Marker::True | Marker::False => Item::Bool,
            Marker::FixPos(n) => Item::UInt(u64::from(n)),
            Marker::FixNeg(n) => Item::Int(i64::from(n)),
            Marker::U8 => Item::UInt(u64::from(self.array::<1>()?[0])),
            Marker::U16 => Item::UInt(u64::from(u16::from_be_bytes(self.array()?))),
            Marker::U32 => Item::UInt(u64::from(u32::from_be_bytes(self.array()?))),
            Marker::U64 => Item::UInt(u64::from_be_bytes(self.array()?)),
            Marker::I8 => Item::Int(i64::from(i8::from_be_bytes(self.array()?))),
            Marker::I16 => Item::Int(i64::from(i16::from_be_bytes(self.array()?))),
            Marker::I32 => Item::Int(i64::from(i32::from_be_bytes(self.array()?))),
            Marker::I64 => Item::Int(i64::from_be_bytes(self.array()?)),
            Marker::F32 => Item::Float(f64::from(f32::from_be_bytes(self.array()?))),
            Marker::F64 => Item::Float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => Item::Str(self.take(usize::from(n))?),
            Marker::Str8 => Item::Str(self.sized(1)?),
            Marker::Str16 => Item::Str(self.sized(2)?),
            Marker::Str32 => Item::Str(self.sized(4)?),
            Marker::Bin8 => Item::Bin(self.sized(1)?),
            Marker::Bin16 => Item::Bin(self.sized(2)?),
            Marker::Bin32 => Item::Bin(self.sized(4)?),
            Marker::FixExt1 => Item::Ext(self.take(2)?),
            Marker::FixExt2 => Item::Ext(self.take(3)?),
            Marker::FixExt4 => Item::Ext(self.take(5)?),
            Marker::FixExt8 => Item::Ext(self.take(9)?),
            Marker::FixExt16 => Item::Ext(self.take(17)?),
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => {
                let width = match marker {
                    Marker::Ext8 => 1,
                    Marker::Ext16 => 2,
                    _ => 4,
                };
                let len = self.len(width)?;
                // The type byte, then the data.
                Item::Ext(self.take(len.saturating_add(1))?)
            }
            Marker::FixArray(n) => Item::Array(u32::from(n)),
            Marker::Array16 => Item::Array(u32::from(u16::from_be_bytes(self.array()?))),
            Marker::Array32 => Item::Array(u32::from_be_bytes(self.array()?)),
            Marker::FixMap(n) => Item::Map(u32::from(n)),
            Marker::Map16 => Item::Map(u32::from(u16::from_be_bytes(self.array()?))),
            Marker::Map32 => Item::Map(u32::from_be_bytes(self.array()?)),
            Marker::Reserved => return Err(malformed(format!("the reserved marker 0xc1 at byte {at}"))),
        })
    }

    /// A length of `width` bytes, then that many bytes.
    fn sized(&mut self, width: usize) -> Result<&'a [u8], CodecError> {
        let len = self.len(width)?;
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        let mut bytes = vec![0x91; levels];
        bytes.push(0xc0);
        bytes
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_level_is_refused() {
        assert_eq!(check(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check(&nested(MAX_DEPTH + 1)), Err(CodecError::TooDeep { max: MAX_DEPTH }));
        // Maps count alike, and an empty container at the limit is still a level.
        let maps = [[0x81, 0xa1, b'k']; MAX_DEPTH + 1].concat();
        assert_eq!(check(&[maps, vec![0xc0]].concat()), Err(CodecError::TooDeep { max: MAX_DEPTH }));
        let mut empty = vec![0x91; MAX_DEPTH];
        empty.push(0x90);
        assert_eq!(check(&empty), Err(CodecError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn ten_thousand_levels_are_refused_on_a_small_stack() {
        let deep = nested(10_000);
        let result = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || check(&deep))
            .expect("thread starts")
            .join()
            .expect("no overflow");
        assert_eq!(result, Err(CodecError::TooDeep { max: MAX_DEPTH }));
    }

    #[test]
    fn every_kind_of_item_is_read_and_skipped_by_its_length() {
        #[rustfmt::skip]
        let bytes = [
            0x83, // a map of 3 entries:
            0xa1, b'a', 0xdc, 0x00, 0x08, // "a": [ (array 16 of 8)
                0xcc, 0xff, 0xd1, 0x80, 0x00, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, // 255, -32768, 0.0,
                0xc4, 0x02, 1, 2, 0xc5, 0x00, 0x01, 9, // bin [1, 2], bin16 [9],
                0xd4, 0x05, 0x09, 0xc7, 0x01, 0x05, 0x09, // fixext1, ext8,
                0xda, 0x00, 0x01, b'z', // str16 "z" ]
            0xc3, 0xe0, // true: -32
            0xc0, 0xde, 0x00, 0x00, // nil: {} (map 16)
        ];
        let mut seen = Vec::new();
        walk(&bytes, |item, at| seen.push((item, at.depth, at.key))).expect("well formed");
        let top = |item, key| (item, 1, key);
        let inner = |item| (item, 2, false);
        assert_eq!(
            seen,
            [
                (Item::Map(3), 0, false),
                top(Item::Str(b"a"), true),
                top(Item::Array(8), false),
                inner(Item::UInt(255)),
                inner(Item::Int(-32768)),
                inner(Item::Float(0.0)),
                inner(Item::Bin(&[1, 2])),
                inner(Item::Bin(&[9])),
                inner(Item::Ext(&[5, 9])),
                inner(Item::Ext(&[5, 9])),
                inner(Item::Str(b"z")),
                top(Item::Bool, true),
                top(Item::Int(-32), false),
                top(Item::Nil, true),
                top(Item::Map(0), false),
            ]
        );
    }

    #[test]
    fn broken_input_is_malformed_and_says_why() {
        let why = |bytes: &[u8]| match check(bytes) {
            Err(CodecError::Malformed(why)) => why,
            other => panic!("{bytes:02x?} gave {other:?}"),
        };
        assert!(why(&[]).contains("empty"));
        assert!(why(&[0x92, 0x01]).contains("an array at byte 0 announces 2 items, more than the 1 bytes left"));
        assert!(why(&[0x91, 0xc1]).contains("0xc1 at byte 1"));
        assert!(why(&[0xa5, b'a']).contains("truncated"));
        assert!(why(&[0xc6, 0xff, 0xff, 0xff, 0xff, 0]).contains("truncated"));
        assert!(why(&[0xc9, 0xff, 0xff, 0xff, 0xff]).contains("truncated"));
        assert!(why(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]).contains("announces 4294967295 items"));
        assert!(why(&[0xcd, 0x01]).contains("truncated"));
        assert!(why(&[0x01, 0x02]).contains("trailing bytes after the value (1)"));
        assert!(why(&[0x90, 0x90, 0x90]).contains("trailing bytes after the value (2)"));
    }
}
