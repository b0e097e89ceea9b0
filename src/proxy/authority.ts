/**
 * The certificate authority of TLS termination (terminate.ts): a CA made in
 * memory for the session (ECDSA P-256), or the user's own
 * (network.tlsTerminate.caCertPath/caKeyPath), and a leaf certificate per
 * name, minted on first use and kept. Every leaf shares one session key, so a
 * new name costs one signature (bench/network.mjs, "minting").
 *
 * The DER is built by a well-kept ASN.1 library (@peculiar/asn1-x509, the
 * schema layer of PeculiarVentures' PKI.js family), signed with Node's
 * crypto, and read back by Node's X509Certificate before it is used.
 *
 * Trust boundary: the name comes from the sandbox (a CONNECT target that the
 * policy allowed); it is checked again here (a DNS name or an IP literal,
 * nothing else goes into a certificate). The CA's private key never leaves
 * this process: the sandbox gets the CA certificate only (trust.ts).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, AuthorityKeyIdentifier, BasicConstraints, Certificate, ExtendedKeyUsage, Extension, Extensions,
  GeneralName, KeyIdentifier, KeyUsage, KeyUsageFlags, Name, RelativeDistinguishedName, SubjectAlternativeName, SubjectKeyIdentifier, SubjectPublicKeyInfo,
  TBSCertificate, Validity, Version, id_ce_authorityKeyIdentifier, id_ce_basicConstraints, id_ce_extKeyUsage, id_ce_keyUsage, id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier, id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { CordonError } from '../errors.js';
// Java's trust store, built with the same family of ASN.1 libraries: in this bundle, loaded only for termination (network/tls.ts).
export { certificateBags, pkcs12TrustStore } from './trust-store.js';

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A leaf is valid for a week, minted again a day before it ends (a library handle can live that long). */
const LEAF_DAYS = 7;
/** Names kept at once; the oldest goes first past this. */
const LEAVES_MAX = 1024;

export interface Authority {
  /** PEM of the CA certificate: what the sandbox trusts. */
  readonly caPem: string;
  /** The TLS context presenting a leaf for `name`; undefined for a name no certificate can carry (certName). */
  contextFor(name: string): SecureContext | undefined;
  /** How many leaves were minted (for tests and the bench). */
  readonly minted: number;
}

interface Signer { readonly key: KeyObject; readonly name: Name; readonly keyId: Buffer; readonly notAfter: number }

/** A fresh CA for this session, valid from an hour ago (clock skew) for a year. */
export function sessionAuthority(now = Date.now()): Authority {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = commonName(`cordon session CA ${randomBytes(4).toString('hex')}`);
  const keyId = keyIdentifier(publicKey);
  const notAfter = now + 365 * DAY;
  const der = build({
    subject: name, publicKey, notBefore: now - HOUR, notAfter,
    signer: { key: privateKey, name, keyId, notAfter },
    extensions: [
      ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
      ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)),
      ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId)),
    ],
  });
  return authorityOf(pemOf(der), { key: privateKey, name, keyId, notAfter });
}

/**
 * The user's CA (caCertPath/caKeyPath): its certificate must be a CA
 * certificate that is valid now, and the key must be its key.
 */
export function userAuthority(certPem: string, keyPem: string, where: string, now = Date.now()): Authority {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: caCertPath holds no PEM certificate cordon can read (${(e as Error).message})`, { cause: e });
  }
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: caKeyPath holds no private key cordon can read (${(e as Error).message}); it must be an unencrypted PEM key`, { cause: e });
  }
  if (!cert.ca) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: caCertPath is not a CA certificate (its basicConstraints do not say CA:TRUE); name a CA certificate`);
  if (!cert.checkPrivateKey(key)) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: caKeyPath is not the key of the certificate in caCertPath`);
  const notAfter = Date.parse(cert.validTo);
  if (!(Date.parse(cert.validFrom) <= now && now < notAfter)) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: the CA certificate in caCertPath is valid from ${cert.validFrom} to ${cert.validTo}, not now`);
  if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: caKeyPath is a ${key.asymmetricKeyType} key; cordon signs with EC and RSA keys`);
  const parsed = AsnConvert.parse(cert.raw, Certificate);
  return authorityOf(cert.toString(), { key, name: parsed.tbsCertificate.subject, keyId: keyIdentifier(createPublicKey(key)), notAfter });
}

