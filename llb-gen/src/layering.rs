//! Which layer each distribution of a venv goes to, when the venv is
//! assembled with MergeOp from layers of their own (`venv-layers`).
//!
//! A layer's content, and so its digest, depends only on the files of the
//! distributions it holds: a lock bump changes the layer of the bumped
//! distribution alone, and the same wheel gives the same layer in every
//! image. The budget bounds the layers one level adds; one of them is the
//! venv's own files (`pyvenv.cfg`, `bin/python`, the `.pth` uv writes, and
//! whatever no distribution's `RECORD` lists, or two list), so
//! `budget - 1` are left for the distributions.
//!
//! **The grouping**, a function of the distributions and the budget alone:
//! - when every distribution fits, each has a layer of its own;
//! - otherwise a third of the layers (rounded up) are groups, and the rest
//!   go to the largest distributions (by the size of the file the lock
//!   records for them; unknown counts as 0; equal sizes by name), one
//!   each;
//! - every other distribution goes to the group its name's SHA-256 picks
//!   (`_group-N-of-K`, which no PEP 503 name can be): a version bump, or a distribution added or removed,
//!   changes that one group and no other.
//!
//! The layers are listed in the order the image stacks them: the
//! distributions' own layers by name, then the groups by number.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// A distribution the venv gets, as the lock says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Distribution {
    /// Its PEP 503 name (`dist-info` directories are matched on it).
    pub name: String,
    /// Its locked version.
    pub version: String,
    /// The size of the file it installs from, when the lock records it.
    pub size: Option<u64>,
}

/// One layer of a venv: its name, the directory the venv step moves its
/// files to, and the distributions in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenvLayer {
    /// The directory name: the distribution's name, or `_group-N-of-K`, which no PEP 503 name can be.
    pub id: String,
    /// The distributions, by name.
    pub members: Vec<Distribution>,
}

impl VenvLayer {
    /// What the layer holds, for step names and history: `numpy 2.1.3`, or
    /// `group 2 of 5: attrs 23.2.0, six 1.17.0`.
    pub fn describe(&self) -> String {
        let members = self
            .members
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect::<Vec<_>>()
            .join(", ");
        match self.id.strip_prefix("_group-") {
            Some(group) => format!("group {}: {members}", group.replace("-of-", " of ")),
            None => members,
        }
    }
}

/// The layers `distributions` go to under `budget` layers in all (the
/// venv's own files taking one): empty when the budget is 1, the venv
/// staying one layer.
pub fn layers(distributions: &[Distribution], budget: u32) -> Vec<VenvLayer> {
    let Some(own) = usize::try_from(budget).ok().and_then(|b| b.checked_sub(1)) else {
        return Vec::new();
    };
    if own == 0 || distributions.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&Distribution> = distributions.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    sorted.dedup_by(|a, b| a.name == b.name);
    if sorted.len() <= own {
        return sorted.into_iter().map(alone).collect();
    }
    let groups = own.div_ceil(3);
    let alone_count = own - groups;
    let mut by_size = sorted.clone();
    by_size.sort_by(|a, b| {
        b.size
            .unwrap_or(0)
            .cmp(&a.size.unwrap_or(0))
            .then_with(|| a.name.cmp(&b.name))
    });
    let largest: Vec<&str> = by_size
        .iter()
        .take(alone_count)
        .map(|d| d.name.as_str())
        .collect();
    let mut grouped: BTreeMap<usize, Vec<Distribution>> = BTreeMap::new();
    let mut result = Vec::new();
    for distribution in sorted {
        if largest.contains(&distribution.name.as_str()) {
            result.push(alone(distribution));
        } else {
            grouped
                .entry(group_of(&distribution.name, groups))
                .or_default()
                .push(distribution.clone());
        }
    }
    result.extend(grouped.into_iter().map(|(group, members)| VenvLayer {
        id: format!("_group-{}-of-{groups}", group + 1),
        members,
    }));
    result
}

/// A layer of `distribution`'s own.
fn alone(distribution: &Distribution) -> VenvLayer {
    VenvLayer {
        id: distribution.name.clone(),
        members: vec![distribution.clone()],
    }
}

