//! The key store: users' identities and groups' keys, on disk under `<data-dir>/keys/`.
//!
//! ```text
//! keys/                                  0700, refused if group- or world-accessible
//!   users/NAME.json                      public: age recipient + Ed25519 verifying key
//!   users/NAME.key.age                   private keys, age-encrypted to the user's passphrase (scrypt)
//!   groups/NAME/group.json               members, and every epoch's recipient and holders
//!   groups/NAME/epoch-N/USER.age         epoch N's group private key, age-encrypted to USER
//! ```
//!
//! A group key is an age X25519 identity. It is never stored in the clear: each holder gets a
//! copy encrypted to their own X25519 recipient, so opening a file takes the user's passphrase
//! (to unlock their identity) and then one X25519 unwrap per group. Removing a member creates a
//! new epoch whose key only the remaining members receive; older epochs stay, so files made
//! before the removal still open for those who held them, until `rekey` moves them to the new
//! epoch. The same shapes (recipient per epoch, a wrapped copy per holder) let a management
//! server hold the wrapped copies later and release them only to authenticated users.
//!
//! Writes go through a temporary file and a rename, so a crash leaves the old or the new
//! version of each file, never half of one. Concurrent key changes from two processes are not
//! serialised (the last `group.json` written wins); run key management from one place.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::{ExposeSecret as _, SecretString};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditSink, KeyChange, NullSink, ProtectEvent, ProtectOp};
use crate::error::{Error, Result};
use crate::format::{hex_decode, hex_encode};

/// How hard the passphrase key derivation (scrypt) is: `N = 2^log_n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfCost {
    /// log2 of scrypt's N. age's own default targets about one second (about 18 on a desktop).
    pub log_n: u8,
}

impl KdfCost {
    /// About one second on this machine, as age chooses it. Use this for real keys.
    pub fn interactive() -> KdfCost {
        KdfCost { log_n: 0 }
    }

    /// A fixed, low cost for tests and benchmarks only (2^10, milliseconds): never for real keys.
    pub fn insecure_for_tests() -> KdfCost {
        KdfCost { log_n: 10 }
    }
}

/// A user's public keys, as stored in `users/NAME.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPublic {
    /// The user's name.
    pub name: String,
    /// Their age X25519 recipient (`age1...`).
    pub recipient: String,
    /// Their Ed25519 verifying key, hex.
    pub signing_key: String,
    /// When the identity was created (Unix seconds).
    pub created_unix: u64,
}

/// The private half of a user's identity, stored encrypted.
#[derive(Serialize, Deserialize)]
struct UserSecretFile {
    x25519: String,
    ed25519: String,
}

/// A user's unlocked private keys. Keep it only as long as needed; it is zeroised on drop.
pub struct UserKeys {
    name: String,
    identity: age::x25519::Identity,
    signing: SigningKey,
}

impl std::fmt::Debug for UserKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserKeys")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl UserKeys {
    /// The user's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user's age recipient string.
    pub fn recipient(&self) -> String {
        self.identity.to_public().to_string()
    }

    pub(crate) fn identity(&self) -> &age::x25519::Identity {
        &self.identity
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

/// One generation of a group's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// The generation number, from 1.
    pub epoch: u32,
    /// The epoch's age X25519 recipient.
    pub recipient: String,
    /// When it was created.
    pub created_unix: u64,
    /// Users holding a wrapped copy of this epoch's private key.
    pub holders: Vec<String>,
}

/// A group as stored in `groups/NAME/group.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// The group's name.
    pub name: String,
    /// When it was created.
    pub created_unix: u64,
    /// Current members: new files are readable by them only.
    pub members: Vec<String>,
    /// Every epoch, oldest first; the last is current.
    pub epochs: Vec<Epoch>,
}

impl GroupInfo {
    /// The current epoch (new files are encrypted to it).
    pub fn current(&self) -> &Epoch {
        // Invariant kept by every writer and checked on load: at least one epoch.
        &self.epochs[self.epochs.len() - 1]
    }

    fn epoch(&self, n: u32) -> Option<&Epoch> {
        self.epochs.iter().find(|e| e.epoch == n)
    }
}

/// Checks a user or group name for use as a file name: 1-64 characters, letters (any script),
/// digits, `.`, `_`, `-`, `@`; not starting with `.` or `-`.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| Error::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.chars().count() > 64 {
        return Err(bad("longer than 64 characters"));
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(bad("starts with '.' or '-'"));
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(bad(
            "only letters, digits, '.', '_', '-' and '@' are allowed",
        ));
    }
    Ok(())
}

