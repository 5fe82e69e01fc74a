//! Text measures the lexicon rules need: the number of extended grapheme clusters (Unicode
//! UAX #29) in a string, for `minGraphemes` / `maxGraphemes`.

use unicode_segmentation::UnicodeSegmentation;

/// The number of extended grapheme clusters in `text` (a flag, an emoji ZWJ sequence or a
/// letter with combining marks each count as one).
#[must_use]
pub fn grapheme_count(text: &str) -> usize {
    text.graphemes(true).count()
}

#[cfg(test)]
mod tests {
    use super::grapheme_count;

    #[test]
    fn counts_clusters_not_code_points() {
        assert_eq!(grapheme_count(""), 0);
        assert_eq!(grapheme_count("abc"), 3);
        // family: four people joined by ZERO WIDTH JOINERs is one cluster
        assert_eq!(
            grapheme_count("\u{1f469}\u{200d}\u{1f469}\u{200d}\u{1f466}\u{200d}\u{1f466}"),
            1
        );
        // e + COMBINING ACUTE ACCENT, and a regional-indicator flag
        assert_eq!(grapheme_count("e\u{301}\u{1f1eb}\u{1f1f7}"), 2);
        // CR LF is one cluster
        assert_eq!(grapheme_count("a\r\nb"), 3);
    }
}
