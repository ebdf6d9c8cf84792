//! Files embedded in a PDF: the `/EmbeddedFiles` name tree and file attachment annotations.
//!
//! Mamori inspects them like any other file (an attached spreadsheet is as confidential as the
//! PDF around it), so they are decoded here, within the document's budget, and handed back.

use std::collections::HashSet;

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::encodings::decode_text_string;
use crate::filters::{self, Budget, DecodeError};
use crate::{PdfAttachment, PdfError};

/// Most name-tree nodes visited, and deepest nesting followed.
const MAX_NODES: usize = 10_000;
const MAX_DEPTH: usize = 32;
/// Most attachments returned.
const MAX_ATTACHMENTS: usize = 1_000;

/// Collects embedded files, each decoded once.
#[derive(Debug, Default)]
pub(crate) struct Attachments {
    found: Vec<PdfAttachment>,
    /// Embedded file streams already taken.
    seen: HashSet<ObjectId>,
    /// Attachments that could not be decoded (an unsupported filter).
    pub(crate) unreadable: usize,
}

impl Attachments {
    /// Walks the catalog's `/Names /EmbeddedFiles` tree.
    pub(crate) fn collect_from_catalog(
        &mut self,
        doc: &Document,
        budget: &mut Budget,
    ) -> Result<(), PdfError> {
        let Ok(catalog) = doc.catalog() else {
            return Ok(());
        };
        let Some(Object::Dictionary(names)) =
            catalog.get(b"Names").ok().map(|o| filters::resolve(doc, o))
        else {
            return Ok(());
        };
        let Some(root) = names.get(b"EmbeddedFiles").ok() else {
            return Ok(());
        };
        let mut stack: Vec<(&Object, usize)> = vec![(root, 0)];
        let mut visited = 0;
        while let Some((node, depth)) = stack.pop() {
            visited += 1;
            if visited > MAX_NODES {
                break;
            }
            budget.check_time()?;
            let Object::Dictionary(node) = filters::resolve(doc, node) else {
                continue;
            };
            if let Some(Object::Array(pairs)) =
                node.get(b"Names").ok().map(|o| filters::resolve(doc, o))
            {
                for pair in pairs.chunks(2) {
                    if let [key, spec] = pair {
                        let key = match filters::resolve(doc, key) {
                            Object::String(bytes, _) => decode_text_string(bytes),
                            _ => String::new(),
                        };
                        self.file_spec(doc, spec, &key, budget)?;
                    }
                }
            }
            if depth < MAX_DEPTH
                && let Some(Object::Array(kids)) =
                    node.get(b"Kids").ok().map(|o| filters::resolve(doc, o))
            {
                stack.extend(kids.iter().rev().map(|kid| (kid, depth + 1)));
            }
        }
        Ok(())
    }

    /// Takes the file of a file attachment annotation.
    pub(crate) fn collect_from_annotation(
        &mut self,
        doc: &Document,
        annotation: &Dictionary,
        budget: &mut Budget,
    ) -> Result<(), PdfError> {
        match annotation.get(b"FS").ok() {
            Some(spec) => self.file_spec(doc, spec, "", budget),
            None => Ok(()),
        }
    }

    /// Reads a file specification: its name (`/UF`, `/F`) and its `/EF` stream.
    fn file_spec(
        &mut self,
        doc: &Document,
        spec: &Object,
        key: &str,
        budget: &mut Budget,
    ) -> Result<(), PdfError> {
        if self.found.len() >= MAX_ATTACHMENTS {
            return Ok(());
        }
        let Object::Dictionary(spec) = filters::resolve(doc, spec) else {
            return Ok(());
        };
        let name = [&b"UF"[..], b"F", b"Unix", b"DOS"]
            .iter()
            .find_map(
                |k| match spec.get(k).ok().map(|o| filters::resolve(doc, o)) {
                    Some(Object::String(bytes, _)) => Some(decode_text_string(bytes)),
                    _ => None,
                },
            )
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| key.to_owned());
        let Some(Object::Dictionary(ef)) = spec.get(b"EF").ok().map(|o| filters::resolve(doc, o))
        else {
            return Ok(());
        };
        let Some(entry) = ef.get(b"UF").or_else(|_| ef.get(b"F")).ok() else {
            return Ok(());
        };
        if let Object::Reference(id) = entry
            && !self.seen.insert(*id)
        {
            return Ok(());
        }
        let Object::Stream(stream) = filters::resolve(doc, entry) else {
            return Ok(());
        };
        match filters::decode_stream(stream, doc, budget) {
            Ok(data) => self.found.push(PdfAttachment { name, data }),
            Err(DecodeError::Fatal(error)) => return Err(error),
            Err(DecodeError::Unsupported) => self.unreadable += 1,
        }
        Ok(())
    }

    pub(crate) fn into_vec(self) -> Vec<PdfAttachment> {
        self.found
    }
}
