//! `log verify`: walks the whole chain and names the first bad record.
//!
//! What is detected, and how (see `docs/events.md` for the threat model):
//!
//! * **modified**: a frame whose checksum fails with data after it, a frame whose `prev_hash`
//!   does not match the hash of the frame before (content changed and checksum recomputed), a
//!   checkpoint whose signed chain hash differs from the recomputed one (the whole stretch was
//!   rewritten), or a damaged segment header;
//! * **missing**: a gap in sequence numbers, or a missing segment file;
//! * **reordered**: a sequence number lower than expected, or one that appears later on;
//! * **truncated tail**: the journal ends before the latest signed checkpoint in `head`, or a
//!   sealed segment ends in the middle of a frame.
//!
//! An incomplete frame at the very end of the journal, after the last signed checkpoint, is what
//! a crash leaves: it was never acknowledged as durable, it is reported as a note, and the next
//! open cuts it off (recording a `recovered` note in the journal).

use std::fmt;
use std::fs;
use std::path::Path;

use mamori_model::Bilingual;
use serde::Serialize;

use crate::JournalError;
use crate::frame::{self, FrameError, FrameType, GENESIS, HEADER_LEN, Hash, SegmentHeader};
use crate::journal::{Note, journal_dir, list_segments, read_anchor, read_head};
use crate::keys::{self, Checkpoint};

/// What went wrong with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The record's bytes were changed.
    Modified,
    /// Records are gone from the middle of the journal.
    Missing,
    /// Records are out of order.
    Reordered,
    /// Records are gone from the end of the journal.
    TruncatedTail,
    /// A checkpoint or anchor signature does not verify with the host key.
    BadSignature,
}

impl ProblemKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Modified => "modified",
            ProblemKind::Missing => "missing",
            ProblemKind::Reordered => "reordered",
            ProblemKind::TruncatedTail => "truncated_tail",
            ProblemKind::BadSignature => "bad_signature",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first bad record found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What happened to it.
    pub kind: ProblemKind,
    /// The sequence number of the bad (or first missing) record.
    pub seq: u64,
    /// The segment where it is, or should be.
    pub segment: u64,
    /// The byte offset in that segment where the problem shows.
    pub offset: u64,
    /// What exactly, in Japanese and English.
    pub detail: Bilingual,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at record {} (segment {}, offset {}): {}",
            self.kind, self.seq, self.segment, self.offset, self.detail.en
        )
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Segments read.
    pub segments: u64,
    /// Frames read (events, checkpoints, notes).
    pub frames: u64,
    /// Events among them.
    pub events: u64,
    /// Signed checkpoints that verified.
    pub checkpoints: u64,
    /// Sequence number of the last good frame (0 for an empty journal).
    pub last_seq: u64,
    /// Sequence number covered by the last verified checkpoint.
    pub last_checkpoint_seq: u64,
    /// Frames after the last checkpoint: chained but not yet signed.
    pub unsigned_tail: u64,
    /// Crash recoveries recorded in the journal.
    pub recoveries: Vec<Note>,
    /// Things worth knowing that are not tampering (an unrecovered crash tail...).
    pub notes: Vec<Bilingual>,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

struct Walker {
    key: Option<ed25519_dalek::VerifyingKey>,
    report: VerifyReport,
    expected_seq: u64,
    running: Hash,
    /// (seq, hash) of frames at checkpointed positions, to compare with `head`.
    hash_at_head: Option<Hash>,
    head_seq: Option<u64>,
}

impl Walker {
    fn problem(
        &mut self,
        kind: ProblemKind,
        seq: u64,
        segment: u64,
        offset: u64,
        ja: String,
        en: String,
    ) {
        self.report.problem = Some(Problem {
            kind,
            seq,
            segment,
            offset,
            detail: Bilingual::new(ja, en),
        });
    }
}

