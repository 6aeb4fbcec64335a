//! haul's promise at its edges (issue 8): a file reported ok is exactly its
//! URL's bytes, nothing outside `-d` is touched, and credentials stay where
//! they belong. Each case plays a careful user or a hostile server.
//!
//! - collisions.rs: two downloads never share a file (destinations, temp
//!   files, `--content-disposition` names, haul's own files).
//! - fs.rs: nothing outside `-d`, no special files, no control characters.
//! - versions.rs: never two versions in one file.
//! - credentials.rs: no Referer, masked passwords, nothing left on files.
//! - digest.rs: a digest is a promise about the file on disk.
//! - batches.rs: random batches of colliding names, every file whole.

mod batches;
mod collisions;
mod credentials;
mod digest;
mod fs;
mod versions;