/// The group (0-based, of `groups`) that `name`'s SHA-256 picks.
fn group_of(name: &str, groups: usize) -> usize {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let value = u64::from_be_bytes(first);
    // `groups` is at least 1 and at most 21 (a third of 63).
    usize::try_from(value % u64::try_from(groups.max(1)).unwrap_or(1)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(name: &str, version: &str, size: u64) -> Distribution {
        Distribution {
            name: name.to_owned(),
            version: version.to_owned(),
            size: Some(size),
        }
    }

    fn ids(layers: &[VenvLayer]) -> Vec<&str> {
        layers.iter().map(|l| l.id.as_str()).collect()
    }

    /// Forty distributions: two large, the rest small.
    fn many() -> Vec<Distribution> {
        let mut all: Vec<Distribution> = (0..38)
            .map(|n| dist(&format!("small-{n:02}"), "1.0", 10_000 + n))
            .collect();
        all.push(dist("numpy", "2.1.3", 16_000_000));
        all.push(dist("scipy", "1.14.1", 41_000_000));
        all
    }

    #[test]
    fn within_the_budget_each_distribution_has_its_own_layer_by_name() {
        let layers = layers(
            &[
                dist("six", "1.17.0", 11_000),
                dist("numpy", "2.1.3", 16_000_000),
            ],
            16,
        );
        assert_eq!(ids(&layers), ["numpy", "six"]);
        assert_eq!(layers[0].describe(), "numpy 2.1.3");
    }

    #[test]
    fn a_budget_of_one_keeps_the_venv_whole_and_two_gives_one_group() {
        let all = many();
        assert!(layers(&all, 1).is_empty());
        let two = layers(&all, 2);
        assert_eq!(ids(&two), ["_group-1-of-1"]);
        assert_eq!(two[0].members.len(), all.len());
    }

    #[test]
    fn past_the_budget_the_largest_stay_alone_and_the_rest_are_grouped_within_it() {
        let layers = layers(&many(), 16);
        // 15 layers for the distributions: 5 groups, 10 alone.
        assert_eq!(layers.len(), 15);
        let alone: Vec<&str> = layers
            .iter()
            .filter(|l| !l.id.starts_with("_group-"))
            .map(|l| l.id.as_str())
            .collect();
        assert_eq!(alone.len(), 10);
        assert!(alone.contains(&"numpy") && alone.contains(&"scipy"));
        // The twin: a small one is in a group, not alone.
        assert!(!alone.contains(&"small-00"));
        let grouped: usize = layers
            .iter()
            .filter(|l| l.id.starts_with("_group-"))
            .map(|l| l.members.len())
            .sum();
        assert_eq!(grouped + alone.len(), 40);
        let group = layers
            .iter()
            .find(|l| l.id.starts_with("_group-"))
            .expect("a group");
        assert!(
            group.describe().starts_with("group 1 of 5: "),
            "{}",
            group.describe()
        );
    }

    #[test]
    fn a_bump_of_a_small_distribution_changes_its_group_and_no_other_layer() {
        let before = layers(&many(), 16);
        let mut bumped = many();
        let small = bumped
            .iter_mut()
            .find(|d| d.name == "small-07")
            .expect("small-07");
        small.version = "1.1".to_owned();
        let after = layers(&bumped, 16);
        assert_eq!(ids(&before), ids(&after));
        let changed: Vec<&str> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b != a)
            .map(|(b, _)| b.id.as_str())
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
        let holder = after
            .iter()
            .find(|l| l.id == changed[0])
            .expect("the changed layer");
        assert!(holder.members.iter().any(|d| d.name == "small-07"));
    }

    #[test]
    fn adding_a_small_distribution_changes_one_group() {
        let before = layers(&many(), 16);
        let mut added = many();
        added.push(dist("newcomer", "0.1", 5_000));
        let after = layers(&added, 16);
        assert_eq!(ids(&before), ids(&after));
        let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn the_grouping_does_not_depend_on_the_order_given() {
        let mut reversed = many();
        reversed.reverse();
        assert_eq!(layers(&many(), 16), layers(&reversed, 16));
    }
}