/// Verifies the journal under `data_dir`. Returns a report; `Err` only when the journal cannot be
/// read at all (I/O error, no key while segments exist).
pub fn verify(data_dir: &Path) -> Result<VerifyReport, JournalError> {
    let dir = journal_dir(data_dir);
    let segments = list_segments(&dir)?;
    let (secret, public) = keys::key_paths(data_dir);
    let key = if segments.is_empty() && !secret.exists() && !public.exists() {
        None
    } else {
        Some(keys::load_public_key(data_dir)?)
    };
    let mut w = Walker {
        key,
        report: VerifyReport::default(),
        expected_seq: 1,
        running: GENESIS,
        hash_at_head: None,
        head_seq: None,
    };
    let head = match read_head(&dir) {
        Ok(h) => h,
        Err(e) => {
            w.problem(
                ProblemKind::Modified,
                0,
                0,
                0,
                format!("head ファイルが読めません: {e}"),
                format!("the head file is unreadable: {e}"),
            );
            return Ok(w.report);
        }
    };
    if let Some(h) = &head {
        if !w.key.as_ref().is_some_and(|k| h.verify(k)) {
            w.problem(
                ProblemKind::BadSignature,
                h.seq,
                h.segment,
                0,
                "head の署名が検証できません".into(),
                "the signature of the head checkpoint does not verify".into(),
            );
            return Ok(w.report);
        }
        w.head_seq = Some(h.seq);
    }
    let mut expected_segment = 1;
    match read_anchor(&dir) {
        Ok(Some(anchor)) => {
            if !w.key.as_ref().is_some_and(|k| anchor.verify(k)) {
                w.problem(
                    ProblemKind::BadSignature,
                    anchor.first_seq,
                    anchor.segment,
                    0,
                    "保持期間アンカーの署名が検証できません".into(),
                    "the signature of the retention anchor does not verify".into(),
                );
                return Ok(w.report);
            }
            expected_segment = anchor.segment;
            w.expected_seq = anchor.first_seq;
            w.running = keys::parse_hex32(&anchor.prev_hash).unwrap_or(GENESIS);
            w.report.notes.push(Bilingual::new(
                format!(
                    "セグメント {} より前は保持期間により削除済み(署名付き)",
                    anchor.segment
                ),
                format!(
                    "segments before {} were deleted by retention (signed anchor)",
                    anchor.segment
                ),
            ));
        }
        Ok(None) => {}
        Err(e) => {
            w.problem(
                ProblemKind::Modified,
                0,
                0,
                0,
                format!("anchor ファイルが読めません: {e}"),
                format!("the anchor file is unreadable: {e}"),
            );
            return Ok(w.report);
        }
    }
    let count = segments.len();
    for (i, (number, path)) in segments.iter().enumerate() {
        if *number < expected_segment {
            continue; // left over by a retention run cut short; outside the chain
        }
        if *number > expected_segment {
            w.problem(
                ProblemKind::Missing,
                w.expected_seq,
                expected_segment,
                0,
                format!("セグメント {expected_segment} がありません(削除された可能性)"),
                format!("segment {expected_segment} is missing (deleted?)"),
            );
            return Ok(w.report);
        }
        let bytes = fs::read(path).map_err(|e| JournalError::io(path, e))?;
        walk_segment(&mut w, *number, &bytes, i + 1 == count);
        if w.report.problem.is_some() {
            return Ok(w.report);
        }
        w.report.segments += 1;
        expected_segment += 1;
    }
    w.report.last_seq = w.expected_seq - 1;
    if let Some(h) = &head {
        let want = h.chain_hash();
        if h.seq > w.report.last_seq {
            let seq = w.report.last_seq + 1;
            w.problem(
                ProblemKind::TruncatedTail,
                seq,
                expected_segment.saturating_sub(1).max(1),
                0,
                format!("記録 {seq} から署名済みチェックポイント {} までが失われています(末尾の切り詰め)", h.seq),
                format!("records {seq} to {} (covered by the signed head checkpoint) are gone: the tail was cut off", h.seq),
            );
        } else if w.hash_at_head.is_some() && w.hash_at_head != want {
            w.problem(
                ProblemKind::Modified,
                h.seq,
                h.segment,
                0,
                format!(
                    "記録 {} までの内容が署名済みチェックポイントと一致しません",
                    h.seq
                ),
                format!(
                    "the records up to {} do not match the signed head checkpoint",
                    h.seq
                ),
            );
        }
    }
    Ok(w.report)
}

