"""The exception tree of strato.

Pure Python, importing nothing from this package, so that the native module and every service
raise the same classes::

    AtprotoError
    ├── DecodeError (also ValueError)     bytes that are not valid: .reason, .offset
    │   ├── CIDError                      a malformed CID
    │   ├── CARError                      a malformed CAR file (.offset in the file)
    │   ├── DataModelError                atproto JSON that is not a valid data-model value (.path)
    │   ├── FrameError                    an event-stream frame that breaks the framing rules
    │   └── MSTError                      a Merkle Search Tree node or key that breaks the rules
    ├── EncodeError (also ValueError)     a Python value with no DAG-CBOR form: .reason, .path
    ├── EventStreamError                  an error frame from an event stream: .error, .message
    ├── InvalidKeyError (also ValueError) a public or private key that cannot be parsed: .reason
    ├── IdentifierError (also ValueError) a malformed DID, handle, NSID, TID...: .reason
    ├── LexiconValidationError (also ValueError)  a lexicon document, or data checked against one,
    │                                     that breaks the rules: .reason, .path ($.a.b[2])
    ├── PlcValidationError (also ValueError)  a did:plc operation or audit log that breaks the
    │                                     PLC rules: .reason
    ├── PlcDirectoryError                 a PLC directory that failed or answered unexpectedly:
    │                                     .reason, .status (None when unreachable)
    ├── NetworkPolicyError (also ValueError)  an outbound address, scheme or port the network
    │                                     policy refuses: .reason, .host
    ├── IdentityError                     a DID or handle that cannot be resolved or verified
    │   ├── DidNotFoundError              no DID document for this DID
    │   ├── DidResolutionError            a DID document that is malformed or cannot be fetched
    │   ├── HandleResolutionError         the handle does not resolve (or not back to the DID)
    │   │   └── HandleNotFoundError       no DNS record nor well-known answer names a DID
    │   ├── UnsafeAddressError            a fetch refused by the SSRF guard (private address...)
    │   ├── LexiconResolutionError        an NSID whose published lexicon cannot be resolved
    │   │   └── LexiconNotFoundError      no authority DID, or no schema record, for the NSID
    │   └── IdentityUnavailableError      a transient failure (timeout, 5xx); never cached
    ├── StorageError                      an LMDB data directory that cannot be used as-is
    │   ├── SchemaVersionError            written by another schema version of strato
    │   └── StorageFullError              a transaction too big for the map (grown: retry it)
    ├── RepoError                         a repository operation refused: .reason
    │   ├── RepoNotFoundError             no repository for this DID
    │   ├── RepoExistsError               a repository for this DID already exists
    │   ├── InvalidSwapError              swapCommit or swapRecord did not match: .current
    │   ├── RecordNotFoundError           update or delete of an absent record: .path
    │   ├── RecordExistsError             create of a record that already exists: .path
    │   ├── BlockNotFoundError            blocks the repository does not hold: .missing
    │   ├── ImportInProgressError         an import into the repository is already staging
    │   └── InvalidWriteError (also ValueError)  a write batch the repository refuses (too many
    │                                     writes, a path twice, a record too big or not a map,
    │                                     a commit over the event size limit)
    ├── AccountError                      a PDS account operation refused: .reason, .subject
    │   ├── AccountNotFoundError          no account hosted here for that DID/handle/email
    │   ├── AccountExistsError            the DID already has an account here
    │   ├── HandleNotAvailableError       another account holds the handle
    │   ├── EmailNotAvailableError        another account holds the email address
    │   ├── InvalidEmailError             a malformed email, or not the account's address
    │   ├── InvalidPasswordError          a new password that breaks the password rules
    │   ├── AuthenticationError           wrong identifier or password, revoked app password
    │   ├── InvalidTokenError             an unknown, used or revoked token or code
    │   │   └── ExpiredTokenError         a token or code past its lifetime
    │   ├── TokenRequiredError            the operation needs an emailed token
    │   └── InvalidInviteCodeError        an invite code missing, unknown, disabled or used up
    ├── KeyStoreError                     keys at rest: a wrong or malformed master key, a
    │                                     missing key: .reason
    ├── BlobError                         a blob refused or unavailable: .reason, .cid
    │   ├── BlobTooLargeError             an upload over the size limit (nothing is kept)
    │   ├── BlobNotFoundError             no such blob for that account
    │   ├── BlobTakenDownError            the blob is taken down for that account
    │   └── BlobMismatchError             a record's blob ref disagrees with the stored blob
    └── CommitVerificationError (also ValueError)  a commit or sync event that fails a check:
                                          .code (a strato.sync.ErrorCode value), .reason

``reason`` is a short stable text (tests and callers may match on it); ``str(err)`` is a one-line
message with the reason and where it happened.
"""

