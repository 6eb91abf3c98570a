//! Tabular data: any CSV file with a header row, split into input and target columns.
//!
//! [`read_csv_table`] reads a file, [`parse_csv_table`] any reader. Every cell must be a finite
//! number; the target columns are named by the caller, every other column is an input. The result
//! is plain row-major `Vec<f64>` tensors with their shapes and column names, ready to be written
//! as a plaintext tensor file (`inputs` [n, p], `targets` [n, q]) by the CLI.
//!
//! ```
//! use moreml_datasets::table::parse_csv_table;
//!
//! let csv = "age,bp,risk\n50,120,0.2\n61,140,0.7\n";
//! let t = parse_csv_table(csv.as_bytes(), "patients.csv".as_ref(), &["risk"])?;
//! assert_eq!(t.input_names, ["age", "bp"]);
//! assert_eq!((t.rows, t.inputs), (2, vec![50.0, 120.0, 61.0, 140.0]));
//! assert_eq!(t.targets, [0.2, 0.7]);
//! # Ok::<(), moreml_datasets::table::TableError>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

/// What can be wrong with a CSV table. Every variant names the file; cell errors name the line
/// and the column.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No header line, or a header but no data rows.
    #[error("{}: {what}; give a CSV file with a header line and at least one data row", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// A requested target column is not in the header.
    #[error("{}: no column `{column}`; the header has: {available}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The header's column names, comma-separated.
        available: String,
    },
    /// Two header columns share a name, or a target is named twice.
    #[error("{}: column `{column}` appears twice; give every column a distinct name", path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },
    /// No target column was asked for, or every column is a target.
    #[error("{}: {what}", path.display())]
    NoColumns {
        /// The file.
        path: PathBuf,
        /// Which side is empty and what to do.
        what: &'static str,
    },
    /// A row has a different number of cells than the header.
    #[error("{}: line {line} has {found} cells but the header has {expected}; fix the row", path.display())]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Header width.
        expected: usize,
        /// Cells found.
        found: usize,
    },
    /// A cell is not a finite number.
    #[error("{}: line {line}, column `{column}`: `{value}` is not a finite number; tables must be all numeric", path.display())]
    NotNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Column name.
        column: String,
        /// The cell's text.
        value: String,
    },
    /// The CSV itself is malformed (bad quoting, invalid UTF-8).
    #[error("{}: malformed CSV: {reason}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
}

/// A numeric table split into inputs and targets (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Number of data rows.
    pub rows: usize,
    /// `[rows, input_names.len()]` values, row-major.
    pub inputs: Vec<f64>,
    /// `[rows, target_names.len()]` values, row-major.
    pub targets: Vec<f64>,
    /// Input column names, in file order.
    pub input_names: Vec<String>,
    /// Target column names, in the order asked for.
    pub target_names: Vec<String>,
}

impl Table {
    /// Shape of [`Table::inputs`].
    pub fn input_shape(&self) -> [usize; 2] {
        [self.rows, self.input_names.len()]
    }
    /// Shape of [`Table::targets`].
    pub fn target_shape(&self) -> [usize; 2] {
        [self.rows, self.target_names.len()]
    }
}

/// Reads the CSV file at `path`; the columns named in `targets` become targets, the rest inputs.
///
/// # Errors
/// Any [`TableError`]: unreadable file, empty table, missing or duplicate column, ragged row,
/// non-numeric cell (with its line and column).
pub fn read_csv_table<S: AsRef<str>>(path: &Path, targets: &[S]) -> Result<Table, TableError> {
    let file = std::fs::File::open(path).map_err(|source| TableError::Io { path: path.to_path_buf(), source })?;
    parse_csv_table(std::io::BufReader::new(file), path, targets)
}