fn walk_segment(w: &mut Walker, number: u64, bytes: &[u8], is_last: bool) {
    let header = match SegmentHeader::decode(bytes) {
        Ok(h) => h,
        Err(e) => {
            let seq = w.expected_seq;
            w.problem(
                ProblemKind::Modified,
                seq,
                number,
                0,
                format!("セグメントのヘッダが壊れています: {e}"),
                format!("the segment header is damaged: {e}"),
            );
            return;
        }
    };
    if header.segment != number || header.first_seq != w.expected_seq {
        let kind = if header.first_seq > w.expected_seq {
            ProblemKind::Missing
        } else {
            ProblemKind::Reordered
        };
        let seq = w.expected_seq;
        w.problem(
            kind,
            seq,
            number,
            0,
            format!(
                "セグメントは記録 {} から始まりますが、{seq} が期待されます",
                header.first_seq
            ),
            format!(
                "the segment starts at record {} where {seq} was expected",
                header.first_seq
            ),
        );
        return;
    }
    if header.prev_hash != w.running {
        let seq = w.expected_seq.saturating_sub(1);
        w.problem(
            ProblemKind::Modified,
            seq,
            number,
            0,
            "前のセグメントの最後の記録がこのセグメントの連結と一致しません".into(),
            "the last record of the previous segment does not match this segment's link".into(),
        );
        return;
    }
    // First pass: decode every frame, so that a gap can be told from a reordering.
    let mut frames = Vec::new();
    let mut pos = HEADER_LEN;
    let mut tail_error = None;
    while pos < bytes.len() {
        match frame::decode_frame(&bytes[pos..]) {
            Ok(f) => {
                frames.push((pos, f));
                pos += f.len;
            }
            Err(e) => {
                tail_error = Some((pos, e));
                break;
            }
        }
    }
    let mut prev_offset = 0usize;
    for (index, (offset, f)) in frames.iter().enumerate() {
        let offset64 = *offset as u64;
        if f.seq != w.expected_seq {
            let expected = w.expected_seq;
            let later = frames[index..].iter().any(|(_, g)| g.seq == expected);
            let (kind, ja, en) = if f.seq < expected || later {
                (
                    ProblemKind::Reordered,
                    format!(
                        "記録 {} が {expected} の位置にあります(順序の入れ替え)",
                        f.seq
                    ),
                    format!(
                        "record {} is where {expected} should be: records were reordered",
                        f.seq
                    ),
                )
            } else {
                (
                    ProblemKind::Missing,
                    format!("記録 {expected} から {} までがありません(削除)", f.seq - 1),
                    format!("records {expected} to {} are missing: deleted", f.seq - 1),
                )
            };
            w.problem(kind, expected, number, offset64, ja, en);
            return;
        }
        if f.prev_hash != w.running {
            let seq = expected_prev(w.expected_seq);
            w.problem(
                ProblemKind::Modified,
                seq,
                number,
                prev_offset as u64,
                format!("記録 {seq} の内容が変更されています(ハッシュ連鎖の不一致)"),
                format!("record {seq} was modified: its hash no longer matches the chain"),
            );
            return;
        }
        if f.frame_type == FrameType::Checkpoint {
            let cp: Option<Checkpoint> = serde_json::from_slice(f.payload).ok();
            let ok_sig = cp
                .as_ref()
                .is_some_and(|c| w.key.as_ref().is_some_and(|k| c.verify(k)));
            let Some(cp) = cp.filter(|_| ok_sig) else {
                let seq = f.seq;
                w.problem(
                    ProblemKind::BadSignature,
                    seq,
                    number,
                    offset64,
                    format!("チェックポイント {seq} の署名が検証できません"),
                    format!("the signature of checkpoint {seq} does not verify"),
                );
                return;
            };
            if cp.seq != f.seq - 1 || cp.chain_hash() != Some(w.running) {
                let from = w.report.last_checkpoint_seq + 1;
                w.problem(
                    ProblemKind::Modified,
                    from,
                    number,
                    offset64,
                    format!("記録 {from} から {} までが署名済みチェックポイントと一致しません(書き換え)", f.seq - 1),
                    format!("records {from} to {} do not match their signed checkpoint: rewritten", f.seq - 1),
                );
                return;
            }
            w.report.checkpoints += 1;
            w.report.last_checkpoint_seq = cp.seq;
            w.report.unsigned_tail = 0;
        } else {
            w.report.unsigned_tail += 1;
        }
        match f.frame_type {
            FrameType::Event => w.report.events += 1,
            FrameType::Note => {
                if let Ok(note) = serde_json::from_slice::<Note>(f.payload) {
                    w.report.recoveries.push(note);
                }
            }
            _ => {}
        }
        if w.head_seq == Some(f.seq) {
            w.hash_at_head = Some(f.hash());
        }
        w.report.frames += 1;
        w.running = f.hash();
        w.expected_seq += 1;
        prev_offset = *offset;
    }
    if let Some((pos, err)) = tail_error {
        let torn = match err {
            FrameError::Incomplete { .. } => true,
            // A frame whose announced end reaches the end of the file is what an interrupted
            // write leaves; one with data after it was changed.
            FrameError::Checksum => {
                let len =
                    u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap_or_default()) as usize;
                pos + 8 + len >= bytes.len()
            }
            FrameError::Length(_) => bytes[pos..].iter().all(|&b| b == 0),
        };
        let seq = w.expected_seq;
        let covered = w.head_seq.is_some_and(|h| h >= seq);
        if torn && is_last && !covered {
            w.report.notes.push(Bilingual::new(
                format!("末尾に未完了の記録({} バイト)があります。クラッシュの跡で、確認応答されていません。次回の書き込み時に切り詰められます", bytes.len() - pos),
                format!("an incomplete record ({} bytes) ends the journal: a crash left it, it was never acknowledged, the next open cuts it off", bytes.len() - pos),
            ));
        } else if torn {
            w.problem(
                ProblemKind::TruncatedTail,
                seq,
                number,
                pos as u64,
                format!("記録 {seq} の途中でセグメントが切れています(切り詰め)"),
                format!("the segment is cut off in the middle of record {seq}: truncated"),
            );
        } else {
            w.problem(
                ProblemKind::Modified,
                seq,
                number,
                pos as u64,
                format!("記録 {seq} が壊れているか変更されています: {err}"),
                format!("record {seq} is damaged or modified: {err}"),
            );
        }
    }
}