from __future__ import annotations


class AtprotoError(Exception):
    """Base class of every error strato raises on purpose."""


class DecodeError(AtprotoError, ValueError):
    """Input bytes (or JSON) that are not valid: malformed, non-canonical or over a limit."""

    subject = "invalid DAG-CBOR"

    def __init__(self, reason: str, offset: int | None = None, path: str | None = None) -> None:
        super().__init__(reason, offset, path)
        self.reason = reason
        self.offset = offset
        self.path = path

    def __str__(self) -> str:
        message = f"{self.subject}: {self.reason}"
        if self.offset is not None:
            message += f" at offset {self.offset}"
        if self.path is not None:
            message += f" at {self.path}"
        return message


class CIDError(DecodeError):
    """A malformed CID (binary or string)."""

    subject = "invalid CID"


class CARError(DecodeError):
    """A malformed CAR file; ``offset`` is where the bad section starts in the file."""

    subject = "invalid CAR"


class DataModelError(DecodeError):
    """atproto JSON that is not a valid data-model value; ``path`` says where (``$.a[2]``)."""

    subject = "invalid data model value"


class FrameError(DecodeError):
    """An event-stream (firehose) frame that breaks the framing rules: not two DAG-CBOR values,
    a header without a valid ``op`` or ``t``, a payload that is not a map, over the size limit."""

    subject = "invalid event-stream frame"


class MSTError(DecodeError):
    """A Merkle Search Tree that breaks the rules: a bad key, a malformed or misplaced node, or a
    block the operation needs that the block source does not have."""

    subject = "invalid MST"


class EncodeError(AtprotoError, ValueError):
    """A Python value that has no DAG-CBOR form (a float, a huge int, a non-str key, ...)."""

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(reason, path)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"cannot encode as DAG-CBOR: {self.reason} at {self.path}"


class EventStreamError(AtprotoError):
    """An event stream that ended with an error frame (``FutureCursor``, ``ConsumerTooSlow``...):
    ``error`` is the error name the server sent, ``message`` its text (may be empty)."""

    def __init__(self, error: str, message: str = "") -> None:
        super().__init__(error, message)
        self.error = error
        self.message = message

    def __str__(self) -> str:
        return f"{self.error}: {self.message}" if self.message else self.error


class InvalidKeyError(AtprotoError, ValueError):
    """A public or private key that cannot be parsed (bad did:key, bad point, bad scalar)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid key: {self.reason}"


class IdentifierError(AtprotoError, ValueError):
    """A malformed identifier (a DID, handle, NSID, TID...); ``reason`` says what is wrong and
    ``value`` is the text (a plain ``str``, even when a parsed identifier type was passed)."""

    def __init__(self, reason: str, value: str = "") -> None:
        value = str(value)
        super().__init__(reason, value)
        self.reason = reason
        self.value = value

    def __str__(self) -> str:
        return f"invalid identifier {self.value!r}: {self.reason}"


class LexiconValidationError(AtprotoError, ValueError):
    """A lexicon document that is not valid, or data (a record, XRPC params, a body) that does
    not match its lexicon. ``path`` is the JSON path of the failing field (``$.embed.images[0]``).
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(reason, path)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class PlcValidationError(AtprotoError, ValueError):
    """A did:plc operation, or an audit log, that breaks the PLC rules (bad signature, broken
    ``prev`` chain, a nullification outside the recovery window, over a directory limit...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid PLC operation: {self.reason}"


class PlcDirectoryError(AtprotoError):
    """A PLC directory that could not be reached or answered in a way the client did not expect
    (a 5xx, a malformed body); ``status`` is the HTTP status, None when there was no answer."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason, status)
        self.reason = reason
        self.status = status

    def __str__(self) -> str:
        where = "PLC directory" if self.status is None else f"PLC directory ({self.status})"
        return f"{where}: {self.reason}"


