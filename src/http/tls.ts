/**
 * The certificate the HTTPS face serves: the admin's (--tls-cert, --tls-key),
 * or with --tls auto one made by openssl on first start and kept beside the
 * state database (netrestore-tls.crt, netrestore-tls.key, the key mode 0600),
 * reused on every start after. Delete both files to make a new one.
 *
 * Agents trust it by its SHA-256 fingerprint, which the boot scripts put on
 * the kernel command line (restore-agent/tls-agent.ts): no CA is needed, and
 * the IP address in the certificate only matters to browsers.
 */
import { execa } from 'execa';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { NetrestoreError } from '../shared/errors.ts';
import { formatFingerprint } from '../shared/fingerprint.ts';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** `sha256:HEX` of the certificate. */
  fingerprint: string;
  certFile: string;
  keyFile: string;
  /** Made right now (first start, or the files were deleted). */
  made: boolean;
}

/** Where --tls auto keeps its certificate: beside the state database. */
export function autoTlsFiles(stateFile: string): { certFile: string; keyFile: string } {
  const dir = dirname(stateFile);
  return { certFile: join(dir, 'netrestore-tls.crt'), keyFile: join(dir, 'netrestore-tls.key') };
}

/** Read and check the pair: PEM, and the key belongs to the certificate. */
export function readTls(certFile: string, keyFile: string, made = false): TlsMaterial {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw new NetrestoreError('TLS_SETUP', `cannot read the TLS certificate or key: ${(err as Error).message}`, { cause: err });
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error(`the key in ${keyFile} does not belong to the certificate in ${certFile}`);
  } catch (err) {
    throw new NetrestoreError('TLS_SETUP', `cannot use the TLS certificate ${certFile} with the key ${keyFile}: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key, fingerprint: formatFingerprint(x509.fingerprint256), certFile, keyFile, made };
}

/** The auto certificate: the one kept beside the state, else a new one (EC P-256, ten years, the server's address in it). */
export async function autoTls(stateFile: string, serverIp: string | undefined): Promise<TlsMaterial> {
  const { certFile, keyFile } = autoTlsFiles(stateFile);
  if (existsSync(certFile) && existsSync(keyFile)) return readTls(certFile, keyFile);
  // Made in a private folder beside the state, then moved into place: never a readable key, never half a pair.
  const tmp = mkdtempSync(join(dirname(stateFile), '.netrestore-tls-'));
  try {
    const names = [hostname(), 'netrestore'].filter((n) => /^[a-z0-9.-]+$/i.test(n));
    const alt = [...(serverIp ? [`IP:${serverIp}`] : []), ...names.map((n) => `DNS:${n}`)].join(',');
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256', '-days', '3650'];
    args.push('-subj', '/O=netrestore/CN=netrestore', '-addext', `subjectAltName=${alt}`, '-keyout', join(tmp, 'key'), '-out', join(tmp, 'crt'));
    const r = await execa('openssl', args, { reject: false, all: true });
    if (r.failed) {
      const why = (r as { code?: string }).code === 'ENOENT' ? 'openssl is not installed (apt-get install openssl)' : (r.all ?? '').trim().split('\n').pop();
      throw new NetrestoreError('TLS_SETUP', `cannot make a self-signed certificate for --tls auto: ${why}; or give your own with --tls-cert and --tls-key`);
    }
    chmodSync(join(tmp, 'key'), 0o600);
    renameSync(join(tmp, 'key'), keyFile);
    renameSync(join(tmp, 'crt'), certFile);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return readTls(certFile, keyFile, true);
}
