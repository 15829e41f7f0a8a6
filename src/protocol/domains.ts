/**
 * Every domain-separation string of hush, in one place (shared by the CLI and the relay). Each signed or hashed message starts
 * with one of these as UTF-8 bytes followed by a single 0x00 byte, so no message of one kind
 * can be taken for another. docs/PROTOCOL.md §1 lists the same table.
 */
export const DOMAIN = {
  /** Ed25519 signature over a published bundle. */
  bundle: 'hush/v1/bundle',
  /** Ed25519 signature answering a relay's auth challenge. */
  relayAuth: 'hush/v1/relay-auth',
  /** SHA-512 of an identity key, shown as a fingerprint. */
  fingerprint: 'hush/v1/fingerprint',
  /** SHA-512 binding the keyring header into the wrapped data key. */
  keyringHeader: 'hush/v1/keyring-header',
  /** SHA-512 of an envelope, giving its relay id. */
  envelopeId: 'hush/v1/envelope-id',
  /** HMAC-SHA256 deriving a delivery token from a home's token key (§5.8). */
  deliveryToken: 'hush/v1/delivery-token',
  /** SHA-256 of a delivery token: the only form the relay stores (§5.8, §7.2). */
  deliveryTokenHash: 'hush/v1/delivery-token-hash',
  /** Ed25519 signature of a name's holder giving the name to another key (§7.2 "Transfer"). */
  nameTransfer: 'hush/v1/name-transfer',
  /** Ed25519 signature over a v2 signed X25519 prekey (§9.2). */
  signedPrekey: 'hush/v2/signed-prekey',
  /** Ed25519 signature over a v2 ML-KEM-768 prekey (§9.2). */
  kemPrekey: 'hush/v2/kem-prekey',
  /** HKDF info of the PQXDH key derivation (§9.3). */
  pqxdh: 'hush/v2/pqxdh/x25519-sha256-mlkem768',
  /** Prefix of the associated data binding both identities into every v2 message (§9.3). */
  sessionAd: 'hush/v2/session-ad',
  /** SHA-256 of a PQXDH initial header, naming the session both sides derive from it (§9.3). */
  sessionId: 'hush/v2/session-id',
  /** HKDF info of the Double Ratchet root-key step KDF_RK (§9.4). */
  ratchetRoot: 'hush/v2/ratchet-root',
  /** HKDF info turning a ratchet message key into a ChaCha20-Poly1305 key and nonce (§9.4). */
  messageKeys: 'hush/v2/message-keys',
  /** Associated data prefix of every encrypted file chunk (§11.1). */
  fileChunk: 'hush/v1/file-chunk',
  /** HMAC-SHA256 deriving, from the history key, the key that seals an unfinished upload's file key on disk (§11.4). */
  uploadState: 'hush/v1/upload-state',
} as const;

const enc = new TextEncoder();

/** UTF-8 of the domain string followed by 0x00. */
export function domainBytes(d: (typeof DOMAIN)[keyof typeof DOMAIN]): Uint8Array {
  const s = enc.encode(d);
  const out = new Uint8Array(s.length + 1);
  out.set(s);
  return out;
}