/// The key store, rooted at `<data-dir>/keys`.
pub struct KeyStore {
    root: PathBuf,
    audit: Arc<dyn AuditSink>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn check_private(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::PermissionsTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

fn make_private_dir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))
}

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename), 0600.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
    missing: impl FnOnce() -> Error,
) -> Result<T> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(Error::io(path, e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| Error::KeyStoreCorrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(value).unwrap_or_default();
    v.push(b'\n');
    v
}

/// age-encrypts `plaintext` to one recipient, in memory (key material is small).
fn encrypt_to(recipient: &dyn age::Recipient, plaintext: &[u8]) -> Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(std::iter::once(recipient))
        .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).map_err(Error::stream)?;
    w.write_all(plaintext).map_err(Error::stream)?;
    w.finish().map_err(Error::stream)?;
    Ok(out)
}

/// Decrypts a small age file with one identity.
fn decrypt_with(
    identity: &dyn age::Identity,
    ciphertext: &[u8],
) -> std::result::Result<Vec<u8>, age::DecryptError> {
    let decryptor = age::Decryptor::new_buffered(ciphertext)?;
    let mut reader = decryptor.decrypt(std::iter::once(identity))?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

impl KeyStore {
    /// Opens (creating if missing) the key store under `data_dir/keys`, checking that it is
    /// private to its owner.
    pub fn load(data_dir: impl AsRef<Path>) -> Result<KeyStore> {
        let root = data_dir.as_ref().join("keys");
        make_private_dir(&root.join("users"))?;
        make_private_dir(&root.join("groups"))?;
        check_private(&root)?;
        Ok(KeyStore {
            root,
            audit: Arc::new(NullSink),
        })
    }

    /// This store, recording every key change, protect and open in `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> KeyStore {
        self.audit = sink;
        self
    }

    /// The directory holding the keys.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Records an event in this store's audit sink: for callers that refuse an operation
    /// before the store is involved (for example an open whose passphrase was wrong).
    pub fn record(&self, event: ProtectEvent) {
        self.audit.record(event);
    }

    fn user_pub_path(&self, user: &str) -> PathBuf {
        self.root.join("users").join(format!("{user}.json"))
    }

    fn user_key_path(&self, user: &str) -> PathBuf {
        self.root.join("users").join(format!("{user}.key.age"))
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        self.root.join("groups").join(group)
    }

    fn wrapped_path(&self, group: &str, epoch: u32, user: &str) -> PathBuf {
        self.group_dir(group)
            .join(format!("epoch-{epoch}"))
            .join(format!("{user}.age"))
    }

    fn key_change(&self, actor: &str, group: Option<&str>, change: KeyChange) {
        let mut e = ProtectEvent::new(ProtectOp::KeyChange { change }, actor);
        e.groups = group.into_iter().map(str::to_string).collect();
        self.record(e);
    }

    /// Creates a user identity (X25519 for decryption, Ed25519 for signing) whose private keys
    /// are encrypted with `passphrase`.
    pub fn create_user(
        &self,
        user: &str,
        passphrase: &SecretString,
        cost: KdfCost,
    ) -> Result<UserPublic> {
        validate_name(user)?;
        if passphrase.expose_secret().is_empty() {
            return Err(Error::InvalidRequest(
                "empty passphrase / パスフレーズが空です".into(),
            ));
        }
        let pub_path = self.user_pub_path(user);
        if pub_path.exists() {
            return Err(Error::AlreadyExists {
                kind: "user",
                name: user.to_string(),
            });
        }
        let identity = age::x25519::Identity::generate();
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let secret = UserSecretFile {
            x25519: identity.to_string().expose_secret().to_string(),
            ed25519: hex_encode(signing.as_bytes()),
        };
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        if cost.log_n != 0 {
            recipient.set_work_factor(cost.log_n);
        }
        let mut plaintext = serde_json::to_vec(&secret).unwrap_or_default();
        let sealed = encrypt_to(&recipient, &plaintext);
        zeroize_vec(&mut plaintext);
        write_atomic(&self.user_key_path(user), &sealed?)?;
        let public = UserPublic {
            name: user.to_string(),
            recipient: identity.to_public().to_string(),
            signing_key: hex_encode(signing.verifying_key().as_bytes()),
            created_unix: crate::now_unix(),
        };
        write_atomic(&pub_path, &to_json(&public))?;
        self.key_change(user, None, KeyChange::CreateUser);
        Ok(public)
    }

    /// A user's public keys.
    pub fn user(&self, user: &str) -> Result<UserPublic> {
        validate_name(user)?;
        read_json(&self.user_pub_path(user), || {
            Error::UnknownUser(user.to_string())
        })
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Result<Vec<UserPublic>> {
        let dir = self.root.join("users");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(user) = name.strip_suffix(".json")
                && validate_name(user).is_ok()
            {
                out.push(self.user(user)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Unlocks a user's private keys with their passphrase.
    pub fn unlock(&self, user: &str, passphrase: &SecretString) -> Result<UserKeys> {
        let public = self.user(user)?;
        let path = self.user_key_path(user);
        check_private(&path)?;
        let sealed = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mut identity = age::scrypt::Identity::new(passphrase.clone());
        // Accept keys made with up to 2^22 (a few seconds), whatever this machine's target is.
        identity.set_max_work_factor(22);
        let mut plaintext = match decrypt_with(&identity, &sealed) {
            Ok(p) => p,
            Err(age::DecryptError::DecryptionFailed)
            | Err(age::DecryptError::KeyDecryptionFailed)
            | Err(age::DecryptError::NoMatchingKeys) => {
                return Err(Error::WrongPassphrase(user.to_string()));
            }
            Err(e) => {
                return Err(Error::KeyStoreCorrupt {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        let parsed: std::result::Result<UserSecretFile, _> = serde_json::from_slice(&plaintext);
        zeroize_vec(&mut plaintext);
        let corrupt = |reason: &str| Error::KeyStoreCorrupt {
            path: path.clone(),
            reason: reason.to_string(),
        };
        let secret = parsed.map_err(|e| corrupt(&e.to_string()))?;
        let identity: age::x25519::Identity = secret
            .x25519
            .parse()
            .map_err(|_| corrupt("bad X25519 identity"))?;
        let seed = hex_decode::<32>(&secret.ed25519).ok_or_else(|| corrupt("bad Ed25519 key"))?;
        let signing = SigningKey::from_bytes(&seed);
        if identity.to_public().to_string() != public.recipient
            || hex_encode(signing.verifying_key().as_bytes()) != public.signing_key
        {
            return Err(corrupt("private keys do not match the public keys"));
        }
        Ok(UserKeys {
            name: user.to_string(),
            identity,
            signing,
        })
    }

    /// A group's record.
    pub fn group(&self, group: &str) -> Result<GroupInfo> {
        validate_name(group)?;
        let path = self.group_dir(group).join("group.json");
        let info: GroupInfo = read_json(&path, || Error::UnknownGroup(group.to_string()))?;
        if info.epochs.is_empty() || info.name != group {
            return Err(Error::KeyStoreCorrupt {
                path,
                reason: "no epochs, or a different group's name".into(),
            });
        }
        Ok(info)
    }

    /// Every group, sorted by name.
    pub fn groups(&self) -> Result<Vec<GroupInfo>> {
        let dir = self.root.join("groups");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if validate_name(&name).is_ok() && entry.path().join("group.json").exists() {
                out.push(self.group(&name)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn save_group(&self, info: &GroupInfo) -> Result<()> {
        write_atomic(
            &self.group_dir(&info.name).join("group.json"),
            &to_json(info),
        )
    }

    fn wrap_for(
        &self,
        group: &str,
        epoch: u32,
        user: &str,
        group_key: &age::x25519::Identity,
    ) -> Result<()> {
        let recipient =
            crate::format::parse_recipient(&self.user(user)?.recipient).map_err(|reason| {
                Error::KeyStoreCorrupt {
                    path: self.user_pub_path(user),
                    reason,
                }
            })?;
        let dir = self.group_dir(group).join(format!("epoch-{epoch}"));
        make_private_dir(&dir)?;
        let sealed = encrypt_to(&recipient, group_key.to_string().expose_secret().as_bytes())?;
        write_atomic(&self.wrapped_path(group, epoch, user), &sealed)
    }

    /// Unwraps one epoch's group key with the actor's identity, if the actor holds it.
    fn unwrap_epoch(
        &self,
        group: &str,
        epoch: u32,
        actor: &UserKeys,
    ) -> Result<Option<age::x25519::Identity>> {
        let path = self.wrapped_path(group, epoch, actor.name());
        let sealed = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut plaintext =
            decrypt_with(actor.identity(), &sealed).map_err(|e| Error::KeyStoreCorrupt {
                path: path.clone(),
                reason: format!("cannot unwrap group key: {e}"),
            })?;
        let text = String::from_utf8(std::mem::take(&mut plaintext)).map_err(|_| {
            Error::KeyStoreCorrupt {
                path: path.clone(),
                reason: "group key is not text".into(),
            }
        })?;
        let identity =
            text.trim()
                .parse::<age::x25519::Identity>()
                .map_err(|_| Error::KeyStoreCorrupt {
                    path: path.clone(),
                    reason: "bad group key".into(),
                });
        zeroize_vec(&mut text.into_bytes());
        identity.map(Some)
    }

    /// Creates a group whose first member is `actor`.
    pub fn create_group(&self, group: &str, actor: &UserKeys) -> Result<GroupInfo> {
        validate_name(group)?;
        let dir = self.group_dir(group);
        if dir.join("group.json").exists() {
            return Err(Error::AlreadyExists {
                kind: "group",
                name: group.to_string(),
            });
        }
        make_private_dir(&dir)?;
        let key = age::x25519::Identity::generate();
        self.wrap_for(group, 1, actor.name(), &key)?;
        let now = crate::now_unix();
        let info = GroupInfo {
            name: group.to_string(),
            created_unix: now,
            members: vec![actor.name().to_string()],
            epochs: vec![Epoch {
                epoch: 1,
                recipient: key.to_public().to_string(),
                created_unix: now,
                holders: vec![actor.name().to_string()],
            }],
        };
        self.save_group(&info)?;
        self.key_change(actor.name(), Some(group), KeyChange::CreateGroup);
        Ok(info)
    }

    /// Gives `member` the group's keys: the current epoch's and every older one the actor
    /// holds, so the new member can open the group's existing files too.
    pub fn add_member(&self, group: &str, member: &str, actor: &UserKeys) -> Result<GroupInfo> {
        let mut info = self.group(group)?;
        self.user(member)?;
        if info.members.iter().any(|m| m == member) {
            return Err(Error::AlreadyMember {
                group: group.to_string(),
                user: member.to_string(),
            });
        }
        if !info.members.iter().any(|m| m == actor.name()) {
            return Err(Error::NotMember {
                group: group.to_string(),
                user: actor.name().to_string(),
            });
        }
        let current = info.current().epoch;
        for epoch in &mut info.epochs {
            match self.unwrap_epoch(group, epoch.epoch, actor)? {
                Some(key) => {
                    self.wrap_for(group, epoch.epoch, member, &key)?;
                    if !epoch.holders.iter().any(|h| h == member) {
                        epoch.holders.push(member.to_string());
                    }
                }
                None if epoch.epoch == current => {
                    return Err(Error::NotMember {
                        group: group.to_string(),
                        user: actor.name().to_string(),
                    });
                }
                None => {}
            }
        }
        info.members.push(member.to_string());
        self.save_group(&info)?;
        self.key_change(
            actor.name(),
            Some(group),
            KeyChange::AddMember {
                member: member.to_string(),
            },
        );
        Ok(info)
    }

    /// Removes `member` and rotates the group key: a new epoch is created and wrapped to the
    /// remaining members only, so files protected from now on are unreadable to the removed
    /// member. Older epochs are kept (files made before stay readable to whoever held them
    /// until they are re-keyed with [`KeyStore::rekey_file`]).
    ///
    /// Needs no private key: rotation only encrypts to the remaining members' public keys.
    /// `actor` is who asked, for the audit trail; it must be a member.
    pub fn remove_member(&self, group: &str, member: &str, actor: &str) -> Result<GroupInfo> {
        let mut info = self.group(group)?;
        if !info.members.iter().any(|m| m == member) {
            return Err(Error::NotMember {
                group: group.to_string(),
                user: member.to_string(),
            });
        }
        if !info.members.iter().any(|m| m == actor) {
            return Err(Error::NotMember {
                group: group.to_string(),
                user: actor.to_string(),
            });
        }
        let remaining: Vec<String> = info
            .members
            .iter()
            .filter(|m| *m != member)
            .cloned()
            .collect();
        if remaining.is_empty() {
            return Err(Error::InvalidRequest(format!(
                "{member} is the last member of {group}; a group needs at least one / 最後のメンバーは削除できません"
            )));
        }
        let new_epoch = info.current().epoch + 1;
        let key = age::x25519::Identity::generate();
        for user in &remaining {
            self.wrap_for(group, new_epoch, user, &key)?;
        }
        info.epochs.push(Epoch {
            epoch: new_epoch,
            recipient: key.to_public().to_string(),
            created_unix: crate::now_unix(),
            holders: remaining.clone(),
        });
        info.members = remaining;
        self.save_group(&info)?;
        self.key_change(
            actor,
            Some(group),
            KeyChange::RemoveMember {
                member: member.to_string(),
                new_epoch,
            },
        );
        Ok(info)
    }

    /// The identities `actor` can use to open a file with this header: the group keys of the
    /// header's epochs that the actor holds, and the actor's own key if they are the owner.
    pub(crate) fn identities_for(
        &self,
        actor: &UserKeys,
        header: &crate::Header,
    ) -> Result<Vec<age::x25519::Identity>> {
        let mut out = Vec::new();
        for grant in &header.groups {
            let info = match self.group(&grant.group) {
                Ok(info) => info,
                Err(Error::UnknownGroup(_)) | Err(Error::InvalidName { .. }) => continue,
                Err(e) => return Err(e),
            };
            if info.epoch(grant.epoch).map(|e| &e.recipient) != Some(&grant.recipient) {
                // The header names an epoch this store does not have (another store's group of
                // the same name): no key.
                continue;
            }
            if let Some(key) = self.unwrap_epoch(&grant.group, grant.epoch, actor)? {
                out.push(key);
            }
        }
        if header.owner_recipient.as_deref() == Some(actor.recipient().as_str()) {
            out.push(actor.identity().clone());
        }
        Ok(out)
    }

    /// Whether the header's signer key is the key this store has for the signer's user name.
    pub fn signer_is_known(&self, header: &crate::Header) -> bool {
        self.user(&header.signer.user)
            .map(|u| u.signing_key == header.signer.public_key)
            .unwrap_or(false)
    }
}

fn zeroize_vec(v: &mut Vec<u8>) {
    use zeroize::Zeroize as _;
    v.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn names_are_checked() {
        for ok in ["alice", "研究部", "proj-x_1", "a.b@example"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "-x", "a/b", "a b", "..", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn users_unlock_only_with_their_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::load(dir.path()).unwrap();
        store
            .create_user(
                "alice",
                &pass("correct horse"),
                KdfCost::insecure_for_tests(),
            )
            .unwrap();
        assert!(matches!(
            store.create_user("alice", &pass("x"), KdfCost::insecure_for_tests()),
            Err(Error::AlreadyExists { .. })
        ));
        let keys = store.unlock("alice", &pass("correct horse")).unwrap();
        assert_eq!(keys.name(), "alice");
        assert_eq!(keys.recipient(), store.user("alice").unwrap().recipient);
        assert!(matches!(
            store.unlock("alice", &pass("wrong")),
            Err(Error::WrongPassphrase(_))
        ));
        assert!(matches!(
            store.unlock("bob", &pass("x")),
            Err(Error::UnknownUser(_))
        ));
        assert!(!format!("{keys:?}").contains("AGE-SECRET"));
    }

    #[test]
    fn open_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        KeyStore::load(dir.path()).unwrap();
        fs::set_permissions(dir.path().join("keys"), fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            KeyStore::load(dir.path()),
            Err(Error::PermissionsTooOpen { mode: 0o755, .. })
        ));
    }

    #[test]
    fn membership_changes_rotate_keys() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Arc::new(crate::audit::MemorySink::default());
        let store = KeyStore::load(dir.path()).unwrap().with_audit(sink.clone());
        for u in ["alice", "bob", "carol"] {
            store
                .create_user(u, &pass(u), KdfCost::insecure_for_tests())
                .unwrap();
        }
        let alice = store.unlock("alice", &pass("alice")).unwrap();
        let g = store.create_group("研究部", &alice).unwrap();
        assert_eq!(g.current().epoch, 1);
        store.add_member("研究部", "bob", &alice).unwrap();
        assert!(matches!(
            store.add_member("研究部", "bob", &alice),
            Err(Error::AlreadyMember { .. })
        ));
        let carol = store.unlock("carol", &pass("carol")).unwrap();
        assert!(matches!(
            store.add_member("研究部", "carol", &carol),
            Err(Error::NotMember { .. })
        ));
        let g = store.remove_member("研究部", "bob", "alice").unwrap();
        assert_eq!(g.current().epoch, 2);
        assert_eq!(g.members, vec!["alice"]);
        assert_eq!(g.epochs[0].holders, vec!["alice", "bob"]);
        assert_eq!(g.current().holders, vec!["alice"]);
        assert!(matches!(
            store.remove_member("研究部", "alice", "alice"),
            Err(Error::InvalidRequest(_))
        ));
        // Carol joins after the rotation and gets both epochs.
        let g = store.add_member("研究部", "carol", &alice).unwrap();
        assert!(
            g.epochs
                .iter()
                .all(|e| e.holders.iter().any(|h| h == "carol"))
        );
        let kinds: Vec<_> = sink
            .events()
            .into_iter()
            .map(|e| match e.op {
                ProtectOp::KeyChange { change } => format!("{change:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds.len(), 3 + 1 + 1 + 1 + 1, "{kinds:?}");
        assert!(kinds.iter().any(|k| k.contains("RemoveMember")));
    }
}
