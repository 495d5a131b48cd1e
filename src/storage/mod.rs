//! Content-addressed file store: every file is kept once, under the SHA-256 of its content,
//! behind the `object_store` crate (a local folder; another backend is a constructor away).
//!
//! An upload is first streamed to a temporary file while it is hashed and counted
//! ([`BlobStore::stage`]); only a complete file within the size limit is then put into the
//! store under its hash ([`BlobStore::put`]), which the local backend does by writing a
//! temporary file and renaming it, so a reader never sees half a file. Database rows that
//! refer to a blob are written after the put, in one transaction: a failed upload leaves
//! neither a row nor a reference (at worst an unreferenced file in the store).

pub mod s3;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{
    GetOptions, GetRange, GetResult, GetResultPayload, ObjectStore, ObjectStoreExt, WriteMultipart,
};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why a file could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The upload is larger than the limit.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// The client's stream failed (connection dropped, malformed multipart).
    #[error("the upload could not be read: {0}")]
    Upload(String),
    /// No blob under that key.
    #[error("no stored file {0}")]
    Missing(String),
    /// The store's disk (or quota) is full: `ENOSPC` / `EDQUOT` on the local folder or the
    /// staging folder.
    #[error("file store full: {0}")]
    Full(String),
    /// Disk or store failure.
    #[error("file store: {0}")]
    Io(String),
}

/// Whether an I/O error says the disk or the quota is full.
fn io_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        || matches!(
            e.raw_os_error(),
            Some(libc_errno::ENOSPC | libc_errno::EDQUOT)
        )
}

/// Linux errno values (the crate does not depend on libc for two constants).
mod libc_errno {
    pub const ENOSPC: i32 = 28;
    pub const EDQUOT: i32 = 122;
}

/// Whether any error in `e`'s source chain is a full disk (object_store wraps the local
/// file system's `io::Error` in its own kinds).
fn chain_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<std::io::Error>().is_some_and(io_full) {
            return true;
        }
        cur = err.source();
    }
    false
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        if io_full(&e) {
            StorageError::Full(e.to_string())
        } else {
            StorageError::Io(e.to_string())
        }
    }
}

impl From<object_store::Error> for StorageError {
    fn from(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { path, .. } => StorageError::Missing(path),
            other if chain_full(&other) => StorageError::Full(other.to_string()),
            other => StorageError::Io(other.to_string()),
        }
    }
}

/// A file written to the staging folder, hashed and measured; deleted when dropped.
#[derive(Debug)]
pub struct StagedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // Best effort: a leftover staging file is harmless and the folder is cleared at the
        // next start.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A stored file being read: its bytes (possibly a range of them) as a stream.
pub struct BlobRead {
    /// The content, or the requested range of it.
    pub stream: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// The file store.
#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    staging: PathBuf,
    /// Held while any clone lives: tells other processes the staging folder is in use.
    _staging_lock: Arc<std::fs::File>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("store", &self.store.to_string())
            .field("staging", &self.staging)
            .finish()
    }
}

