//! Text normalisation shared by indexing and querying: lowercase, fold Latin diacritics, split
//! into alphanumeric tokens.
//!
//! The fold table is hand-written for Latin-1 Supplement, Latin Extended-A and the Romanian
//! comma-below letters instead of pulling in a Unicode normalisation crate: it covers every
//! accented Latin letter in the bank registry, costs no allocation per character, and keeps the
//! dependency list short. Other scripts (Cyrillic, Greek, CJK) are only lowercased. Combining
//! marks (U+0300–U+036F) are dropped, so decomposed input folds like precomposed input.

/// Base letters for U+0100..=U+017F (Latin Extended-A), already lowercased. `#` marks the four
/// ligatures that fold to two letters and are handled before the table is consulted.
const LATIN_EXTENDED_A: &[u8; 128] = b"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii##jjkkkllllllllllnnnnnnnnnoooooo##rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/// Base letters for U+00C0..=U+00FF (Latin-1 letters), lowercased. `#` = multi-letter fold or
/// not a letter (× and ÷), handled before the table is consulted.
const LATIN_1: &[u8; 64] = b"aaaaaa#ceeeeiiiidnooooo#ouuuuy##aaaaaa#ceeeeiiiidnooooo#ouuuuy#y";

/// Appends the folded, lowercased form of `c` to `out`. Returns false when `c` is not part of a
/// word (a separator).
fn push_folded(c: char, out: &mut String) -> bool {
    if c.is_ascii() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            return true;
        }
        return false;
    }
    let code = c as u32;
    match code {
        0x00C6 | 0x00E6 => out.push_str("ae"),
        0x00DE | 0x00FE => out.push_str("th"),
        0x00DF | 0x1E9E => out.push_str("ss"),
        0x0132 | 0x0133 => out.push_str("ij"),
        0x0152 | 0x0153 => out.push_str("oe"),
        0x00D7 | 0x00F7 => return false,
        0x00C0..=0x00FF => out.push(char::from(LATIN_1[(code - 0x00C0) as usize])),
        0x0100..=0x017F => out.push(char::from(LATIN_EXTENDED_A[(code - 0x0100) as usize])),
        0x0218 | 0x0219 => out.push('s'),
        0x021A | 0x021B => out.push('t'),
        0x0300..=0x036F => {} // combining mark: part of the word, contributes nothing
        _ if c.is_alphanumeric() => {
            for lower in c.to_lowercase() {
                // `İ`.to_lowercase() is `i` + U+0307; drop the combining dot.
                if !(0x0300..=0x036F).contains(&(lower as u32)) {
                    out.push(lower);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Apostrophes join rather than split, so "Lloyd's" is the one token "lloyds".
fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}')
}

/// Writes the normalised tokens of `text` into `out`, separated by single spaces, and returns
/// the number of tokens. `out` is cleared first.
pub(crate) fn normalize_into(text: &str, out: &mut String) -> usize {
    out.clear();
    let mut tokens = 0;
    let mut in_token = false;
    for c in text.chars() {
        if is_joiner(c) {
            continue;
        }
        let before = out.len();
        if in_token {
            if push_folded(c, out) {
                continue;
            }
            in_token = false;
        } else {
            out.push(' ');
            // A combining mark after a separator writes nothing: it starts no (empty) token.
            if push_folded(c, out) && out.len() > before + 1 {
                in_token = true;
                tokens += 1;
            } else {
                out.truncate(before);
            }
        }
    }
    // The loop pushes a space before every token, the first included; drop the leading one.
    if out.starts_with(' ') {
        out.remove(0);
    }
    tokens
}

/// The normalised form of `text`: folded tokens joined by single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(normalize("Société Générale"), "societe generale");
        assert_eq!(normalize("SOCIETE generale"), "societe generale");
        assert_eq!(normalize("Zürich Kantonalbank"), "zurich kantonalbank");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(
            normalize("Łódź Bank Spółdzielczy"),
            "lodz bank spoldzielczy"
        );
        assert_eq!(
            normalize("Banca Transilvania Ștefan Țară"),
            "banca transilvania stefan tara"
        );
        assert_eq!(normalize("Æble Œuvre Øre"), "aeble oeuvre ore");
        assert_eq!(normalize("Česká spořitelna"), "ceska sporitelna");
    }

    #[test]
    fn decomposed_input_folds_like_precomposed() {
        // "e" + COMBINING ACUTE ACCENT
        assert_eq!(normalize("Socie\u{0301}te\u{0301}"), "societe");
        assert_eq!(normalize("İstanbul"), "istanbul");
    }

    #[test]
    fn splits_on_punctuation_and_joins_apostrophes() {
        assert_eq!(normalize("  MX Bank (Oauth) "), "mx bank oauth");
        assert_eq!(
            normalize("Lloyd's Bank-Group, S.A."),
            "lloyds bank group s a"
        );
        assert_eq!(
            normalize("АКЦІОНЕРНЕ ТОВАРИСТВО \"БАНК\""),
            "акціонерне товариство банк"
        );
        assert_eq!(normalize(" \t&& !"), "");
    }

    #[test]
    fn a_combining_mark_after_a_separator_is_no_token() {
        // Found by the `search_terms` fuzz target: this gave " r" (an empty first token).
        let mut out = String::new();
        assert_eq!(normalize_into("\u{FFFD}\u{0359}\u{FFFD}r", &mut out), 1);
        assert_eq!(out, "r");
        assert_eq!(normalize_into("\u{0301} first \u{0300}", &mut out), 1);
        assert_eq!(out, "first");
        assert_eq!(normalize(&normalize(" \u{0301}a")), normalize(" \u{0301}a"));
    }

    #[test]
    fn counts_tokens() {
        let mut out = String::new();
        assert_eq!(normalize_into("a b  c", &mut out), 3);
        assert_eq!(out, "a b c");
        assert_eq!(normalize_into("   ", &mut out), 0);
        assert_eq!(out, "");
    }

    #[test]
    fn fold_tables_have_the_expected_shape() {
        // Spot checks at both ends of each table guard against an off-by-one in the strings.
        assert_eq!(normalize("ÀÅÇÑÒØÙÝÿ"), "aacnoouyy");
        assert_eq!(
            normalize("ĀąĆčĎđĒěĜģĤħĨıĴĶĸĹłŃŋŌőŔřŚšŢŧŨųŴŶŸŹžſ"),
            "aaccddeegghhiijkkllnnoorrssttuuwyyzzs"
        );
    }
}
