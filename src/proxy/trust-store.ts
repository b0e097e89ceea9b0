/**
 * A PKCS#12 trust store (RFC 7292) of certificates only, for Java, which
 * reads a key store and not PEM: what TLS termination gives Java inside the
 * sandbox (network/tls.ts, `trust.p12`). Built with asn1js, the DER layer of
 * PeculiarVentures' PKI.js family (as authority.ts builds certificates).
 *
 * What Java needs of it (the JDK's PKCS12KeyStore): each certificate in a
 * certBag with Oracle's "trusted key usage" attribute (without it a
 * certificate with no key is not a trusted entry) and a friendlyName (its
 * alias); no key, no encryption and no MAC, so it loads with no password
 * (JDK 12 and later, and 11.0.12 and later).
 */
import { BmpString, Constructed, Integer, ObjectIdentifier, OctetString, Sequence, Set as AsnSet, type AsnType } from 'asn1js';

const ID_DATA = '1.2.840.113549.1.7.1';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';
const X509_CERTIFICATE = '1.2.840.113549.1.9.22.1';
const FRIENDLY_NAME = '1.2.840.113549.1.9.20';
/** Oracle's trustedKeyUsage (the JDK marks a trusted certificate with it), valued anyExtendedKeyUsage. */
const TRUSTED_KEY_USAGE = '2.16.840.1.113894.746875.1.1';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** `[0] EXPLICIT` around one value. */
function explicit0(value: AsnType): Constructed {
  return new Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [value] });
}

function der(value: AsnType): ArrayBuffer {
  return value.toBER(false);
}

/** ContentInfo of type data: the DER of `inner` in an OCTET STRING. */
function dataContent(inner: AsnType): Sequence {
  return new Sequence({ value: [new ObjectIdentifier({ value: ID_DATA }), explicit0(new OctetString({ valueHex: der(inner) }))] });
}

/**
 * The certBags of `certificates` (DER), each trusted for every use and
 * aliased `alias(i)`, as one run of DER: a part of a trust store's
 * SafeContents (pkcs12TrustStore). ~0.1-0.3 ms a certificate: network/tls.ts
 * keeps the system roots' run between sessions.
 */
export function certificateBags(certificates: readonly Buffer[], alias: (i: number) => string): Buffer {
  return Buffer.concat(certificates.map((cert, i) => Buffer.from(der(new Sequence({
    value: [
      new ObjectIdentifier({ value: CERT_BAG }),
      explicit0(new Sequence({ value: [new ObjectIdentifier({ value: X509_CERTIFICATE }), explicit0(new OctetString({ valueHex: new Uint8Array(cert).buffer }))] })),
      new AsnSet({
        value: [
          new Sequence({ value: [new ObjectIdentifier({ value: FRIENDLY_NAME }), new AsnSet({ value: [new BmpString({ value: alias(i) })] })] }),
          new Sequence({ value: [new ObjectIdentifier({ value: TRUSTED_KEY_USAGE }), new AsnSet({ value: [new ObjectIdentifier({ value: ANY_EXTENDED_KEY_USAGE })] })] }),
        ],
      }),
    ],
  })))));
}

/**
 * DER made already, as an element of an asn1js SEQUENCE: asn1js writes each
 * element with toBER(sizeOnly, writer), which its RawData ignores the writer of.
 */
function preEncoded(bytes: Buffer): AsnType {
  const element = {
    toBER(_sizeOnly?: boolean, writer?: { write(b: ArrayBuffer): void }): ArrayBuffer {
      const copy = new Uint8Array(bytes).buffer;
      if (!writer) return copy;
      writer.write(copy);
      return new ArrayBuffer(0);
    },
  };
  return element as unknown as AsnType;
}

/** The trust store of the certBags in `bags` (runs of certificateBags, in order; their aliases unique). */
export function pkcs12TrustStore(bags: readonly Buffer[]): Buffer {
  const safeContents = new Sequence({ value: bags.map(preEncoded) });
  const authenticatedSafe = new Sequence({ value: [dataContent(safeContents)] });
  const pfx = new Sequence({ value: [new Integer({ value: 3 }), dataContent(authenticatedSafe)] });
  return Buffer.from(der(pfx));
}