/// Like [`read_csv_table`] for any reader; `source` names it in errors.
///
/// # Errors
/// As [`read_csv_table`].
pub fn parse_csv_table<R: Read, S: AsRef<str>>(reader: R, source: &Path, targets: &[S]) -> Result<Table, TableError> {
    let path = || source.to_path_buf();
    let csv_err = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(_) => match e.into_kind() {
            csv::ErrorKind::Io(source) => TableError::Io { path: path(), source },
            _ => unreachable!("matched Io above"),
        },
        _ => TableError::Csv { path: path(), reason: e.to_string() },
    };
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(reader);
    let header: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(str::to_string).collect();
    if header.is_empty() || header.iter().all(|h| h.is_empty()) {
        return Err(TableError::Empty { path: path(), what: "no header line" });
    }
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(TableError::DuplicateColumn { path: path(), column: h.clone() });
        }
    }
    if targets.is_empty() {
        return Err(TableError::NoColumns { path: path(), what: "no target column given; name at least one" });
    }
    let mut target_idx = Vec::with_capacity(targets.len());
    for t in targets {
        let t = t.as_ref();
        let i = header.iter().position(|h| h == t).ok_or_else(|| TableError::MissingColumn {
            path: path(),
            column: t.to_string(),
            available: header.join(", "),
        })?;
        if target_idx.contains(&i) {
            return Err(TableError::DuplicateColumn { path: path(), column: t.to_string() });
        }
        target_idx.push(i);
    }
    let input_idx: Vec<usize> = (0..header.len()).filter(|i| !target_idx.contains(i)).collect();
    if input_idx.is_empty() {
        return Err(TableError::NoColumns {
            path: path(),
            what: "every column is a target; leave at least one input column",
        });
    }
    let mut table = Table {
        rows: 0,
        inputs: Vec::new(),
        targets: Vec::new(),
        input_names: input_idx.iter().map(|&i| header[i].clone()).collect(),
        target_names: target_idx.iter().map(|&i| header[i].clone()).collect(),
    };
    let mut record = csv::StringRecord::new();
    let mut values = vec![0.0; header.len()];
    while rdr.read_record(&mut record).map_err(csv_err)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(TableError::Ragged { path: path(), line, expected: header.len(), found: record.len() });
        }
        for (j, cell) in record.iter().enumerate() {
            values[j] = match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ => {
                    return Err(TableError::NotNumeric {
                        path: path(),
                        line,
                        column: header[j].clone(),
                        value: cell.to_string(),
                    })
                }
            };
        }
        table.inputs.extend(input_idx.iter().map(|&j| values[j]));
        table.targets.extend(target_idx.iter().map(|&j| values[j]));
        table.rows += 1;
    }
    if table.rows == 0 {
        return Err(TableError::Empty { path: path(), what: "a header but no data rows" });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str, targets: &[&str]) -> Result<Table, TableError> {
        parse_csv_table(text.as_bytes(), Path::new("t.csv"), targets)
    }

    #[test]
    fn splits_columns_in_file_and_target_order() {
        let t = parse("a, y2 ,b,y1\n1,2,3,4\n5,6,7,8\n", &["y1", "y2"]).unwrap();
        assert_eq!(t.input_names, ["a", "b"]);
        assert_eq!(t.target_names, ["y1", "y2"]);
        assert_eq!(t.inputs, [1.0, 3.0, 5.0, 7.0]);
        assert_eq!(t.targets, [4.0, 2.0, 8.0, 6.0]);
        assert_eq!((t.input_shape(), t.target_shape()), ([2, 2], [2, 2]));
    }

    #[test]
    fn reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        std::fs::write(&p, "x,y\n1.5,-2e3\n").unwrap();
        let t = read_csv_table(&p, &["y"]).unwrap();
        assert_eq!((t.inputs, t.targets), (vec![1.5], vec![-2000.0]));
        let e = read_csv_table(&dir.path().join("nope.csv"), &["y"]).unwrap_err();
        assert!(matches!(e, TableError::Io { .. }), "{e}");
        assert!(e.to_string().contains("nope.csv"));
    }

    #[test]
    fn errors_name_the_problem() {
        let msg = |text: &str, targets: &[&str]| parse(text, targets).unwrap_err().to_string();
        assert!(msg("", &["y"]).contains("no header line"));
        assert!(msg("x,y\n", &["y"]).contains("no data rows"));
        let m = msg("x,y\n1,2\n", &["z"]);
        assert!(m.contains("no column `z`") && m.contains("x, y"), "{m}");
        let m = msg("x,y\n1,2\n3\n", &["y"]);
        assert!(m.contains("line 3 has 1 cells but the header has 2"), "{m}");
        let m = msg("x,y\n1,2\n3,abc\n", &["y"]);
        assert!(m.contains("line 3, column `y`: `abc`"), "{m}");
        assert!(msg("x,y\n1,\n", &["y"]).contains("column `y`: ``"));
        assert!(msg("x,y\nNaN,1\n", &["y"]).contains("`NaN` is not a finite number"));
        assert!(msg("x,x\n1,2\n", &["x"]).contains("appears twice"));
        assert!(msg("x,y\n1,2\n", &["y", "y"]).contains("appears twice"));
        assert!(msg("x,y\n1,2\n", &[]).contains("no target column"));
        assert!(msg("x,y\n1,2\n", &["x", "y"]).contains("every column is a target"));
        assert!(matches!(parse("x,y\n\"1,2\n", &["y"]), Err(TableError::Csv { .. } | TableError::Ragged { .. })));
    }

    proptest! {
        /// Any numeric table written as CSV reads back exactly (shortest round-trip float formatting).
        #[test]
        fn round_trips_any_numeric_table(rows in 1usize..20, cols in 2usize..6, seed in any::<u64>()) {
            let value = |i: usize, j: usize| ((seed ^ (i * 31 + j) as u64).wrapping_mul(0x9E3779B97F4A7C15) >> 11) as f64 * 1e-9 - 4e6;
            let header: Vec<String> = (0..cols).map(|j| format!("c{j}")).collect();
            let mut text = header.join(",") + "\n";
            for i in 0..rows {
                let row: Vec<String> = (0..cols).map(|j| format!("{}", value(i, j))).collect();
                text += &(row.join(",") + "\n");
            }
            let t = parse(&text, &["c0"]).unwrap();
            prop_assert_eq!(t.rows, rows);
            for i in 0..rows {
                prop_assert_eq!(t.targets[i], value(i, 0));
                for j in 1..cols {
                    prop_assert_eq!(t.inputs[i * (cols - 1) + j - 1], value(i, j));
                }
            }
        }
    }
}
