// Test helper: encrypt the Assertion of the SAML Response read from stdin with samlify's own
// `SamlLib.encryptAssertion` (which uses @authenio/xml-encryption), the way a samlify IdP does,
// to the certificate file given; prints the Response with its EncryptedAssertion.
//
//   node tests/all/support/samlify-encrypt.mjs CERT.pem DATA_ALGORITHM_URI < response.xml
import { readFileSync } from 'node:fs';
import samlify from 'samlify'; // CommonJS: its named exports are properties of the default one

const [certFile, dataAlgorithm] = process.argv.slice(2);
if (!certFile || !dataAlgorithm) {
  console.error('usage: samlify-encrypt.mjs CERT.pem DATA_ALGORITHM_URI < response.xml');
  process.exit(2);
}
const certB64 = readFileSync(certFile, 'utf8')
  .replace(/-----[^-]+-----/g, '')
  .replace(/\s+/g, '');
const xml = readFileSync(0, 'utf8');
// The two entity fields encryptAssertion reads, as samlify's IdP and SP objects carry them.
const idp = {
  entitySetting: {
    isAssertionEncrypted: true,
    dataEncryptionAlgorithm: dataAlgorithm,
    keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
    tagPrefix: { encryptedAssertion: 'saml' },
  },
};
const sp = { entityMeta: { getX509Certificate: () => certB64 } };
const b64 = await samlify.SamlLib.encryptAssertion(idp, sp, xml);
process.stdout.write(Buffer.from(b64, 'base64').toString('utf8'));
