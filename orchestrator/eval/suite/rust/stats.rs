//! Summary statistics of request latencies, for the load-test report.

#[derive(Debug, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    pub p50: f64,
    pub p99: f64,
}

/// The value below which `q` (0..=1) of the sorted samples fall, by nearest rank.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// None for no samples; NaN samples are ignored.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|x| !x.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.total_cmp(b));
    let count = sorted.len();
    let mean = sorted.iter().sum::<f64>() / count as f64;
    Some(Summary {
        count,
        mean,
        min: sorted[0],
        max: sorted[count - 1],
        p50: percentile(&sorted, 0.50),
        p99: percentile(&sorted, 0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.min, s.max, s.p50, s.p99), (1.0, 4.0, 2.0, 4.0));
        assert_eq!(s.mean, 2.5);
    }

    #[test]
    fn empty_and_nan() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[f64::NAN]), None);
    }
}
