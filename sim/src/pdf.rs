//! A one-page PDF written byte by byte: what the simulator's report actions
//! return (base64-encoded, as D365FO's `RunCopilotReport` does).
//!
//! Five objects — catalog, page tree, page, content stream, font — and a
//! cross-reference table whose offsets are counted while writing, so
//! viewers open the file without having to repair it.

use std::fmt::Write as _;

/// A US-Letter page with `title` in bold and `lines` below it, in Helvetica.
pub fn document(title: &str, lines: &[String]) -> Vec<u8> {
    let mut content = String::from("BT\n/F2 16 Tf\n56 736 Td\n");
    let _ = writeln!(content, "({}) Tj", text(title));
    content.push_str("/F1 11 Tf\n0 -28 Td\n14 TL\n");
    for line in lines {
        let _ = writeln!(content, "({}) Tj T*", text(line));
    }
    content.push_str("ET\n");

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        concat!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R ",
            "/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>"
        )
        .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{content}endstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>"
            .to_owned(),
    ];

    // The binary comment line tells transfer tools the file is not text.
    let mut out: Vec<u8> = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for off in offsets {
        // Each entry is exactly 20 bytes: 10-digit offset, generation, flag, EOL.
        let _ = writeln!(table, "{off:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

/// A PDF string literal's contents: delimiters escaped, Latin-1 characters
/// as octal escapes (WinAnsi agrees with Latin-1 there), others as `?`.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if (0xA0..=0xFF).contains(&(c as u32)) => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every xref entry points at its `n 0 obj` header.
    fn assert_valid(pdf: &[u8]) {
        assert!(pdf.starts_with(b"%PDF-1.4"));
        assert!(pdf.ends_with(b"%%EOF\n"));
        let s = String::from_utf8_lossy(pdf);
        let start: usize = s
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(pdf[start..].starts_with(b"xref\n"));
        let table = String::from_utf8_lossy(&pdf[start..]);
        let mut count = 0;
        for (n, entry) in table
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .enumerate()
        {
            let off: usize = entry[..10].parse().unwrap();
            let header = format!("{} 0 obj", n + 1);
            assert!(
                pdf[off..].starts_with(header.as_bytes()),
                "object {}",
                n + 1
            );
            count += 1;
        }
        assert_eq!(count, 6);
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let pdf = document(
            "Statement (USMF)",
            &["Müller & Söhne \\ 100%".to_owned(), "日本".to_owned()],
        );
        assert_valid(&pdf);
        let s = String::from_utf8_lossy(&pdf);
        assert!(s.contains("(Statement \\(USMF\\)) Tj"));
        assert!(s.contains("M\\374ller"));
        assert!(s.contains("(??) Tj"));
    }
}
