//! Attachments and generated documents, behind `object_store`: local disk by default,
//! S3-compatible object storage when `DVC_STORAGE_URL=s3://bucket/prefix` (cargo feature `s3`).
//! Keys are always generated here (`attachments/YYYY/MM/<uuid>`), never taken from a client.

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Files {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local store: new objects are written there directly (see [`Files::put`]).
    local: Option<PathBuf>,
    /// Where the files are, for logs and messages (never holds credentials).
    location: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("kho tệp: {0}")]
    Store(#[from] object_store::Error),
    #[error("kho tệp: {0}")]
    Io(#[from] std::io::Error),
    #[error("DVC_STORAGE_URL không dùng được: {0}")]
    Config(String),
}

/// Makes rustls' ring provider the process default, which the HTTP clients (the S3 store's,
/// the webhooks', the national portal's and the payment gateway's) need; idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Files {
    /// Opens the storage named by `url` (`DVC_STORAGE_URL`); `None`: `<data dir>/files`.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Files, FilesError> {
        let url = url.map(str::trim).filter(|u| !u.is_empty());
        match url {
            None => Files::local_dir(&data_dir.join("files")),
            Some(u) if u.starts_with("s3://") => {
                let files = Files::s3(u)?;
                files.probe().await?;
                Ok(files)
            }
            Some(u) if u.starts_with("file://") => {
                let parsed = url::Url::parse(u).map_err(|e| FilesError::Config(e.to_string()))?;
                let dir = parsed.to_file_path().map_err(|()| {
                    FilesError::Config(format!("{u}: cần một đường dẫn tuyệt đối (file:///…)"))
                })?;
                Files::local_dir(&dir)
            }
            Some(u) if u.contains("://") => Err(FilesError::Config(format!(
                "{u}: chỉ hỗ trợ s3://bucket/tiền-tố, file:///thư-mục hoặc một thư mục"
            ))),
            Some(dir) => Files::local_dir(&PathBuf::from(dir)),
        }
    }

    /// Files under `<data dir>/files`.
    pub fn local(data_dir: &Path) -> Result<Files, FilesError> {
        Files::local_dir(&data_dir.join("files"))
    }

    fn local_dir(root: &Path) -> Result<Files, FilesError> {
        std::fs::create_dir_all(root)?;
        // fsync each file and the directories that name it before `put` returns: an attachment is
        // written before the dossier that refers to it is committed, so it must be on disk first.
        let store = LocalFileSystem::new_with_prefix(root)?.with_fsync(true);
        Ok(Files {
            store: Arc::new(store),
            local: Some(std::fs::canonicalize(root)?),
            location: std::path::absolute(root)
                .unwrap_or_else(|_| root.to_path_buf())
                .display()
                .to_string(),
        })
    }

    #[cfg(feature = "s3")]
    fn s3(url: &str) -> Result<Files, FilesError> {
        use object_store::aws::AmazonS3Builder;
        use object_store::prefix::PrefixStore;
        let parsed = url::Url::parse(url).map_err(|e| FilesError::Config(e.to_string()))?;
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                FilesError::Config(format!("{url}: thiếu tên bucket (s3://bucket/tiền-tố)"))
            })?
            .to_string();
        let prefix = parsed.path().trim_matches('/').to_string();
        install_tls_provider();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        if endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"))
        {
            // A local S3-compatible server (MinIO, Garage, moto…) without TLS.
            builder = builder.with_allow_http(true);
        }
        if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
            builder = builder.with_region("us-east-1");
        }
        let s3 = builder
            .build()
            .map_err(|e| FilesError::Config(format!("{url}: {e}")))?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix.as_str()))
        };
        Ok(Files {
            store,
            local: None,
            location: format!("s3://{bucket}/{prefix}"),
        })
    }

    #[cfg(not(feature = "s3"))]
    fn s3(url: &str) -> Result<Files, FilesError> {
        Err(FilesError::Config(format!(
            "{url}: bản dựng này không có hỗ trợ S3; hãy biên dịch với `cargo build --features s3`"
        )))
    }

    /// Writes, reads back and deletes a small object, so a wrong bucket, endpoint or credential
    /// stops the start-up with a clear message instead of failing the first citizen's upload.
    async fn probe(&self) -> Result<(), FilesError> {
        let key = format!("probe/{}", uuid::Uuid::new_v4().simple());
        let check = async {
            self.put(&key, Bytes::from_static(b"ok")).await?;
            let back = self.get(&key).await?;
            self.delete(&key).await?;
            Ok::<bool, FilesError>(back.as_ref() == b"ok")
        };
        match check.await {
            Ok(true) => Ok(()),
            Ok(false) => Err(FilesError::Config(format!(
                "{}: tệp thử đọc lại không khớp",
                self.location
            ))),
            Err(e) => Err(FilesError::Config(format!(
                "{}: không ghi/đọc được tệp thử ({e})",
                self.location
            ))),
        }
    }

    /// Where the files are (`s3://bucket/prefix` or a directory), for logs.
    pub fn location(&self) -> &str {
        &self.location
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

    /// Stores an object under `key` (a key made by this module), durably: on return it is on
    /// disk or in the bucket.
    ///
    /// On local disk the file is created at its final name, written and fsynced, then its
    /// directory is fsynced — what the object store's `put` does, without its staging file and
    /// rename (a second directory update under the directory's lock, for every upload): a new
    /// key is never a file being read, and a file cut short by a crash is under a key no dossier names,
    /// since the dossier is committed only after `put` returns.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), FilesError> {
        match &self.local {
            Some(root) => {
                let path = ObjPath::parse(key)
                    .map_err(|e| FilesError::Config(format!("khóa tệp không hợp lệ: {e}")))?
                    .parts()
                    .fold(root.clone(), |p, part| p.join(part.as_ref()));
                let copy = data.clone();
                match tokio::task::spawn_blocking(move || write_new(&path, &copy))
                    .await
                    .map_err(|e| FilesError::Io(std::io::Error::other(e)))?
                {
                    Ok(()) => {}
                    // Written before (`migrate-data` run again): replaced atomically, as the
                    // object store does it.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        self.store
                            .put(&ObjPath::from(key), PutPayload::from(data))
                            .await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                self.store
                    .put(&ObjPath::from(key), PutPayload::from(data))
                    .await?;
            }
        }
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

/// Creates `path` (which must not exist) with `data`, fsyncs it and its directory; a directory
/// created on the way is fsynced with its own parent.
fn write_new(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    let mut file = match open() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_dirs(dir)?;
            open()?
        }
        Err(e) => return Err(e),
    };
    file.write_all(data)?;
    file.sync_all()?;
    drop(file);
    std::fs::File::open(dir)?.sync_all()
}

/// `create_dir_all`, then every directory it made is fsynced with its parent.
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut d = dir;
    while !d.exists() {
        missing.push(d.to_path_buf());
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    std::fs::create_dir_all(dir)?;
    for m in missing.iter().rev() {
        if let Some(parent) = m.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_local_put_makes_its_directories_and_a_second_put_replaces() {
        let dir = std::env::temp_dir().join(format!("dvc-files-{}", uuid::Uuid::new_v4()));
        let files = Files::local_dir(&dir).expect("open");
        let key = "attachments/2026/12/a-new-key";
        files
            .put(key, Bytes::from_static(b"one"))
            .await
            .expect("put");
        assert_eq!(files.get(key).await.expect("get").as_ref(), b"one");
        files
            .put(key, Bytes::from_static(b"two"))
            .await
            .expect("again");
        assert_eq!(files.get(key).await.expect("get").as_ref(), b"two");
        assert!(files.put("../outside", Bytes::new()).await.is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
