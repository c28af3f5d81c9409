//! Splits shell-like command lines from the task runner's config into arguments.

#[derive(Debug, PartialEq)]
pub enum SplitError {
    UnclosedQuote(char),
    TrailingBackslash,
}

/// Whitespace separates arguments; single quotes keep everything literal; double quotes
/// and backslashes escape as in a POSIX shell (simplified: no variables or globs).
pub fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            '\'' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => current.push(ch),
                        None => return Err(SplitError::UnclosedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch) => current.push(ch),
                            None => return Err(SplitError::UnclosedQuote('"')),
                        },
                        Some(ch) => current.push(ch),
                        None => return Err(SplitError::UnclosedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_arg = true;
                current.push(chars.next().ok_or(SplitError::TrailingBackslash)?);
            }
            other => {
                in_arg = true;
                current.push(other);
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    Ok(args)
}
