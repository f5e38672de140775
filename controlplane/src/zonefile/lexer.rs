//! Splits zone text into entries (RFC 1035 §5.1).
//!
//! An entry is one logical line: the tokens from the start of a line to the next
//! newline that is not inside parentheses. The lexer deals with everything that is
//! about characters, not meaning:
//!
//! - whitespace separates tokens; `;` starts a comment that runs to the end of the
//!   line (also inside parentheses);
//! - `(` and `)` let an entry span lines and are not tokens themselves;
//! - `"..."` is one token, whitespace, `;` and parentheses included; it must close
//!   on the line it opened;
//! - a backslash makes the next character ordinary (so `\;`, `\(`, `\ ` and `\"`
//!   do not end a word). Tokens keep their escapes: names are unescaped by
//!   [`Name::parse_relative`](ferrodns_dataplane::name::Name::parse_relative) and
//!   character-strings by [`unescape`], so each kind of token is decoded once, by
//!   the code that knows what it is;
//! - an entry whose line starts with a space or a tab has a blank owner.
//!
//! Every token carries the line it starts on, so an error in the fifth line of a
//! parenthesised SOA is reported there, not where the SOA began.

use super::error::{Fail, ZoneFileErrorKind};

/// One token; `text` borrows the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The raw text, escapes intact; for a quoted string, what stands between the
    /// quotes.
    pub(crate) text: &'a str,
    pub(crate) quoted: bool,
    /// 1-based line the token starts on.
    pub(crate) line: usize,
}

/// One logical line with at least one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// Line of the first token.
    pub(crate) line: usize,
    /// The line starts with whitespace: the owner is the previous record's.
    pub(crate) blank_owner: bool,
    pub(crate) tokens: Vec<Token<'a>>,
}

/// Pulls [`Entry`]s out of zone text, one at a time, so that errors come out in
/// the order of the text.
#[derive(Debug)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Lexer {
            text,
            pos: 0,
            line: 1,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    /// The next entry, `None` at the end of the text. Blank lines and lines with
    /// only a comment are skipped.
    pub(crate) fn next_entry(&mut self) -> Result<Option<Entry<'a>>, Fail> {
        while self.pos < self.text.len() {
            let blank_owner = matches!(self.peek(), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            let mut depth = 0usize;
            let mut opened_on = self.line;
            while let Some(byte) = self.peek() {
                match byte {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b';' => self.skip_comment(),
                    b'(' => {
                        if depth == 0 {
                            opened_on = self.line;
                        }
                        depth += 1;
                        self.pos += 1;
                    }
                    b')' => {
                        if depth == 0 {
                            return Err(Fail::new(
                                self.line,
                                ZoneFileErrorKind::UnexpectedCloseParen,
                            ));
                        }
                        depth -= 1;
                        self.pos += 1;
                    }
                    b'"' => tokens.push(self.quoted()?),
                    byte if is_space(byte) => self.pos += 1,
                    _ => tokens.push(self.word()?),
                }
            }
            if depth > 0 {
                return Err(Fail::new(opened_on, ZoneFileErrorKind::UnclosedParen));
            }
            if let Some(first) = tokens.first() {
                return Ok(Some(Entry {
                    line: first.line,
                    blank_owner,
                    tokens,
                }));
            }
        }
        Ok(None)
    }

    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|b| b != b'\n') {
            self.pos += 1;
        }
    }

    /// The text from `start` to the current position. Tokens start and end next to
    /// ASCII bytes, so this is always on character boundaries; the error is there
    /// so that a mistake in that reasoning cannot panic.
    fn slice(&self, start: usize) -> Result<&'a str, Fail> {
        self.text.get(start..self.pos).ok_or_else(|| {
            Fail::new(
                self.line,
                ZoneFileErrorKind::BadEscape(self.text.get(start..).unwrap_or("").into()),
            )
        })
    }

    /// An unquoted word: up to whitespace, a comment, a parenthesis or a quote.
    fn word(&mut self) -> Result<Token<'a>, Fail> {
        let start = self.pos;
        while let Some(byte) = self.peek() {
            match byte {
                b'\n' | b';' | b'(' | b')' | b'"' => break,
                byte if is_space(byte) => break,
                b'\\' => {
                    if matches!(self.peek_at(1), None | Some(b'\n' | b'\r')) {
                        let text = self.text.get(start..).unwrap_or("");
                        let text = text.lines().next().unwrap_or("");
                        return Err(Fail::new(
                            self.line,
                            ZoneFileErrorKind::BadEscape(text.into()),
                        ));
                    }
                    // The escaped byte may start a multi-byte character; its
                    // continuation bytes are ordinary word bytes.
                    self.pos += 2;
                }
                _ => self.pos += 1,
            }
        }
        Ok(Token {
            text: self.slice(start)?,
            quoted: false,
            line: self.line,
        })
    }

    /// A quoted string; the current byte is the opening quote.
    fn quoted(&mut self) -> Result<Token<'a>, Fail> {
        let line = self.line;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None | Some(b'\n') => {
                    return Err(Fail::new(line, ZoneFileErrorKind::UnterminatedQuote));
                }
                Some(b'"') => break,
                Some(b'\\') => {
                    if matches!(self.peek_at(1), None | Some(b'\n')) {
                        return Err(Fail::new(line, ZoneFileErrorKind::UnterminatedQuote));
                    }
                    self.pos += 2;
                }
                Some(_) => self.pos += 1,
            }
        }
        let text = self.slice(start)?;
        self.pos += 1;
        Ok(Token {
            text,
            quoted: true,
            line,
        })
    }
}