/// Whether `key` looks like a SHA-256 in lower-case hex (keys come from our own rows, but
/// a key is also a path: refuse anything else).
pub fn valid_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The file of a blob in a local store rooted at `root` (for blocking readers such as the
/// notification sender); `key` must pass [`valid_key`].
pub fn local_path(root: &Path, key: &str) -> std::path::PathBuf {
    root.join(store_path(key).as_ref())
}

fn store_path(key: &str) -> StorePath {
    // Two levels of fan-out keep folders small on the local backend.
    StorePath::from(format!("sha256/{}/{}/{}", &key[..2], &key[2..4], key))
}

/// Removes the staging folders of processes that are gone (uploads cut by a kill or a crash).
/// Each process holds an exclusive lock on `{folder}.lock` while it lives, taken before its
/// folder exists; a folder whose lock can be taken, or that has none (an older layout), is
/// nobody's. A live process's folder is left alone, so several servers may share the store.
fn remove_stale(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if !path.is_dir() {
            continue;
        }
        let lock_path = path.with_extension("lock");
        match std::fs::OpenOptions::new().write(true).open(&lock_path) {
            Ok(lock) => {
                if lock.try_lock().is_ok() {
                    let _ = std::fs::remove_dir_all(&path);
                    let _ = std::fs::remove_file(&lock_path);
                }
            }
            Err(_) => {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
}

/// This process's own staging folder under `root` and the lock that marks it as alive, after
/// removing those of processes gone.
fn staging_folder(root: &Path) -> anyhow::Result<(PathBuf, Arc<std::fs::File>)> {
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
    remove_stale(root);
    let staging = root.join(uuid::Uuid::new_v4().simple().to_string());
    let lock_path = staging.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", lock_path.display()))?;
    lock.try_lock()
        .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", lock_path.display()))?;
    std::fs::create_dir_all(&staging)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", staging.display()))?;
    Ok((staging, Arc::new(lock)))
}

impl BlobStore {
    /// The store the configuration names: the local folder `blob_dir`, or an S3 bucket.
    pub fn from_config(cfg: &crate::config::Config) -> anyhow::Result<BlobStore> {
        match cfg.s3_settings() {
            Some(s3) => BlobStore::s3(&s3, &cfg.data_dir.join("staging")),
            None => BlobStore::local(&cfg.blob_path()),
        }
    }

    /// A store in a local folder (created when missing), staging in `{folder}/.staging`.
    pub fn local(folder: &Path) -> anyhow::Result<BlobStore> {
        std::fs::create_dir_all(folder).map_err(|e| {
            anyhow::anyhow!(
                "cannot create the file store folder {}: {e} (set DOCFLOW_BLOB_DIR)",
                folder.display()
            )
        })?;
        // Staging inside the store's folder: the final rename stays on one file system.
        let (staging, lock) = staging_folder(&folder.join(".staging"))?;
        // Every write is made durable (the file, then its folder's entry) before it returns:
        // a version or upload is acknowledged, and its row committed, only once its file would
        // survive a power cut, as an S3 store's answer promises.
        let store = LocalFileSystem::new_with_prefix(folder)
            .map_err(|e| anyhow::anyhow!("cannot open the file store: {e}"))?
            .with_fsync(true);
        Ok(BlobStore {
            store: Arc::new(store),
            staging,
            _staging_lock: lock,
        })
    }

    /// A store in an S3-compatible bucket, staging uploads in the local folder `staging_root`.
    /// Multipart uploads become visible only when complete, so a failed upload leaves nothing.
    pub fn s3(settings: &s3::S3Settings, staging_root: &Path) -> anyhow::Result<BlobStore> {
        let (staging, lock) = staging_folder(staging_root)?;
        Ok(BlobStore {
            store: s3::open(settings)?,
            staging,
            _staging_lock: lock,
        })
    }

    /// Streams `body` into a staging file, hashing as it goes; stops at `limit` bytes.
    pub async fn stage<S, E>(&self, mut body: S, limit: u64) -> Result<StagedFile, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self
            .staging
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        // The guard deletes the file on every early return below.
        let mut staged = StagedFile {
            path,
            sha256: String::new(),
            size: 0,
        };
        let mut file = tokio::fs::File::create(&staged.path).await?;
        let mut hasher = openssl::sha::Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StorageError::Upload(e.to_string()))?;
            staged.size += chunk.len() as u64;
            if staged.size > limit {
                return Err(StorageError::TooLarge { limit });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        // No fsync here: the staging file is temporary; the store's own write of it is durable.
        file.flush().await?;
        staged.sha256 = crate::audit::service::hex(&hasher.finish());
        Ok(staged)
    }

    /// Puts a staged file into the store under its hash, unless that content is there already.
    pub async fn put(&self, staged: &StagedFile) -> Result<(), StorageError> {
        let location = store_path(&staged.sha256);
        match self.store.head(&location).await {
            Ok(meta) if meta.size == staged.size => return Ok(()),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A "not found" while writing means the bucket or folder is gone: a store failure.
        let store_failure = |e: object_store::Error| match e {
            object_store::Error::NotFound { .. } => StorageError::Io(e.to_string()),
            other => StorageError::from(other),
        };
        let upload = self
            .store
            .put_multipart(&location)
            .await
            .map_err(store_failure)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, 8 * 1024 * 1024);
        let mut file = tokio::fs::File::open(&staged.path).await?;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(e.into());
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = writer.wait_for_capacity(4).await {
                let _ = writer.abort().await;
                return Err(store_failure(e));
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(store_failure)?;
        Ok(())
    }

    /// Opens a stored file, or the byte range `range` of it.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<BlobRead, StorageError> {
        let result = self.open(key, range).await?;
        Ok(BlobRead {
            stream: stream_of(result),
        })
    }

    async fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<GetResult, StorageError> {
        if !valid_key(key) {
            return Err(StorageError::Missing(key.to_string()));
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        Ok(self.store.get_opts(&store_path(key), options).await?)
    }

    /// Reads a whole stored file into memory; a file over `limit` bytes is refused (an
    /// upload limit bounds every stored file, this guards the memory of the caller).
    pub async fn read_all(&self, key: &str, limit: u64) -> Result<Vec<u8>, StorageError> {
        let result = self.open(key, None).await?;
        if result.meta.size > limit {
            return Err(StorageError::TooLarge { limit });
        }
        let mut stream = stream_of(result);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(StorageError::TooLarge { limit });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Stores bytes made in memory (a signed version) under their hash, unless that content is
    /// there already: one write of the store's own (the local backend writes a temporary file
    /// and renames it), no staging file. Answers the key and the size.
    pub async fn put_bytes(&self, bytes: Vec<u8>) -> Result<(String, u64), StorageError> {
        let sha256 = crate::audit::service::hex(&openssl::sha::sha256(&bytes));
        let size = bytes.len() as u64;
        let location = store_path(&sha256);
        match self.store.head(&location).await {
            Ok(meta) if meta.size == size => return Ok((sha256, size)),
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.store
            .put(&location, Bytes::from(bytes).into())
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => StorageError::Io(e.to_string()),
                other => StorageError::from(other),
            })?;
        Ok((sha256, size))
    }

    /// Whether the store holds `key`.
    pub async fn contains(&self, key: &str) -> Result<bool, StorageError> {
        if !valid_key(key) {
            return Ok(false);
        }
        match self.store.head(&store_path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// A stored file's bytes as a stream. A local file is read 1 MiB at a time on the blocking
/// pool (object_store's own stream of a local file reads 8 KiB per trip through the pool: a
/// 50 MB download made 6,400 of them); any other store's stream is passed on as it comes.
fn stream_of(result: GetResult) -> BoxStream<'static, Result<Bytes, StorageError>> {
    const CHUNK: u64 = 1024 * 1024;
    let range = result.range.clone();
    match result.payload {
        GetResultPayload::File(file, _) => futures_util::stream::try_unfold(
            (file, range.start, range.end),
            |(mut file, at, end)| async move {
                if at >= end {
                    return Ok(None);
                }
                let n = (end - at).min(CHUNK);
                let (file, buf) = tokio::task::spawn_blocking(move || {
                    use std::io::{Read, Seek, SeekFrom};
                    file.seek(SeekFrom::Start(at))?;
                    let mut buf = vec![0u8; n as usize];
                    file.read_exact(&mut buf)?;
                    Ok::<_, std::io::Error>((file, buf))
                })
                .await
                .map_err(|e| StorageError::Io(e.to_string()))??;
                Ok(Some((Bytes::from(buf), (file, at + n, end))))
            },
        )
        .boxed(),
        GetResultPayload::Stream(_) => result
            .into_stream()
            .map(|r| r.map_err(StorageError::from))
            .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    /// A local file larger than the 1 MiB read: whole, a range across a chunk boundary, a
    /// range inside one chunk, the last byte; and `read_all`'s limit.
    #[tokio::test]
    async fn local_files_read_in_chunks_give_the_exact_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let data: Vec<u8> = (0..(2 * 1024 * 1024 + 777u32))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let (key, size) = store.put_bytes(data.clone()).await.unwrap();
        assert_eq!(size, data.len() as u64);
        assert_eq!(store.read_all(&key, size).await.unwrap(), data);
        assert!(matches!(
            store.read_all(&key, size - 1).await,
            Err(StorageError::TooLarge { .. })
        ));
        let n = data.len() as u64;
        for range in [0..n, 1_048_000..1_049_000, 10..20, n - 1..n] {
            let mut read = store.get(&key, Some(range.clone())).await.unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = read.stream.next().await {
                got.extend_from_slice(&chunk.unwrap());
            }
            assert_eq!(
                got,
                data[range.start as usize..range.end as usize],
                "{range:?}"
            );
        }
    }

    #[tokio::test]
    async fn stage_put_get_and_dedupe() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let staged = store
            .stage(chunks(&[b"hello ", b"world"]), 1024)
            .await
            .unwrap();
        assert_eq!(staged.size, 11);
        assert_eq!(
            staged.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        store.put(&staged).await.unwrap();
        // The same content again is stored once.
        let again = store.stage(chunks(&[b"hello world"]), 1024).await.unwrap();
        store.put(&again).await.unwrap();
        let staged_path = staged.path.clone();
        drop(staged);
        drop(again);
        assert!(!staged_path.exists(), "staging files are removed");
        let key = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
        assert!(store.contains(key).await.unwrap());
        let mut read = store.get(key, Some(6..11)).await.unwrap();
        let mut got = Vec::new();
        while let Some(c) = read.stream.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"world");
        let files: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| !p.to_string_lossy().contains(".staging"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
    }

    #[tokio::test]
    async fn too_large_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let e = store
            .stage(chunks(&[b"0123456789", b"0123456789"]), 15)
            .await
            .unwrap_err();
        assert!(matches!(e, StorageError::TooLarge { limit: 15 }), "{e}");
        // Only the running store's liveness lock (`.staging/<folder>.lock`) is there.
        let left: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| p.extension().is_none_or(|x| x != "lock"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(store.get("../../etc/passwd", None).await.is_err());
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    }
}