function authorityOf(caPem: string, signer: Signer): Authority {
  const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leafKeyPem = leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const leaves = new Map<string, { context: SecureContext; renewAt: number }>();
  let minted = 0;
  return {
    caPem,
    get minted() { return minted; },
    contextFor(name) {
      const key = certName(name);
      if (key === undefined) return undefined;
      const now = Date.now();
      const kept = leaves.get(key);
      if (kept && now < kept.renewAt) return kept.context;
      const notAfter = Math.min(now + LEAF_DAYS * DAY, signer.notAfter);
      const der = build({
        subject: commonName(key), publicKey: leafKey.publicKey, notBefore: now - HOUR, notAfter, signer,
        extensions: [
          ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
          ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
          ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
          ext(id_ce_subjectAltName, false, new SubjectAlternativeName([isIP(key) ? new GeneralName({ iPAddress: key }) : new GeneralName({ dNSName: key })])),
          ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(signer.keyId) })),
        ],
      });
      minted++;
      const context = createSecureContext({ key: leafKeyPem, cert: `${pemOf(der)}${caPem}`, minVersion: 'TLSv1.2' });
      leaves.delete(key);
      if (leaves.size >= LEAVES_MAX) leaves.delete(leaves.keys().next().value!);
      leaves.set(key, { context, renewAt: Math.max(now, notAfter - DAY) });
      return context;
    },
  };
}

/**
 * The name as it goes into a certificate: a DNS name in lower case without a
 * trailing dot (letters, digits, hyphens and underscores in labels), or an
 * IP literal (brackets dropped); undefined for anything else.
 */
export function certName(name: string): string | undefined {
  const bare = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  if (isIP(bare)) return bare.toLowerCase();
  const n = bare.toLowerCase().replace(/\.$/, '');
  const ok = n.length > 0 && n.length <= 253 && n.split('.').every((l) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l));
  return ok ? n : undefined;
}

interface Build {
  readonly subject: Name;
  readonly publicKey: KeyObject;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly signer: Signer;
  readonly extensions: Extension[];
}

function build(b: Build): Buffer {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // positive
  serial[0]! |= 0x01; // no leading zero byte to trim
  const algorithm = signatureAlgorithm(b.signer.key);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(serial).buffer,
    signature: algorithm,
    issuer: b.signer.name,
    validity: new Validity({ notBefore: new Date(b.notBefore), notAfter: new Date(b.notAfter) }),
    subject: b.subject,
    subjectPublicKeyInfo: AsnConvert.parse(b.publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    extensions: new Extensions(b.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = b.signer.key.asymmetricKeyType === 'ec' ? sign('sha256', tbsDer, { key: b.signer.key, dsaEncoding: 'der' }) : sign('sha256', tbsDer, b.signer.key);
  const cert = new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: new Uint8Array(signature).buffer });
  return Buffer.from(AsnConvert.serialize(cert));
}

/** ecdsa-with-SHA256 (no parameters), or sha256WithRSAEncryption (NULL parameters) for a user's RSA CA. */
function signatureAlgorithm(key: KeyObject): AlgorithmIdentifier {
  return key.asymmetricKeyType === 'ec' ? new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA256 }) : new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: null });
}

function ext(id: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID: id, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function commonName(cn: string): Name {
  return new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: cn }) })])]);
}

/** RFC 5280's method 1: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  const spki = AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo);
  return createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
}

function pemOf(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}