class NetworkPolicyError(AtprotoError, ValueError):
    """An outbound request the network policy (:mod:`strato.netpolicy`) refuses: a private,
    loopback, link-local... address, plain http or a non-standard port where they are not
    allowed. ``host`` is the host that was refused."""

    def __init__(self, reason: str, host: str = "") -> None:
        super().__init__(reason, host)
        self.reason = reason
        self.host = host

    def __str__(self) -> str:
        return self.reason


class IdentityError(AtprotoError):
    """A DID or handle that cannot be resolved or verified; ``reason`` says why."""

    def __init__(self, reason: str, subject: str = "") -> None:
        subject = str(subject)
        super().__init__(reason, subject)
        self.reason = reason
        self.subject = subject

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}" if self.subject else self.reason


class DidNotFoundError(IdentityError):
    """The DID has no document (unknown to the PLC directory, tombstoned, or no did.json)."""


class DidResolutionError(IdentityError):
    """The DID document could not be used: an unsupported method, an HTTP error status, a body
    over the size limit, or a document that is malformed or names another DID."""


class HandleResolutionError(IdentityError):
    """The handle resolves to no DID, to several, or to a DID whose document does not claim it."""


class HandleNotFoundError(HandleResolutionError):
    """Resolution completed and found nothing: no ``did=`` TXT record and no well-known DID."""


class UnsafeAddressError(IdentityError):
    """A fetch the SSRF guard refused: a non-https URL, a non-standard port, or a host that is
    (or resolves to) a private, loopback, link-local, multicast or reserved address. Only a
    resolver configured for a local network allows them."""


class IdentityUnavailableError(IdentityError):
    """A transient failure (a timeout, a connection error, a 5xx, a DNS server failure): the
    answer is unknown, so it is never cached and a later try may succeed."""


class LexiconResolutionError(IdentityError):
    """An NSID whose published lexicon cannot be resolved: a malformed ``_lexicon`` TXT record,
    an authority without a PDS or key, or a schema record that fails verification or is not a
    valid lexicon for that NSID. ``subject`` is the NSID."""


class LexiconNotFoundError(LexiconResolutionError):
    """No lexicon is published for the NSID: no ``_lexicon`` TXT record names a DID, or the
    authority's repository (provably) holds no ``com.atproto.lexicon.schema`` record for it."""


class StorageError(AtprotoError):
    """An LMDB data directory that cannot be opened or used as it is."""


class SchemaVersionError(StorageError):
    """The data directory was written by a strato with another storage schema version."""


class StorageFullError(StorageError):
    """A write transaction did not fit the storage map. The map has been grown by the time this
    is raised, so the transaction can simply run again; nothing of it was written."""


class RepoError(AtprotoError):
    """A repository operation that cannot be done; ``reason`` says why. Nothing was written."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class RepoNotFoundError(RepoError):
    """No repository is stored for the DID."""


class RepoExistsError(RepoError):
    """A repository for the DID already exists (create refused)."""


class InvalidSwapError(RepoError):
    """A compare-and-swap (``swapCommit`` or ``swapRecord``) that did not match; ``current`` is
    the commit or record CID actually there (None: no record)."""

    def __init__(self, reason: str, current: object = None) -> None:
        super().__init__(reason)
        self.current = current


class RecordNotFoundError(RepoError):
    """An update or delete of a record the repository does not hold; ``path`` is
    ``collection/rkey``."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(reason)
        self.path = path


class RecordExistsError(RepoError):
    """A create of a record that is already in the repository; ``path`` is
    ``collection/rkey``."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(reason)
        self.path = path


class BlockNotFoundError(RepoError):
    """Blocks asked for by CID that the repository does not hold; ``missing`` lists them."""

    def __init__(self, reason: str, missing: list[object]) -> None:
        super().__init__(reason)
        self.missing = missing


class ImportInProgressError(RepoError):
    """An import into a repository that another import is still staging (one at a time)."""


class InvalidWriteError(RepoError, ValueError):
    """A write batch the repository refuses as a whole: too many writes, a path written twice,
    a record that is not a map with a ``$type`` or is too big, or a commit whose firehose slice
    would be over the event size limit."""


class AccountError(AtprotoError):
    """A PDS account operation that was refused; ``subject`` names the account, handle, email
    or code concerned (empty when naming it would leak whether an account exists)."""

    def __init__(self, reason: str, subject: str = "") -> None:
        subject = str(subject)
        super().__init__(reason, subject)
        self.reason = reason
        self.subject = subject

    def __str__(self) -> str:
        return f"{self.subject}: {self.reason}" if self.subject else self.reason


class AccountNotFoundError(AccountError):
    """No account hosted here for the DID, handle or email (or it has been deleted)."""


class AccountExistsError(AccountError):
    """The DID already has an account on this PDS."""


class HandleNotAvailableError(AccountError):
    """Another account on this PDS holds the handle."""


class EmailNotAvailableError(AccountError):
    """Another account on this PDS holds the email address."""


class InvalidEmailError(AccountError):
    """An email address that is malformed, or that is not the account's address."""


