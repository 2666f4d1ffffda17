//! Bounded optimal-string-alignment distance: Levenshtein plus adjacent transpositions, each
//! edit costing 1 ("sandbx"→"sandbox" = 1, "sopthron"→"sophtron" = 1).

/// Reusable rows so verifying many candidates does not allocate.
#[derive(Default)]
pub(crate) struct DistanceRows {
    before_previous: Vec<u32>,
    previous: Vec<u32>,
    current: Vec<u32>,
}

/// The distance between `a` and `b` when it is at most `max`, else `None`. Stops as soon as a
/// whole row exceeds `max`, so rejecting a far candidate costs a row or two.
pub(crate) fn distance_within(
    a: &[char],
    b: &[char],
    max: u32,
    rows: &mut DistanceRows,
) -> Option<u32> {
    if a.len().abs_diff(b.len()) > max as usize {
        return None;
    }
    let width = b.len() + 1;
    let DistanceRows {
        before_previous,
        previous,
        current,
    } = rows;
    for row in [&mut *before_previous, &mut *previous, &mut *current] {
        row.clear();
        row.resize(width, 0);
    }
    for (j, cell) in previous.iter_mut().enumerate() {
        *cell = j as u32;
    }
    for i in 1..=a.len() {
        current[0] = i as u32;
        let mut row_min = current[0];
        for j in 1..width {
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
        if row_min > max {
            return None;
        }
        std::mem::swap(before_previous, previous);
        std::mem::swap(previous, current);
    }
    let distance = previous[width - 1];
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
    fn rejects_beyond_the_bound() {
        assert_eq!(d("kitten", "sitting", 2), None);
        assert_eq!(d("abc", "abcdef", 2), None);
        assert_eq!(d("bank", "bunk", 0), None);
    }
}
