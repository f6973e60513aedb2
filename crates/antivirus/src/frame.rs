//! INSTREAM framing: after `zINSTREAM\0`, the file goes as chunks, each a 4-byte big-endian
//! length and that many bytes, and a zero length ends it. Only one chunk's buffer is ever
//! held, whatever the file's size.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes per chunk (clamd reads chunks of any size up to `StreamMaxLength`).
pub const CHUNK: usize = 64 * 1024;

/// The zero length that ends a stream.
pub const TERMINATOR: [u8; 4] = [0; 4];

/// The header of a chunk of `len` bytes: `len` as 4 bytes, big-endian.
pub fn chunk_header(len: u32) -> [u8; 4] {
    len.to_be_bytes()
}

/// Why a stream was not sent whole.
#[derive(Debug)]
pub enum StreamError {
    /// The file has more than `max` bytes; what was sent so far is not terminated.
    TooLarge,
    /// Reading the file failed.
    Read(std::io::Error),
    /// Writing to clamd failed (clamd may have closed the connection after an error reply).
    Write(std::io::Error),
}

/// Sends everything `reader` yields as INSTREAM chunks and the terminator; returns the number
/// of file bytes sent. Stops with [`StreamError::TooLarge`] before sending a byte past `max`.
pub async fn write_chunks<R, W>(reader: &mut R, writer: &mut W, max: u64) -> Result<u64, StreamError>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut frame = vec![0u8; 4 + CHUNK];
    let mut sent: u64 = 0;
    loop {
        let mut len = 0;
        while len < CHUNK {
            let n = reader.read(&mut frame[4 + len..]).await.map_err(StreamError::Read)?;
            if n == 0 {
                break;
            }
            len += n;
        }
        if len == 0 {
            writer.write_all(&TERMINATOR).await.map_err(StreamError::Write)?;
            writer.flush().await.map_err(StreamError::Write)?;
            return Ok(sent);
        }
        sent += len as u64;
        if sent > max {
            return Err(StreamError::TooLarge);
        }
        frame[..4].copy_from_slice(&chunk_header(len as u32));
        writer.write_all(&frame[..4 + len]).await.map_err(StreamError::Write)?;
    }
}

/// Slices handed to one vectored write: well under any system's `IOV_MAX`.
const SLICES_PER_WRITE: usize = 64;

/// Sends `command` and then `bytes` as INSTREAM chunks and the terminator, straight from
/// `bytes` (no copy into a frame buffer) with vectored writes: a file of a few chunks goes in
/// one system call.
pub async fn write_framed<W>(writer: &mut W, command: &[u8], bytes: &[u8]) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let headers: Vec<[u8; 4]> = bytes.chunks(CHUNK).map(|c| chunk_header(c.len() as u32)).collect();
    let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * headers.len() + 2);
    parts.push(command);
    for (header, chunk) in headers.iter().zip(bytes.chunks(CHUNK)) {
        parts.push(header);
        parts.push(chunk);
    }
    parts.push(&TERMINATOR);
    write_all_parts(writer, &parts).await?;
    writer.flush().await
}

/// Writes every one of `parts`, in order, as few writes as the writer allows.
async fn write_all_parts<W>(writer: &mut W, parts: &[&[u8]]) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let (mut part, mut offset) = (0, 0);
    while part < parts.len() {
        let slices: Vec<std::io::IoSlice<'_>> = std::iter::once(&parts[part][offset..])
            .chain(parts[part + 1..].iter().copied())
            .take(SLICES_PER_WRITE)
            .map(std::io::IoSlice::new)
            .collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 && slices.iter().any(|s| !s.is_empty()) {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while part < parts.len() && written >= parts[part].len() - offset {
            written -= parts[part].len() - offset;
            (part, offset) = (part + 1, 0);
        }
        offset += written;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits framed bytes back into chunk lengths, checking each header against its data.
    fn chunk_lengths(mut framed: &[u8]) -> Vec<usize> {
        let mut lengths = Vec::new();
        loop {
            let len = u32::from_be_bytes(framed[..4].try_into().unwrap()) as usize;
            lengths.push(len);
            framed = &framed[4 + len..];
            if len == 0 {
                assert!(framed.is_empty(), "nothing after the terminator");
                return lengths;
            }
        }
    }

    #[test]
    fn the_length_is_four_bytes_big_endian() {
        assert_eq!(chunk_header(0x0102_0304), [1, 2, 3, 4]);
        assert_eq!(chunk_header(65_536), [0, 1, 0, 0]);
        assert_eq!(TERMINATOR, chunk_header(0));
    }

    #[tokio::test]
    async fn a_file_goes_as_full_chunks_then_the_rest_then_a_zero_length() {
        let data: Vec<u8> = (0..2 * CHUNK + 100).map(|i| i as u8).collect();
        let mut framed = Vec::new();
        let sent = write_chunks(&mut &data[..], &mut framed, u64::MAX).await.unwrap();
        assert_eq!(sent, data.len() as u64);
        assert_eq!(chunk_lengths(&framed), [CHUNK, CHUNK, 100, 0]);
        let payload: Vec<u8> =
            [&framed[4..4 + CHUNK], &framed[8 + CHUNK..8 + 2 * CHUNK], &framed[12 + 2 * CHUNK..][..100]].concat();
        assert_eq!(payload, data);
    }

    /// A writer that takes at most 7 bytes a call and has no vectored writes of its own.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn bytes_in_memory_go_framed_as_a_reader_s_do_whatever_each_write_takes() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 40 * CHUNK + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let mut want = b"zINSTREAM\0".to_vec();
            write_chunks(&mut &data[..], &mut want, u64::MAX).await.unwrap();
            let mut whole = Vec::new();
            write_framed(&mut whole, b"zINSTREAM\0", &data).await.unwrap();
            assert_eq!(whole, want, "{len}");
            if len < 3 * CHUNK {
                let mut trickle = Trickle(Vec::new());
                write_framed(&mut trickle, b"zINSTREAM\0", &data).await.unwrap();
                assert_eq!(trickle.0, want, "{len}, 7 bytes a write");
            }
        }
    }

    #[tokio::test]
    async fn an_empty_file_is_only_the_terminator() {
        let mut framed = Vec::new();
        assert_eq!(write_chunks(&mut &b""[..], &mut framed, 0).await.unwrap(), 0);
        assert_eq!(framed, TERMINATOR);
    }

    #[tokio::test]
    async fn a_file_over_the_limit_stops_before_the_byte_past_it() {
        let data = vec![7u8; CHUNK + 10];
        let mut framed = Vec::new();
        assert_eq!(write_chunks(&mut &data[..], &mut framed, data.len() as u64).await.unwrap(), data.len() as u64);
        let mut framed = Vec::new();
        let err = write_chunks(&mut &data[..], &mut framed, data.len() as u64 - 1).await.unwrap_err();
        assert!(matches!(err, StreamError::TooLarge));
        assert_eq!(framed.len(), 4 + CHUNK, "the first chunk went, the one crossing the limit did not");
    }
}
