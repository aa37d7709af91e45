//! Attachments and generated documents, behind `object_store`: local disk by default.
//! Keys are always generated here (`attachments/YYYY/MM/<uuid>`), never taken from a client.

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::Path;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Files {
    store: Arc<dyn ObjectStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("kho tệp: {0}")]
    Store(#[from] object_store::Error),
    #[error("kho tệp: {0}")]
    Io(#[from] std::io::Error),
}

impl Files {
    /// Files under `<data dir>/files`.
    pub fn local(data_dir: &Path) -> Result<Files, FilesError> {
        let root = data_dir.join("files");
        std::fs::create_dir_all(&root)?;
        // fsync each file and the directories that name it before `put` returns: an attachment is
        // written before the dossier that refers to it is committed, so it must be on disk first.
        let store = LocalFileSystem::new_with_prefix(&root)?.with_fsync(true);
        Ok(Files {
            store: Arc::new(store),
        })
    }

    /// A fresh storage key for an attachment.
    pub fn new_key(now: jiff::Timestamp) -> String {
        let z = now.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        format!(
            "attachments/{:04}/{:02}/{}",
            z.year(),
            z.month(),
            uuid::Uuid::new_v4()
        )
    }

    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), FilesError> {
        self.store
            .put(&ObjPath::from(key), PutPayload::from(data))
            .await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Bytes, FilesError> {
        Ok(self.store.get(&ObjPath::from(key)).await?.bytes().await?)
    }

    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        match self.store.delete(&ObjPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
