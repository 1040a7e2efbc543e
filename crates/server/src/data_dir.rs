//! The data directory and the private files in it: the directory is its owner's only (0700),
//! and so is each key file (0600). Its own module because storage and crypto both write there.

use std::io::Write;
use std::path::Path;

/// Creates the data directory readable by its owner only (0700): it holds the database and
/// the key files.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates `path` readable by its owner only (0600) and writes `contents`; fails if it exists,
/// so two servers starting at once cannot overwrite each other's key.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
