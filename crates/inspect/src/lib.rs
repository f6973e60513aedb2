//! sekisho's attachment inspection. [`encrypted`] answers, for one attachment's bytes, whether it
//! or anything nested inside it is password-protected or encrypted: the files sekisho replaces
//! at submission and cannot scan inbound. [`mime`] walks a whole message and inspects every
//! part. [`unlock`] opens an encrypted ZIP or 7z with a password, and finds the passwords a
//! message's text carries. Pure functions over bytes; nothing touches the disk.

#![warn(missing_docs)]

pub mod buffers;
pub mod content;
pub mod encrypted;
pub mod mime;
pub mod sanitise;
pub mod unlock;
