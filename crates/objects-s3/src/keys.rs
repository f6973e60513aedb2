//! Where each object is kept in the bucket: pure names, no I/O.

use object_store::path::Path;
use sekisho_store::objects::ObjectKind;

/// The keys of one gateway's objects, under its prefix.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// Without slashes at either end; empty for the bucket's top.
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Keys {
        Keys { prefix: prefix.trim_matches('/').to_string() }
    }

    fn under(&self, rest: &str) -> Path {
        if self.prefix.is_empty() { Path::from(rest) } else { Path::from(format!("{}/{rest}", self.prefix)) }
    }

    /// `<prefix>/body/<id>` or `<prefix>/file/<id>`.
    pub(crate) fn object(&self, kind: ObjectKind, id: &str) -> Path {
        self.under(&format!("{}/{id}", kind.name()))
    }

    /// `<prefix>/body` or `<prefix>/file`: what a listing of one kind asks for.
    pub(crate) fn kind(&self, kind: ObjectKind) -> Path {
        self.under(kind.name())
    }

    /// `<prefix>/clock`: rewritten to read the storage's time.
    pub(crate) fn clock(&self) -> Path {
        self.under("clock")
    }

    /// The id of a listed object of `kind`, when `location` is one (not a key below it, nor
    /// another's).
    pub(crate) fn id_of(&self, kind: ObjectKind, location: &Path) -> Option<String> {
        let id = location.filename()?;
        (!id.is_empty() && self.object(kind, id) == *location).then(|| id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_kept_by_kind_under_the_prefix() {
        let keys = Keys::new("/gw/eu/");
        assert_eq!(keys.object(ObjectKind::Body, "4XJ2K").as_ref(), "gw/eu/body/4XJ2K");
        assert_eq!(keys.object(ObjectKind::File, "ab12").as_ref(), "gw/eu/file/ab12");
        assert_eq!(keys.kind(ObjectKind::File).as_ref(), "gw/eu/file");
        assert_eq!(keys.clock().as_ref(), "gw/eu/clock");
        assert_eq!(Keys::new("").object(ObjectKind::Body, "4XJ2K").as_ref(), "body/4XJ2K");
        assert_eq!(keys.id_of(ObjectKind::Body, &Path::from("gw/eu/body/4XJ2K")).as_deref(), Some("4XJ2K"));
        assert_eq!(keys.id_of(ObjectKind::Body, &Path::from("gw/eu/body/x/4XJ2K")), None, "not one of ours");
        assert_eq!(keys.id_of(ObjectKind::File, &Path::from("gw/eu/body/4XJ2K")), None, "another kind");
    }
}
