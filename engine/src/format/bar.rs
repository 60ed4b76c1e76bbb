//! Docker's progress bar, as pull and push draw it: `[=====>      ]  12.3MB/30.4MB`.

use super::units::human_size;

/// Cells between the brackets.
const WIDTH: u64 = 50;

/// `[=====>      ]  12.3MB/30.4MB` for `current` of `total` bytes.
pub fn progress_bar(current: u64, total: u64) -> String {
    let done = (current.min(total) * WIDTH / total.max(1)) as usize;
    let mut b = "=".repeat(done.saturating_sub(1));
    if done > 0 {
        b.push(if done as u64 == WIDTH { '=' } else { '>' });
    }
    b.push_str(&" ".repeat(WIDTH as usize - done));
    format!("[{b}] {:>8}/{}", human_size(current), human_size(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_done_and_done() {
        assert_eq!(
            progress_bar(1_500_000, 3_000_000),
            format!("[{}>{}]    1.5MB/3MB", "=".repeat(24), " ".repeat(25))
        );
        assert_eq!(
            progress_bar(10, 10),
            format!("[{}]      10B/10B", "=".repeat(50))
        );
    }
}
