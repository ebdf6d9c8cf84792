//! Where fingerprint indexes and EDM tables live in a data directory, and loading them all as
//! inspection-engine plug-ins.
//!
//! ```text
//! <data-dir>/fingerprints/documents.idx     the document fingerprint index
//! <data-dir>/fingerprints/edm.key           the EDM key (16 random bytes, mode 0600)
//! <data-dir>/fingerprints/edm/<name>.edm    one file per EDM table
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mamori_inspect::DocumentDetector;

use crate::detector::FingerprintDetector;
use crate::edm::{EdmDetector, EdmKey, EdmTable, check_name};
use crate::error::{Error, Result};
use crate::index::FingerprintIndex;

/// The fingerprint directory of a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FingerprintStore {
    dir: PathBuf,
    thorough: bool,
    load_threads: usize,
}

impl FingerprintStore {
    /// The store under `<data_dir>/fingerprints`.
    pub fn in_data_dir(data_dir: &Path) -> FingerprintStore {
        FingerprintStore {
            dir: data_dir.join("fingerprints"),
            thorough: false,
            load_threads: 1,
        }
    }

    /// A store in exactly this directory.
    pub fn at(dir: impl Into<PathBuf>) -> FingerprintStore {
        FingerprintStore {
            dir: dir.into(),
            thorough: false,
            load_threads: 1,
        }
    }

    /// Makes the document detector winnow all text ([`FingerprintDetector::thorough`]).
    pub fn thorough(mut self, thorough: bool) -> FingerprintStore {
        self.thorough = thorough;
        self
    }

    /// Threads [`FingerprintStore::load_detectors`] may use to check a large index (default
    /// one; see [`FingerprintIndex::load_with_threads`]).
    pub fn load_threads(mut self, threads: usize) -> FingerprintStore {
        self.load_threads = threads.max(1);
        self
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default document index file.
    pub fn index_path(&self) -> PathBuf {
        self.dir.join("documents.idx")
    }

    /// The EDM key file.
    pub fn edm_key_path(&self) -> PathBuf {
        self.dir.join("edm.key")
    }

    /// The directory of EDM tables.
    pub fn edm_dir(&self) -> PathBuf {
        self.dir.join("edm")
    }

    /// The file of the EDM table `name` (which must be a valid table name).
    pub fn edm_table_path(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.edm_dir().join(format!("{name}.edm")))
    }

    /// Every EDM table file, sorted by name.
    pub fn edm_table_paths(&self) -> Result<Vec<PathBuf>> {
        let dir = self.edm_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(dir, e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path.extension().is_some_and(|x| x == "edm") {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// Loads every EDM table, checking each against the key.
    pub fn load_edm_tables(&self) -> Result<Option<(Vec<EdmTable>, EdmKey)>> {
        let paths = self.edm_table_paths()?;
        if paths.is_empty() {
            return Ok(None);
        }
        let key = EdmKey::load(&self.edm_key_path())?;
        let mut tables = Vec::with_capacity(paths.len());
        for path in paths {
            let table = EdmTable::load(&path)?;
            if !table.key_matches(&key) {
                return Err(Error::Corrupt {
                    path,
                    what: "EDM table",
                    reason: "it was made with another key than edm.key".into(),
                });
            }
            tables.push(table);
        }
        Ok(Some((tables, key)))
    }

    /// The detectors to add to the inspection engine: the document index if it exists and
    /// has documents, and the EDM tables if there are any. An empty store gives none.
    pub fn load_detectors(&self) -> Result<Vec<Arc<dyn DocumentDetector>>> {
        let mut detectors: Vec<Arc<dyn DocumentDetector>> = Vec::new();
        let index_path = self.index_path();
        if index_path.exists() {
            let index = FingerprintIndex::load_with_threads(&index_path, self.load_threads)?;
            if !index.documents().is_empty() {
                detectors.push(Arc::new(
                    FingerprintDetector::new(index).thorough(self.thorough),
                ));
            }
        }
        if let Some((tables, key)) = self.load_edm_tables()? {
            detectors.push(Arc::new(EdmDetector::new(tables, key)));
        }
        Ok(detectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edm::EdmOptions;
    use crate::index::IndexParams;

    #[test]
    fn empty_store_has_no_detectors() {
        let dir = tempfile::tempdir().unwrap();
        let store = FingerprintStore::in_data_dir(dir.path());
        assert!(store.load_detectors().unwrap().is_empty());
    }

    #[test]
    fn loads_index_and_tables_and_refuses_foreign_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = FingerprintStore::in_data_dir(dir.path());
        let mut index = FingerprintIndex::new(IndexParams::default()).unwrap();
        index.add_document("a", "hi", &"設計".repeat(100)).unwrap();
        index.save(&store.index_path()).unwrap();
        let key = EdmKey::load_or_create(&store.edm_key_path()).unwrap();
        let (table, _) = EdmTable::from_csv(
            "n,m\nab,cd\n".as_bytes(),
            Path::new("x.csv"),
            "t1",
            "hi",
            &key,
            &EdmOptions::default(),
        )
        .unwrap();
        table.save(&store.edm_table_path("t1").unwrap()).unwrap();
        assert_eq!(store.load_detectors().unwrap().len(), 2);
        assert!(store.edm_table_path("../x").is_err());

        std::fs::write(store.edm_key_path(), [9u8; 16]).unwrap();
        let err = store.load_detectors().unwrap_err();
        assert!(err.to_string().contains("another key"), "{err}");
    }
}
