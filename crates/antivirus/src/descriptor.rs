//! FILDES: a file handed to clamd as an open descriptor over its Unix socket instead of
//! streamed. The bytes go into a memory file (`memfd_create`, never on disk) whose descriptor
//! travels in one message's ancillary data (`SCM_RIGHTS`); clamd scans it where it is, without
//! receiving the bytes, writing them to its `TemporaryDirectory` and reading them back.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The command that announces a descriptor (`z`: the reply ends with a NUL).
pub const FILDES: &[u8] = b"zFILDES\0";

/// A memory file holding `bytes`, positioned at its start. Fails where the system has no
/// `memfd_create` (the caller then streams the file).
pub fn memory_file(bytes: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal; the result is checked before use.
    let fd = unsafe { libc::memfd_create(c"sekisho-scan".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

/// Sends one byte carrying `descriptor` in its ancillary data on the Unix socket `socket`
/// (clamd wants at least one byte with it). The descriptor stays open here; clamd gets its own.
/// `WouldBlock` when the socket's buffer is full.
pub fn send_descriptor(socket: RawFd, descriptor: &OwnedFd) -> io::Result<()> {
    let fd: RawFd = descriptor.as_raw_fd();
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // A control buffer aligned for `cmsghdr`, large enough for one descriptor.
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    debug_assert!(space <= std::mem::size_of_val(&control));
    // SAFETY: an all-zero msghdr is valid; every pointer set below outlives the sendmsg call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space as _;
    // SAFETY: msg_control points to `space` writable, aligned bytes, so the first header
    // exists and its data has room for one descriptor.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<RawFd>(), fd);
    }
    // SAFETY: `message` is fully initialised above.
    let sent = unsafe { libc::sendmsg(socket, &message, libc::MSG_NOSIGNAL) };
    match sent {
        1 => Ok(()),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::ErrorKind::WriteZero.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    /// Receives one byte and the descriptor sent with it.
    fn receive_descriptor(socket: &UnixStream) -> OwnedFd {
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
        let mut control = [0u64; 4];
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, 0) };
        assert_eq!(n, 1, "one byte with the descriptor");
        unsafe {
            let header = libc::CMSG_FIRSTHDR(&message);
            assert!(!header.is_null(), "ancillary data arrived");
            assert_eq!(((*header).cmsg_level, (*header).cmsg_type), (libc::SOL_SOCKET, libc::SCM_RIGHTS));
            OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(header).cast::<RawFd>()))
        }
    }

    #[test]
    fn the_receiver_reads_the_bytes_from_the_start_through_its_own_descriptor() {
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let (ours, theirs) = UnixStream::pair().unwrap();
        let file = memory_file(&bytes).unwrap();
        send_descriptor(ours.as_raw_fd(), &file).unwrap();
        drop(file);
        let mut received = File::from(receive_descriptor(&theirs));
        let mut read = Vec::new();
        received.read_to_end(&mut read).unwrap();
        assert_eq!(read.len(), bytes.len());
        assert!(read == bytes, "the same bytes, from the first");
    }

    #[test]
    fn an_empty_file_is_a_descriptor_too() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        send_descriptor(ours.as_raw_fd(), &memory_file(b"").unwrap()).unwrap();
        let mut read = Vec::new();
        File::from(receive_descriptor(&theirs)).read_to_end(&mut read).unwrap();
        assert!(read.is_empty());
    }
}
