//! Clustering of scored pairs into people, resisting chaining: edges are taken strongest first and two clusters
//! merge only if their records agree on average (average linkage over every cross pair, scored on demand), so a
//! run of pairwise-plausible links (A~B, B~C, C~D …) cannot pull a whole village into one person.

use std::collections::HashSet;

/// Cross pairs checked per merge at most; above that, an evenly spread subset is scored.
const MAX_CROSS_PAIRS: usize = 4096;

/// Assigns a cluster index (the smallest record index in the cluster) to every record.
///
/// `edges` are `(a, b, probability)` of pairs above the match threshold; `probability(a, b)` scores any pair.
pub(crate) fn cluster(
    n_records: usize,
    mut edges: Vec<(u32, u32, f64)>,
    probability: impl Fn(u32, u32) -> f64,
    cluster_threshold: f64,
) -> Vec<u32> {
    edges.sort_by(|x, y| y.2.total_cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));
    let mut parent: Vec<u32> = (0..n_records as u32).collect();
    let mut members: Vec<Vec<u32>> = (0..n_records as u32).map(|index| vec![index]).collect();
    let mut refused: HashSet<(u32, u32, usize, usize)> = HashSet::new();
    fn root(parent: &mut [u32], mut node: u32) -> u32 {
        while parent[node as usize] != node {
            let grandparent = parent[parent[node as usize] as usize];
            parent[node as usize] = grandparent;
            node = grandparent;
        }
        node
    }
    for (a, b, _) in edges {
        let (root_a, root_b) = (root(&mut parent, a), root(&mut parent, b));
        if root_a == root_b {
            continue;
        }
        let (size_a, size_b) = (
            members[root_a as usize].len(),
            members[root_b as usize].len(),
        );
        if size_a * size_b > 1 {
            let key = (root_a.min(root_b), root_a.max(root_b), size_a, size_b);
            if refused.contains(&key) {
                continue;
            }
            let n_cross = size_a * size_b;
            let stride = n_cross.div_ceil(MAX_CROSS_PAIRS);
            let (mut sum, mut count) = (0.0, 0usize);
            let mut position = 0;
            while position < n_cross {
                let x = members[root_a as usize][position / size_b];
                let y = members[root_b as usize][position % size_b];
                sum += probability(x, y);
                count += 1;
                position += stride;
            }
            if sum / (count.max(1) as f64) < cluster_threshold {
                refused.insert(key);
                continue;
            }
        }
        // Union by size; the larger cluster's root stays.
        let (keep, absorb) = if size_a >= size_b {
            (root_a, root_b)
        } else {
            (root_b, root_a)
        };
        parent[absorb as usize] = keep;
        let moved = std::mem::take(&mut members[absorb as usize]);
        members[keep as usize].extend(moved);
    }
    let mut cluster_of = vec![0u32; n_records];
    for group in members.iter().filter(|group| !group.is_empty()) {
        let smallest = group.iter().copied().min().unwrap_or(0);
        for &record in group {
            cluster_of[record as usize] = smallest;
        }
    }
    cluster_of
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_weak_links_does_not_merge_everything() {
        // Records 0..6 in a line: neighbours score 0.95, everything else 0.0. Connected components would give one
        // cluster; average linkage stops once clusters disagree on average.
        let edges: Vec<(u32, u32, f64)> = (0..5).map(|i| (i, i + 1, 0.95)).collect();
        let probability = |a: u32, b: u32| if a.abs_diff(b) == 1 { 0.95 } else { 0.0 };
        let clusters = cluster(6, edges, probability, 0.5);
        let distinct: HashSet<u32> = clusters.iter().copied().collect();
        assert!(distinct.len() >= 3, "{clusters:?}");
        // A real clique merges fully.
        let edges = vec![(0, 1, 0.99), (1, 2, 0.98), (0, 2, 0.97)];
        assert_eq!(cluster(4, edges, |_, _| 0.97, 0.5), vec![0, 0, 0, 3]);
    }
}