/// Whitespace within a line.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// Decodes the escapes of a character-string (RFC 1035 §5.1): `\DDD` is the octet
/// with that decimal value, `\X` is `X` for any other character.
pub(crate) fn unescape(raw: &str) -> Result<Vec<u8>, ZoneFileErrorKind> {
    let bytes = raw.as_bytes();
    let bad = || ZoneFileErrorKind::BadEscape(raw.to_owned());
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte != b'\\' {
            out.push(byte);
            i += 1;
            continue;
        }
        let digit = |k: usize| {
            bytes
                .get(i + k)
                .filter(|b| b.is_ascii_digit())
                .map(|b| u16::from(b - b'0'))
        };
        match (digit(1), digit(2), digit(3)) {
            (Some(a), Some(b), Some(c)) => {
                let value = u8::try_from(a * 100 + b * 10 + c).map_err(|_| bad())?;
                out.push(value);
                i += 4;
            }
            (Some(_), _, _) => return Err(bad()),
            (None, _, _) => {
                let escaped = bytes.get(i + 1).ok_or_else(bad)?;
                out.push(*escaped);
                i += 2;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<Entry<'_>> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        while let Some(entry) = lexer.next_entry().unwrap_or_else(|e| panic!("{e:?}")) {
            out.push(entry);
        }
        out
    }

    fn texts<'a>(entry: &Entry<'a>) -> Vec<&'a str> {
        entry.tokens.iter().map(|t| t.text).collect()
    }

    fn lex_error(text: &str) -> Fail {
        let mut lexer = Lexer::new(text);
        loop {
            match lexer.next_entry() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error in {text:?}"),
                Err(fail) => return fail,
            }
        }
    }

    #[test]
    fn splits_lines_skips_comments_and_blank_lines() {
        let text = "; header\n\nwww  IN A 192.0.2.1 ; trailing\n\tA 192.0.2.2\r\n";
        let got = entries(text);
        assert_eq!(got.len(), 2);
        assert_eq!(texts(&got[0]), ["www", "IN", "A", "192.0.2.1"]);
        assert_eq!(got[0].line, 3);
        assert!(!got[0].blank_owner);
        assert_eq!(texts(&got[1]), ["A", "192.0.2.2"]);
        assert_eq!(got[1].line, 4);
        assert!(got[1].blank_owner);
    }

    #[test]
    fn parentheses_join_lines_and_tokens_keep_their_line() {
        let text = "@ SOA ns hm (\n  1 ; serial\n  2 3\n  4 5 )\nnext A 1.2.3.4\n";
        let got = entries(text);
        assert_eq!(got.len(), 2);
        assert_eq!(
            texts(&got[0]),
            ["@", "SOA", "ns", "hm", "1", "2", "3", "4", "5"]
        );
        let lines: Vec<usize> = got[0].tokens.iter().map(|t| t.line).collect();
        assert_eq!(lines, [1, 1, 1, 1, 2, 3, 3, 4, 4]);
        assert_eq!(got[1].line, 5);
    }

    #[test]
    fn quoted_strings_hold_delimiters_and_escapes() {
        let got = entries(r#"t TXT "a ; (b) \"c\"" "" x\;y\ z"#);
        assert_eq!(got.len(), 1);
        let tokens = &got[0].tokens;
        assert_eq!(tokens[2].text, r#"a ; (b) \"c\""#);
        assert!(tokens[2].quoted);
        assert_eq!(tokens[3].text, "");
        assert!(tokens[3].quoted);
        assert_eq!(tokens[4].text, r"x\;y\ z");
        assert!(!tokens[4].quoted);
    }

    #[test]
    fn reports_lexical_errors_on_their_line() {
        let fail = lex_error("a A 1.2.3.4\nb TXT \"open\nc A 1.2.3.4\n");
        assert_eq!(fail.line, 2);
        assert!(matches!(fail.kind, ZoneFileErrorKind::UnterminatedQuote));

        let fail = lex_error("a A 1.2.3.4\nb SOA ( x\n y\n");
        assert_eq!(fail.line, 2);
        assert!(matches!(fail.kind, ZoneFileErrorKind::UnclosedParen));

        let fail = lex_error("a A 1.2.3.4\n\nb A 1.2.3.4 )\n");
        assert_eq!(fail.line, 3);
        assert!(matches!(fail.kind, ZoneFileErrorKind::UnexpectedCloseParen));

        let fail = lex_error("a TXT x\\");
        assert_eq!(fail.line, 1);
        assert!(matches!(fail.kind, ZoneFileErrorKind::BadEscape(_)));
    }

    #[test]
    fn unescapes_character_strings() {
        assert_eq!(
            unescape(r#"a\"b\\c\065\000\255\;"#).ok(),
            Some(b"a\"b\\cA\x00\xff;".to_vec())
        );
        assert_eq!(unescape("é\\é").ok(), Some("éé".as_bytes().to_vec()));
        for bad in [r"\256", r"\12", r"\1x3", "\\"] {
            assert!(unescape(bad).is_err(), "{bad}");
        }
    }
}
