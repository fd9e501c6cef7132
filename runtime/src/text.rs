//! Bounded text: whatever a plugin can make the host keep or pass on (an
//! audit event, an error answer, a log line) is cut to a size first.

use wasp_protocol::WireError;

/// The longest error message (and context) an answer carries, in bytes,
/// whatever the message-size limit: a plugin's own error reply, or the
/// host's report of its fault (a panic message, a backtrace).
pub const MAX_ERROR_TEXT: usize = 64 << 10;

/// Cuts `text` to at most `max` bytes, at a character boundary, ending in a
/// marker that says how many bytes were cut (`… (1048000 bytes cut)`).
/// Text within `max` is left alone.
///
/// ```
/// let mut s = "é".repeat(100);
/// wasp_runtime::truncate(&mut s, 40);
/// assert!(s.len() <= 40 && s.ends_with("bytes cut)"), "{s}");
/// ```
pub fn truncate(text: &mut String, max: usize) {
    if let Some((end, marker)) = cut(text, max) {
        text.truncate(end);
        text.push_str(&marker);
    }
}

/// [`truncate`] for borrowed text: copies at most `max` bytes of it.
pub fn truncated(text: &str, max: usize) -> String {
    match cut(text, max) {
        None => text.to_owned(),
        Some((end, marker)) => {
            let mut out = String::with_capacity(end + marker.len());
            out.push_str(&text[..end]);
            out.push_str(&marker);
            out
        }
    }
}

/// Where to cut `text` to fit `max` bytes, and the marker to append; `None`
/// when it fits.
fn cut(text: &str, max: usize) -> Option<(usize, String)> {
    if text.len() <= max {
        return None;
    }
    let marker = |cut: usize| format!("… ({cut} bytes cut)");
    // The marker of the whole length is at least as wide as the one printed.
    let room = max.saturating_sub(marker(text.len()).len());
    let end = floor_char_boundary(text, room);
    // Without room for the marker, the cut alone.
    let marker = if room > 0 { marker(text.len() - end) } else { String::new() };
    Some((if room > 0 { end } else { floor_char_boundary(text, max) }, marker))
}

/// `error` with its message and context cut to [`MAX_ERROR_TEXT`], or to
/// `limit` (the message-size limit) when that is smaller.
pub fn bound_error(mut error: WireError, limit: usize) -> WireError {
    let max = limit.min(MAX_ERROR_TEXT);
    truncate(&mut error.message, max);
    if let Some(context) = &mut error.context {
        truncate(context, max);
    }
    error
}

/// The largest index `<= at` that is a character boundary of `text`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = at.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_whole() {
        let mut s = "hello".to_owned();
        truncate(&mut s, 5);
        assert_eq!(s, "hello");
        assert_eq!(truncated("hello", 64), "hello");
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_a_marker() {
        for max in [0, 1, 10, 23, 24, 40, 1000] {
            let mut s = "aé€😀".repeat(500);
            let len = s.len();
            let borrowed = truncated(&s, max);
            truncate(&mut s, max);
            for t in [&s, &borrowed] {
                assert!(t.len() <= max, "{max}: {} bytes", t.len());
                if max >= 40 {
                    let cut = t.rsplit_once('(').and_then(|(_, n)| n.split(' ').next()?.parse::<usize>().ok());
                    assert_eq!(cut, Some(len - t.find('…').unwrap()), "{max}: {t}");
                }
            }
        }
    }

    #[test]
    fn errors_are_bounded_by_the_smaller_of_the_limit_and_the_cap() {
        let e = WireError::plugin("x".repeat(1 << 20)).with_context("y".repeat(1 << 20));
        let small = bound_error(e.clone(), 100);
        assert!(small.message.len() <= 100 && small.context.as_ref().is_some_and(|c| c.len() <= 100));
        let capped = bound_error(e, usize::MAX);
        assert!(capped.message.len() <= MAX_ERROR_TEXT && capped.message.len() > MAX_ERROR_TEXT - 64);
    }
}