fn expected_prev(seq: u64) -> u64 {
    seq.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, Operation};
    use crate::frame::encode_frame;
    use crate::journal::{Journal, JournalOptions, segment_path};
    use std::time::Duration;

    /// A journal of `n` events, checkpointed every `every` frames, in segments of about
    /// `segment_bytes`.
    fn journal(n: u64, every: u64, segment_bytes: u64) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(
            dir.path(),
            JournalOptions {
                checkpoint_records: every,
                segment_bytes,
                commit_window: Duration::ZERO,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        for i in 0..n {
            j.append_durable(Event::new(Operation::Read).with_path(format!("/f/{i}")))
                .unwrap();
        }
        drop(j);
        dir
    }

    /// (offset, seq, type) of every frame of a segment.
    fn frames(bytes: &[u8]) -> Vec<(usize, u64, FrameType, usize)> {
        let mut out = Vec::new();
        let mut pos = HEADER_LEN;
        while let Ok(f) = frame::decode_frame(&bytes[pos..]) {
            out.push((pos, f.seq, f.frame_type, f.len));
            pos += f.len;
        }
        out
    }

    fn seg(dir: &tempfile::TempDir, n: u64) -> std::path::PathBuf {
        segment_path(&journal_dir(dir.path()), n)
    }

    fn problem(dir: &tempfile::TempDir) -> Problem {
        let report = verify(dir.path()).unwrap();
        match report.problem {
            Some(p) => p,
            None => panic!("no problem found: {report:?}"),
        }
    }

    #[test]
    fn an_untouched_journal_verifies() {
        let dir = journal(50, 7, 1 << 20);
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 50);
        assert!(report.checkpoints >= 7, "{report:?}");
        assert_eq!(report.unsigned_tail, 0, "close signs a final checkpoint");
        assert_eq!(report.last_checkpoint_seq, report.last_seq - 1);
    }

    #[test]
    fn an_empty_data_dir_verifies() {
        let dir = tempfile::tempdir().unwrap();
        assert!(verify(dir.path()).unwrap().is_intact());
    }

    #[test]
    fn rotation_keeps_one_chain_across_segments() {
        let dir = journal(300, 10, 4096);
        let segments = list_segments(&journal_dir(dir.path())).unwrap();
        assert!(segments.len() >= 5, "{segments:?}");
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.events, 300);
        assert_eq!(report.segments, segments.len() as u64);
    }

    #[test]
    fn a_flipped_byte_is_modified_at_that_record() {
        let dir = journal(20, 100, 1 << 20);
        let path = seg(&dir, 1);
        let mut bytes = fs::read(&path).unwrap();
        let (off, seq, _, len) = frames(&bytes)[5];
        bytes[off + len - 3] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let p = problem(&dir);
        assert_eq!(
            (p.kind, p.seq, p.offset),
            (ProblemKind::Modified, seq, off as u64),
            "{p}"
        );
    }

    #[test]
    fn a_rewritten_record_with_fixed_crc_is_modified_at_that_record() {
        let dir = journal(20, 100, 1 << 20);
        let path = seg(&dir, 1);
        let bytes = fs::read(&path).unwrap();
        let fs_ = frames(&bytes);
        let (off, seq, _, len) = fs_[5];
        let f = frame::decode_frame(&bytes[off..]).unwrap();
        let mut event: Event = serde_json::from_slice(f.payload).unwrap();
        event.path = Some("/innocent".into());
        let mut replacement = Vec::new();
        encode_frame(
            &mut replacement,
            FrameType::Event,
            seq,
            &f.prev_hash,
            &serde_json::to_vec(&event).unwrap(),
        );
        let mut out = bytes[..off].to_vec();
        out.extend_from_slice(&replacement);
        out.extend_from_slice(&bytes[off + len..]);
        fs::write(&path, &out).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.seq), (ProblemKind::Modified, seq), "{p}");
        assert!(p.detail.en.contains("modified"), "{p}");
    }

    #[test]
    fn a_deleted_record_is_missing() {
        let dir = journal(20, 100, 1 << 20);
        let path = seg(&dir, 1);
        let bytes = fs::read(&path).unwrap();
        let (off, seq, _, len) = frames(&bytes)[8];
        let mut out = bytes[..off].to_vec();
        out.extend_from_slice(&bytes[off + len..]);
        fs::write(&path, &out).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.seq), (ProblemKind::Missing, seq), "{p}");
    }

    #[test]
    fn swapped_records_are_reordered() {
        let dir = journal(20, 100, 1 << 20);
        let path = seg(&dir, 1);
        let bytes = fs::read(&path).unwrap();
        let all = frames(&bytes);
        let (a_off, a_seq, _, a_len) = all[4];
        let (b_off, _, _, b_len) = all[5];
        let mut out = bytes[..a_off].to_vec();
        out.extend_from_slice(&bytes[b_off..b_off + b_len]);
        out.extend_from_slice(&bytes[a_off..a_off + a_len]);
        out.extend_from_slice(&bytes[b_off + b_len..]);
        fs::write(&path, &out).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.seq), (ProblemKind::Reordered, a_seq), "{p}");
    }

    #[test]
    fn a_cut_off_tail_is_truncated() {
        let dir = journal(20, 5, 1 << 20);
        let path = seg(&dir, 1);
        let bytes = fs::read(&path).unwrap();
        let all = frames(&bytes);
        // Cut cleanly between frames, removing the last checkpoints too.
        let (off, seq, _, _) = all[all.len() - 8];
        fs::write(&path, &bytes[..off]).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.seq), (ProblemKind::TruncatedTail, seq), "{p}");
    }

    #[test]
    fn a_deleted_segment_is_missing() {
        let dir = journal(300, 10, 4096);
        fs::remove_file(seg(&dir, 2)).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.segment), (ProblemKind::Missing, 2), "{p}");
    }

    #[test]
    fn a_rewritten_chain_is_caught_by_the_signed_checkpoint() {
        let dir = journal(20, 1000, 1 << 20);
        // Rebuild the whole segment with one changed event and a recomputed chain, keeping the
        // original (signed) checkpoint frames' payloads.
        let path = seg(&dir, 1);
        let bytes = fs::read(&path).unwrap();
        let mut out = bytes[..HEADER_LEN].to_vec();
        let mut prev = SegmentHeader::decode(&bytes).unwrap().prev_hash;
        for (off, _, _, _) in frames(&bytes) {
            let f = frame::decode_frame(&bytes[off..]).unwrap();
            let mut payload = f.payload.to_vec();
            if f.frame_type == FrameType::Event && f.seq == 3 {
                let mut e: Event = serde_json::from_slice(f.payload).unwrap();
                e.path = Some("/nothing-to-see".into());
                payload = serde_json::to_vec(&e).unwrap();
            }
            prev = encode_frame(&mut out, f.frame_type, f.seq, &prev, &payload);
        }
        fs::write(&path, &out).unwrap();
        let p = problem(&dir);
        assert_eq!(p.kind, ProblemKind::Modified, "{p}");
        assert!(
            p.seq <= 3,
            "the stretch since the last good checkpoint is named: {p}"
        );
    }

    #[test]
    fn a_forged_checkpoint_signature_is_refused() {
        let dir = journal(10, 1000, 1 << 20);
        let path = seg(&dir, 1);
        let bytes = fs::read(&path).unwrap();
        let all = frames(&bytes);
        let (off, seq, ty, _) = *all.last().unwrap();
        assert_eq!(ty, FrameType::Checkpoint);
        let f = frame::decode_frame(&bytes[off..]).unwrap();
        let mut cp: Checkpoint = serde_json::from_slice(f.payload).unwrap();
        cp.time_ns += 1;
        let mut out = bytes[..off].to_vec();
        encode_frame(
            &mut out,
            FrameType::Checkpoint,
            seq,
            &f.prev_hash,
            &serde_json::to_vec(&cp).unwrap(),
        );
        fs::write(&path, &out).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.seq), (ProblemKind::BadSignature, seq), "{p}");
    }

    #[test]
    fn a_torn_final_frame_is_a_crash_note_then_recovered_on_open() {
        let dir = journal(10, 1000, 1 << 20);
        let path = seg(&dir, 1);
        let mut bytes = fs::read(&path).unwrap();
        // What a crash in the middle of a write leaves: the start of a frame.
        let mut partial = Vec::new();
        encode_frame(
            &mut partial,
            FrameType::Event,
            999,
            &[0; 32],
            b"{\"never\":\"acknowledged\"}",
        );
        bytes.extend_from_slice(&partial[..partial.len() / 2]);
        fs::write(&path, &bytes).unwrap();
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.notes.len(), 1, "{report:?}");
        // Reopening cuts it and records the recovery.
        let j = Journal::open(dir.path(), JournalOptions::default()).unwrap();
        j.append_durable(Event::new(Operation::Write)).unwrap();
        drop(j);
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert!(report.notes.is_empty(), "{report:?}");
        assert_eq!(report.recoveries.len(), 1);
        assert_eq!(report.recoveries[0].bytes, (partial.len() / 2) as u64);
        assert_eq!(report.events, 11);
    }

    #[test]
    fn retention_deletes_old_segments_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(
            dir.path(),
            JournalOptions {
                checkpoint_records: 10,
                segment_bytes: 4096,
                retention_bytes: Some(16 * 1024),
                commit_window: Duration::ZERO,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        for i in 0..400 {
            j.append_durable(Event::new(Operation::Read).with_path(format!("/f/{i}")))
                .unwrap();
        }
        drop(j);
        let segments = list_segments(&journal_dir(dir.path())).unwrap();
        assert!(segments[0].0 > 1, "old segments deleted: {segments:?}");
        let report = verify(dir.path()).unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert!(report.events < 400);
        // Without the signed anchor the deletion is visible.
        fs::remove_file(journal_dir(dir.path()).join("anchor")).unwrap();
        let p = problem(&dir);
        assert_eq!((p.kind, p.segment), (ProblemKind::Missing, 1), "{p}");
    }
}
