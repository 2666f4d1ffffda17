//! Bounded optimal-string-alignment distance: Levenshtein plus adjacent transpositions, each
//! edit costing 1 ("sandbx"→"sandbox" = 1, "sopthron"→"sophtron" = 1).

/// Reusable rows so verifying many candidates does not allocate.
#[derive(Default)]
pub(crate) struct DistanceRows {
    before_previous: Vec<u32>,
    previous: Vec<u32>,
    current: Vec<u32>,
}

/// Stands for "more than any bound": large, yet `INF + 1` cannot overflow.
const INF: u32 = u32::MAX / 2;

/// The distance between `a` and `b` when it is at most `max`, else `None`. Only the diagonal
/// band `|i − j| ≤ max` is computed (cells outside it exceed `max` anyway), and the scan stops
/// as soon as a whole row exceeds `max`, so a typo check costs O(len · (2·max + 1)).
pub(crate) fn distance_within<T: Copy + Eq>(
    a: &[T],
    b: &[T],
    max: u32,
    rows: &mut DistanceRows,
) -> Option<u32> {
    if a.len().abs_diff(b.len()) > max as usize {
        return None;
    }
    let (n, m, k) = (a.len(), b.len(), max as usize);
    let width = m + 1;
    let DistanceRows {
        before_previous,
        previous,
        current,
    } = rows;
    for row in [&mut *before_previous, &mut *previous, &mut *current] {
        if row.len() < width {
            row.resize(width, INF);
        }
    }
    for (j, cell) in previous[..width].iter_mut().enumerate() {
        *cell = if j <= k { j as u32 } else { INF };
    }
    for i in 1..=n {
        let low = i.saturating_sub(k).max(1);
        let high = (i + k).min(m);
        current[0] = if i <= k { i as u32 } else { INF };
        if low > 1 {
            current[low - 1] = INF;
        }
        let mut row_min = current[0];
        for j in low..=high {
            let cost = u32::from(a[i - 1] != b[j - 1]);
            let mut value = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(before_previous[j - 2] + 1);
            }
            current[j] = value;
            row_min = row_min.min(value);
        }
        // The next row reads one cell right of this band: make sure it is not stale.
        if high < m {
            current[high + 1] = INF;
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(before_previous, previous);
        std::mem::swap(previous, current);
    }
    let distance = previous[m];
    (distance <= max).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(a: &str, b: &str, max: u32) -> Option<u32> {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        distance_within(&a, &b, max, &mut DistanceRows::default())
    }

    #[test]
    fn counts_edits_and_transpositions() {
        assert_eq!(d("sandbox", "sandbox", 2), Some(0));
        assert_eq!(d("sandbx", "sandbox", 2), Some(1));
        assert_eq!(d("sopthron", "sophtron", 2), Some(1));
        assert_eq!(d("soperton", "sophtron", 2), Some(2));
        assert_eq!(d("bank", "bnak", 1), Some(1));
        assert_eq!(d("kitten", "sitting", 3), Some(3));
        assert_eq!(d("", "abc", 3), Some(3));
    }

    #[test]
    fn banded_result_matches_the_full_matrix() {
        // Reference: unbanded OSA on every pair of short strings over a small alphabet.
        fn full(a: &[u8], b: &[u8]) -> u32 {
            let (n, m) = (a.len(), b.len());
            let mut d = vec![vec![0u32; m + 1]; n + 1];
            for (i, row) in d.iter_mut().enumerate() {
                row[0] = i as u32;
            }
            for (j, cell) in d[0].iter_mut().enumerate() {
                *cell = j as u32;
            }
            for i in 1..=n {
                for j in 1..=m {
                    let cost = u32::from(a[i - 1] != b[j - 1]);
                    let mut v = (d[i - 1][j] + 1)
                        .min(d[i][j - 1] + 1)
                        .min(d[i - 1][j - 1] + cost);
                    if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                        v = v.min(d[i - 2][j - 2] + 1);
                    }
                    d[i][j] = v;
                }
            }
            d[n][m]
        }
        let words: Vec<Vec<u8>> = (0..400u32)
            .map(|seed| {
                let len = (seed % 7) as usize;
                (0..len)
                    .map(|i| b"abc"[((seed / 7 + i as u32 * 5) % 3) as usize])
                    .collect()
            })
            .collect();
        let mut rows = DistanceRows::default();
        for a in &words {
            for b in words.iter().step_by(7) {
                let expected = full(a, b);
                for max in 0..3 {
                    let got = distance_within(a, b, max, &mut rows);
                    assert_eq!(
                        got,
                        (expected <= max).then_some(expected),
                        "{a:?} {b:?} {max}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_beyond_the_bound() {
        assert_eq!(d("kitten", "sitting", 2), None);
        assert_eq!(d("abc", "abcdef", 2), None);
        assert_eq!(d("bank", "bunk", 0), None);
    }
}
