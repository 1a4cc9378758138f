/**
 * HTTPS for the agent. The restore environment has no CA to trust a server
 * with, and the server's certificate is usually one it made itself: the boot
 * script hands the agent the certificate's SHA-256 fingerprint instead
 * (netrestore.tls=, or --fingerprint), and a connection is used only once the
 * certificate presented has exactly that fingerprint. The check runs after the
 * handshake and before the socket is handed to node:http, so a wrong server
 * never sees a request, let alone a token.
 *
 * Without a fingerprint the usual CA check applies (a certificate from the
 * site's CA, with NODE_EXTRA_CA_CERTS).
 */
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { isNetrestoreError, NetrestoreError } from '../shared/errors.ts';
import { formatFingerprint, parseFingerprint } from '../shared/fingerprint.ts';

type OnCreate = (err: Error | null, socket?: Duplex) => void;

class PinnedAgent extends https.Agent {
  readonly #hex: string;
  constructor(hex: string) {
    super({ keepAlive: true, maxSockets: 16 });
    this.#hex = hex;
  }

  // node:http waits for the callback when createConnection returns nothing.
  override createConnection(options: tls.ConnectionOptions, onCreate: OnCreate): undefined {
    const socket = tls.connect({ ...options, rejectUnauthorized: false });
    const failed = (err: Error) => onCreate(err);
    socket.once('error', failed);
    socket.once('secureConnect', () => {
      socket.off('error', failed);
      const presented = parseFingerprint(socket.getPeerCertificate().fingerprint256 ?? '');
      if (presented === this.#hex) return onCreate(null, socket);
      socket.destroy();
      onCreate(new NetrestoreError('TLS_FINGERPRINT', `the server at ${options.host}:${options.port} presented a certificate with fingerprint ${presented ? formatFingerprint(presented) : 'none'}, not the ${formatFingerprint(this.#hex)} expected; nothing was sent to it`));
    });
    return undefined;
  }
}

/** The agent for https:// requests: pinned to `fingerprint` when given (any spelling parseFingerprint takes). */
export function httpsAgent(fingerprint: string | undefined): https.Agent {
  if (fingerprint === undefined) return new https.Agent({ keepAlive: true, maxSockets: 16 });
  const hex = parseFingerprint(fingerprint);
  if (!hex) throw new NetrestoreError('USAGE', `${fingerprint} is not a SHA-256 fingerprint: give sha256: and 64 hex digits, as the server's https.listening log line prints it`);
  return new PinnedAgent(hex);
}

/** OpenSSL's codes for a certificate chain that does not verify (the CA check, without a fingerprint). */
const UNVERIFIED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A failure no retry can mend, as the coded error to stop on; undefined for anything else. */
export function tlsFailure(err: unknown, server: string): NetrestoreError | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (isNetrestoreError(err, 'TLS_FINGERPRINT')) return err;
  if (typeof code === 'string' && UNVERIFIED.has(code)) {
    return new NetrestoreError('TLS_UNTRUSTED', `the certificate of ${server} cannot be verified (${code}), and no fingerprint was given: pass --fingerprint sha256:… as the server's https.listening log line prints it`);
  }
  return undefined;
}