class InvalidPasswordError(AccountError):
    """A new password that breaks the password rules (empty, too long)."""


class AuthenticationError(AccountError):
    """A login that failed: unknown identifier, wrong password, or a revoked app password.
    The reason is the same for each, so a client cannot probe which accounts exist."""


class InvalidTokenError(AccountError):
    """A token or code that is unknown, already used, revoked, or for another purpose."""


class ExpiredTokenError(InvalidTokenError):
    """A token or code that was valid but whose lifetime has passed."""


class TokenRequiredError(AccountError):
    """The operation needs an emailed token and none was given."""


class InvalidInviteCodeError(AccountError):
    """An invite code that is required but missing, or unknown, disabled or used up."""


class KeyStoreError(AtprotoError):
    """Private keys at rest that cannot be used: a wrong or malformed master key, a key that
    does not decrypt, or no key stored under the name asked for."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"key store: {self.reason}"


class BlobError(AtprotoError):
    """A blob that was refused or cannot be served; ``cid`` is its CID when known."""

    def __init__(self, reason: str, cid: str = "") -> None:
        cid = str(cid)
        super().__init__(reason, cid)
        self.reason = reason
        self.cid = cid

    def __str__(self) -> str:
        return f"blob {self.cid}: {self.reason}" if self.cid else f"blob: {self.reason}"


class BlobTooLargeError(BlobError):
    """An upload over the size limit; nothing of it is kept."""


class BlobNotFoundError(BlobError):
    """No blob with that CID is stored for the account."""


class BlobTakenDownError(BlobError):
    """The blob is taken down for the account: not served, not uploadable again."""


class BlobMismatchError(BlobError):
    """A record's blob reference whose ``mimeType`` or ``size`` is not the stored blob's."""


class BlobMimeTypeMismatchError(BlobMismatchError):
    """A record's blob reference whose ``mimeType`` is not the stored blob's."""


class BlobSizeMismatchError(BlobMismatchError):
    """A record's blob reference whose ``size`` is not the stored blob's."""


class CommitVerificationError(AtprotoError, ValueError):
    """A ``#commit`` or ``#sync`` event (or a repo commit) that fails verification.

    ``code`` is the stable machine name (a value of :class:`strato.sync.ErrorCode`, which relays
    count in metrics); ``reason`` is the human detail.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


__all__ = [
    "AccountError",
    "AccountExistsError",
    "AccountNotFoundError",
    "AtprotoError",
    "AuthenticationError",
    "BlobError",
    "BlobMimeTypeMismatchError",
    "BlobMismatchError",
    "BlobNotFoundError",
    "BlobSizeMismatchError",
    "BlobTakenDownError",
    "BlobTooLargeError",
    "BlockNotFoundError",
    "CARError",
    "CIDError",
    "CommitVerificationError",
    "DataModelError",
    "DecodeError",
    "DidNotFoundError",
    "DidResolutionError",
    "EmailNotAvailableError",
    "EncodeError",
    "EventStreamError",
    "ExpiredTokenError",
    "FrameError",
    "HandleNotAvailableError",
    "HandleNotFoundError",
    "HandleResolutionError",
    "IdentifierError",
    "IdentityError",
    "IdentityUnavailableError",
    "ImportInProgressError",
    "InvalidEmailError",
    "InvalidInviteCodeError",
    "InvalidKeyError",
    "InvalidPasswordError",
    "InvalidSwapError",
    "InvalidTokenError",
    "InvalidWriteError",
    "KeyStoreError",
    "LexiconNotFoundError",
    "LexiconResolutionError",
    "LexiconValidationError",
    "MSTError",
    "NetworkPolicyError",
    "PlcDirectoryError",
    "PlcValidationError",
    "RecordExistsError",
    "RecordNotFoundError",
    "RepoError",
    "RepoExistsError",
    "RepoNotFoundError",
    "SchemaVersionError",
    "StorageError",
    "StorageFullError",
    "TokenRequiredError",
    "UnsafeAddressError",
]
