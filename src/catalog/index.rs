//! An inverted index over the folded words of the catalogue (name, code, field of every
//! procedure): a search reads the postings of its words instead of every procedure's text.
//! Whole words for all query words but the last, which matches as a word prefix (the word
//! still being typed), through a range of the sorted vocabulary.

use std::collections::HashMap;

/// Sorted vocabulary and, for each word, the catalogue positions (ascending) that contain it.
#[derive(Debug, Default)]
pub struct Index {
    words: Vec<Box<str>>,
    postings: Vec<Box<[u32]>>,
    len: usize,
}

/// A set of catalogue positions.
#[derive(Debug, Clone)]
pub struct Bitset(Vec<u64>);

impl Bitset {
    fn empty(len: usize) -> Bitset {
        Bitset(vec![0; len.div_ceil(64)])
    }

    fn insert_all(&mut self, positions: &[u32]) {
        for &p in positions {
            if let Some(w) = self.0.get_mut(p as usize / 64) {
                *w |= 1 << (p % 64);
            }
        }
    }

    fn intersect(&mut self, other: &Bitset) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }

    pub fn contains(&self, position: usize) -> bool {
        self.0
            .get(position / 64)
            .is_some_and(|w| w & (1 << (position % 64)) != 0)
    }

    /// The positions, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut bits = w;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some(i * 64 + b)
            })
        })
    }
}

impl Index {
    /// Indexes folded texts (`text::fold`), one per catalogue position.
    pub fn build<'a>(folded_texts: impl IntoIterator<Item = &'a str>) -> Index {
        let mut map: HashMap<&'a str, Vec<u32>> = HashMap::new();
        let mut len = 0;
        for (i, text) in folded_texts.into_iter().enumerate() {
            len = i + 1;
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for w in text.split(' ').filter(|w| !w.is_empty()) {
                let list = map.entry(w).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        let mut entries: Vec<(&str, Vec<u32>)> = map.into_iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut words = Vec::with_capacity(entries.len());
        let mut postings = Vec::with_capacity(entries.len());
        for (w, p) in entries {
            words.push(Box::from(w));
            postings.push(p.into_boxed_slice());
        }
        Index {
            words,
            postings,
            len,
        }
    }

    fn exact(&self, word: &str) -> Bitset {
        let mut set = Bitset::empty(self.len);
        if let Ok(i) = self.words.binary_search_by(|w| w.as_ref().cmp(word)) {
            set.insert_all(&self.postings[i]);
        }
        set
    }

    fn prefix(&self, prefix: &str) -> Bitset {
        let mut set = Bitset::empty(self.len);
        let start = self.words.partition_point(|w| w.as_ref() < prefix);
        for (w, p) in self.words[start..].iter().zip(&self.postings[start..]) {
            if !w.starts_with(prefix) {
                break;
            }
            set.insert_all(p);
        }
        set
    }

    /// The positions whose text has every word of `folded_query` (the last one as a prefix);
    /// `None` when the query has no words.
    pub fn matching(&self, folded_query: &str) -> Option<Bitset> {
        let words: Vec<&str> = folded_query.split(' ').filter(|w| !w.is_empty()).collect();
        let (last, whole) = words.split_last()?;
        let mut set = self.prefix(last);
        for w in whole {
            set.intersect(&self.exact(w));
        }
        Some(set)
    }

    /// Approximate heap bytes held (for the memory figures).
    pub fn heap_bytes(&self) -> usize {
        self.words.iter().map(|w| w.len() + 16).sum::<usize>()
            + self
                .postings
                .iter()
                .map(|p| p.len() * 4 + 16)
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_and_a_last_prefix() {
        let texts = [
            "dang ky khai sinh 1 001193 ho tich",
            "dang ky ket hon 1 000894 ho tich",
            "cap giay phep xay dung 9 000001 xay dung",
        ];
        let idx = Index::build(texts);
        let hits = |q: &str| -> Vec<usize> {
            idx.matching(q)
                .map(|s| s.iter().collect())
                .unwrap_or_default()
        };
        assert_eq!(hits("dang ky"), vec![0, 1]);
        assert_eq!(hits("dang ky khai s"), vec![0]);
        assert_eq!(hits("dan ky"), Vec::<usize>::new());
        assert_eq!(hits("k"), vec![0, 1]);
        assert_eq!(hits("xay dung"), vec![2]);
        assert_eq!(hits("1 0011"), vec![0]);
        assert_eq!(hits("zzz"), Vec::<usize>::new());
        assert!(idx.matching("").is_none());
    }

    #[test]
    fn bitset_iterates_in_order_across_words() {
        let mut b = Bitset::empty(200);
        b.insert_all(&[199, 0, 63, 64, 130]);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 63, 64, 130, 199]);
        assert!(b.contains(130) && !b.contains(131) && !b.contains(10_000));
    }
}
