//! Every file of an opened message to the antivirus, concurrently, within a deadline. A file
//! whose scan did not end by then is [`Scan::Failed`].

use std::collections::HashMap;
use std::sync::Arc;

use sekisho_inspect::content::Node;
use tokio::time::Instant;

use crate::antivirus::{Antivirus, Scan};

/// A node's position: the indexes from the list of files down to it (`[0, 2]`: the first
/// file's third entry).
pub type Position = Vec<usize>;

/// What the scan of one message found, by position.
#[derive(Debug, Default)]
pub struct Scans {
    /// What the antivirus said of each file it saw.
    pub verdicts: HashMap<Position, Scan>,
    /// The SHA-256 (hex) of every file whose bytes could be read.
    pub sha256: HashMap<Position, String>,
}

/// The nodes the antivirus sees: every node with readable bytes and no children (a container
/// that was opened is judged by its entries; one that could not be opened is scanned whole,
/// since the antivirus may read formats sekisho does not).
pub fn scanned(node: &Node) -> bool {
    node.content.is_some() && node.children.is_empty()
}

/// The SHA-256 (hex) of every file of an opened message whose bytes could be read, by
/// position ([`hash_all`]).
#[derive(Debug, Default)]
pub struct Hashes(HashMap<Position, String>);

/// Hashes every file of `files` with bytes, and lets go of the bytes of every node the
/// antivirus does not see (an opened container), each handed to `freed`: the thread that
/// opened the message can keep that memory for the next one
/// ([`sekisho_inspect::buffers::keep_decoded`]).
pub fn hash_all(files: &mut [Node], mut freed: impl FnMut(Vec<u8>)) -> Hashes {
    let mut sha256 = HashMap::new();
    let mut stack: Vec<(Vec<usize>, &mut Node)> = files.iter_mut().enumerate().map(|(i, n)| (vec![i], n)).collect();
    while let Some((path, node)) = stack.pop() {
        if let Some(bytes) = &node.content {
            sha256.insert(path.clone(), hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref()));
        }
        if !scanned(node)
            && let Some(bytes) = node.content.take()
        {
            freed(bytes);
        }
        for (i, child) in node.children.iter_mut().enumerate() {
            let mut p = path.clone();
            p.push(i);
            stack.push((p, child));
        }
    }
    Hashes(sha256)
}

/// Scans every file of `files` that [`scanned`] selects, taking their bytes (`content` is
/// `None` afterwards, the memory freed as each scan ends).
pub async fn scan_all(files: &mut [Node], antivirus: Arc<dyn Antivirus>, deadline: Instant) -> Scans {
    let hashes = hash_all(files, drop);
    scan_hashed(files, hashes, antivirus, deadline).await
}

/// [`scan_all`] of `files` already hashed by [`hash_all`] (on the thread that opened them).
pub async fn scan_hashed(
    files: &mut [Node],
    hashes: Hashes,
    antivirus: Arc<dyn Antivirus>,
    deadline: Instant,
) -> Scans {
    let mut jobs = Vec::new();
    let mut stack: Vec<(Vec<usize>, &mut Node)> = files.iter_mut().enumerate().map(|(i, n)| (vec![i], n)).collect();
    while let Some((path, node)) = stack.pop() {
        if scanned(node)
            && let Some(bytes) = node.content.take()
        {
            jobs.push((path.clone(), Arc::new(bytes)));
        }
        node.content = None;
        for (i, child) in node.children.iter_mut().enumerate() {
            let mut p = path.clone();
            p.push(i);
            stack.push((p, child));
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for (path, bytes) in jobs {
        let av = antivirus.clone();
        set.spawn(async move {
            match tokio::time::timeout_at(deadline, av.scan(bytes)).await {
                Ok(scan) => (path, scan),
                Err(_) => (path, Scan::Failed("the scan did not end within [inbound] time_budget".into())),
            }
        });
    }
    let mut verdicts = HashMap::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok((path, scan)) => {
                verdicts.insert(path, scan);
            }
            Err(e) => tracing::error!(error = %e, "a scan task failed"),
        }
    }
    Scans { verdicts, sha256: hashes.0 }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sekisho_inspect::content::State;
    use std::future::Future;
    use std::pin::Pin;

    struct Fake;
    impl Antivirus for Fake {
        fn name(&self) -> String {
            "fake".into()
        }
        fn scan(&self, bytes: Arc<Vec<u8>>) -> Pin<Box<dyn Future<Output = Scan> + Send + '_>> {
            Box::pin(async move {
                if bytes.as_slice() == b"slow" {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                }
                if bytes.windows(5).any(|w| w == b"VIRUS") { Scan::Found("Test.Virus".into()) } else { Scan::Clean }
            })
        }
    }

    fn node(name: &str, content: Option<&[u8]>, children: Vec<Node>) -> Node {
        Node {
            name: name.into(),
            size: 0,
            file_type: "x".into(),
            hazards: vec![],
            state: State::Open,
            children,
            content: content.map(<[u8]>::to_vec),
        }
    }

    #[tokio::test]
    async fn leaves_are_scanned_and_a_late_scan_fails() {
        let mut files = vec![
            node("a.zip", Some(b"zip"), vec![node("x", Some(b"a VIRUS"), vec![]), node("y", Some(b"fine"), vec![])]),
            node("slow.bin", Some(b"slow"), vec![]),
            node("gone", None, vec![]),
        ];
        let deadline = Instant::now() + std::time::Duration::from_millis(300);
        let scans = scan_all(&mut files, Arc::new(Fake), deadline).await.verdicts;
        assert_eq!(scans.get(&vec![0, 0]), Some(&Scan::Found("Test.Virus".into())));
        assert_eq!(scans.get(&vec![0, 1]), Some(&Scan::Clean));
        assert!(!scans.contains_key(&vec![0]), "an opened container is judged by its entries");
        assert!(matches!(scans.get(&vec![1]), Some(Scan::Failed(why)) if why.contains("time_budget")));
        assert!(!scans.contains_key(&vec![2]));
        assert!(files.iter().all(|f| f.content.is_none()));
        let again = scan_all(&mut [node("y", Some(b"fine"), vec![])], Arc::new(Fake), deadline).await;
        assert_eq!(again.sha256[&vec![0]], "d14a58bae804a2b80b5b76a010239c88ffca1fc7951a90f8e9131beda1e23c1b");
    }
}
