//! Plain-text tables for people: a header row and left-aligned columns separated
//! by two spaces, each as wide as its widest cell.

/// `rows` under `headers`, one line each, ending in a newline.
pub(crate) fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_under_their_headers() {
        let rows = vec![
            vec![
                "web.svc.example.".to_owned(),
                "A".to_owned(),
                "10.0.0.1".to_owned(),
            ],
            vec!["x.".to_owned(), "AAAA".to_owned(), "fd00::1".to_owned()],
        ];
        assert_eq!(
            render(&["NAME", "TYPE", "DATA"], &rows),
            "NAME              TYPE  DATA\n\
             web.svc.example.  A     10.0.0.1\n\
             x.                AAAA  fd00::1\n"
        );
    }

    #[test]
    fn no_rows_is_just_the_header() {
        assert_eq!(render(&["IP", "STATUS"], &[]), "IP  STATUS\n");
    }
}
