//! PKCS#12 files (`.p12`, `.pfx`): as OpenSSL 3 writes them by default (PBES2 with
//! AES-256-CBC and PBKDF2, HMAC-SHA-256 MAC), and as Windows and `openssl pkcs12 -legacy`
//! write them (PKCS#12 PBE with 3DES or RC2, SHA-1 MAC): the private key and the chain.

use cms::content_info::ContentInfo;
use der::asn1::{AnyRef, OctetString};
use der::{Decode as _, Encode as _};
use pkcs12::pfx::Pfx;
use pkcs12::safe_bag::SafeBag;
use x509_cert::Certificate;

use crate::error::SmimeError;
use crate::oids;

/// Bags read from one file at most.
const MAX_BAGS: usize = 64;

/// What a PKCS#12 file held: the private key (PKCS#8 DER) and the chain (DER, the key's
/// certificate first, then each issuer found in the file).
pub struct Identity {
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
    /// The certificates, the signer's first.
    pub chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("certificates", &self.chain.len()).finish_non_exhaustive()
    }
}

impl Identity {
    /// The key as a PEM `PRIVATE KEY` block.
    pub fn key_pem(&self) -> Result<String, SmimeError> {
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &self.key_pkcs8)
            .map_err(|e| SmimeError::malformed("the private key", e))
    }

    /// The chain as PEM `CERTIFICATE` blocks.
    pub fn chain_pem(&self) -> Result<String, SmimeError> {
        let mut out = String::new();
        for c in &self.chain {
            out.push_str(
                &der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, c)
                    .map_err(|e| SmimeError::malformed("a certificate", e))?,
            );
        }
        Ok(out)
    }

    /// A signer with this key and chain (checks that they belong together).
    pub fn signer(&self) -> Result<crate::Signer, SmimeError> {
        crate::sign::signer_from_der(&self.chain, &self.key_pkcs8)
    }
}

/// Reads a PKCS#12 file with `password` (UTF-8; empty for none).
pub fn read_pkcs12(file: &[u8], password: &str) -> Result<Identity, SmimeError> {
    let pfx = Pfx::from_der(file).map_err(|e| SmimeError::malformed("the PKCS#12 file", e))?;
    if pfx.auth_safe.content_type != oids::DATA {
        return Err(SmimeError::UnsupportedPkcs12("public-key integrity mode".into()));
    }
    let safe = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .map_err(|e| SmimeError::malformed("the PKCS#12 file's contents", e))?;
    if let Some(mac) = &pfx.mac_data {
        check_mac(mac, safe.as_bytes(), password)?;
    }
    let infos = Vec::<ContentInfo>::from_der(safe.as_bytes())
        .map_err(|e| SmimeError::malformed("the PKCS#12 authenticated safe", e))?;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut certs: Vec<Vec<u8>> = Vec::new();
    let mut bags = 0;
    for info in infos {
        let contents = if info.content_type == oids::DATA {
            info.content.decode_as::<OctetString>().map_err(|e| SmimeError::malformed("a safe", e))?.as_bytes().to_vec()
        } else if info.content_type == oids::ENCRYPTED_DATA {
            decrypt_safe(&info, password)?
        } else {
            return Err(SmimeError::UnsupportedPkcs12(format!("a safe of type {}", info.content_type)));
        };
        for bag in Vec::<SafeBag>::from_der(&contents).map_err(|e| SmimeError::malformed("the safe bags", e))? {
            bags += 1;
            if bags > MAX_BAGS {
                return Err(SmimeError::malformed("the PKCS#12 file", "too many bags"));
            }
            let value = AnyRef::from_der(&bag.bag_value).map_err(|e| SmimeError::malformed("a bag", e))?;
            let inner = value.value();
            if bag.bag_id == oids::CERT_BAG {
                let cert = pkcs12::cert_type::CertBag::from_der(inner)
                    .map_err(|e| SmimeError::malformed("a certificate bag", e))?;
                if cert.cert_id == oids::X509_CERT {
                    certs.push(cert.cert_value.as_bytes().to_vec());
                }
            } else if bag.bag_id == oids::PKCS8_SHROUDED_KEY_BAG {
                let encrypted =
                    Shrouded::from_der(inner).map_err(|e| SmimeError::malformed("the encrypted private key", e))?;
                keys.push(decrypt(&encrypted.algorithm, password, encrypted.data.as_bytes())?);
            } else if bag.bag_id == oids::KEY_BAG {
                keys.push(inner.to_vec());
            }
        }
    }
    let key = keys.into_iter().next().ok_or(SmimeError::Incomplete("no private key"))?;
    let chain = order_chain(&key, certs)?;
    Ok(Identity { key_pkcs8: key, chain })
}

/// A pkcs8ShroudedKeyBag's value (EncryptedPrivateKeyInfo), whatever its scheme.
#[derive(der::Sequence)]
struct Shrouded {
    algorithm: spki::AlgorithmIdentifierOwned,
    data: OctetString,
}

/// Iteration counts outside this range are refused (a hostile file could ask for years).
const ITERATIONS: std::ops::RangeInclusive<i32> = 1..=10_000_000;

fn check_mac(mac: &pkcs12::mac_data::MacData, data: &[u8], password: &str) -> Result<(), SmimeError> {
    let alg = mac.mac.algorithm.oid;
    if !ITERATIONS.contains(&mac.iterations) {
        return Err(SmimeError::malformed("the PKCS#12 MAC", "iteration count out of range"));
    }
    let (salt, kind, n) = (mac.mac_salt.as_bytes(), pkcs12::kdf::Pkcs12KeyType::Mac, mac.iterations);
    let bad_password = |e| SmimeError::malformed("the password", e);
    let (key, hmac) = if alg == oids::SHA256 {
        let key = pkcs12::kdf::derive_key_utf8::<sha2::Sha256>(password, salt, kind, n, 32).map_err(bad_password)?;
        (key, ring::hmac::HMAC_SHA256)
    } else if alg == oids::SHA1 {
        let key = pkcs12::kdf::derive_key_utf8::<sha1::Sha1>(password, salt, kind, n, 20).map_err(bad_password)?;
        (key, ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY)
    } else {
        return Err(SmimeError::UnsupportedPkcs12(format!("a MAC with digest {alg}")));
    };
    let key = ring::hmac::Key::new(hmac, &key);
    ring::hmac::verify(&key, data, mac.mac.digest.as_bytes()).map_err(|_| SmimeError::WrongPassword)
}

fn decrypt_safe(info: &ContentInfo, password: &str) -> Result<Vec<u8>, SmimeError> {
    let data: cms::encrypted_data::EncryptedData =
        info.content.decode_as().map_err(|e| SmimeError::malformed("an encrypted safe", e))?;
    let eci = data.enc_content_info;
    let ciphertext = eci.encrypted_content.ok_or(SmimeError::Incomplete("an empty encrypted safe"))?;
    decrypt(&eci.content_enc_alg, password, ciphertext.as_bytes())
}

/// Decrypts `ciphertext` encrypted under `alg`: PBES2 (PKCS#5) or PKCS#12's own PBE.
fn decrypt(alg: &spki::AlgorithmIdentifierOwned, password: &str, ciphertext: &[u8]) -> Result<Vec<u8>, SmimeError> {
    if alg.oid == oids::PBES2 {
        let alg_der = alg.to_der().map_err(|e| SmimeError::malformed("an encryption scheme", e))?;
        let alg_ref = spki::AlgorithmIdentifierRef::from_der(&alg_der)
            .map_err(|e| SmimeError::malformed("an encryption scheme", e))?;
        let scheme = pkcs5::EncryptionScheme::try_from(alg_ref)
            .map_err(|_| SmimeError::UnsupportedPkcs12(format!("PBES2 parameters of {}", alg.oid)))?;
        return scheme.decrypt(password.as_bytes(), ciphertext).map_err(|_| SmimeError::WrongPassword);
    }
    let params: pkcs12::pbe_params::Pkcs12PbeParams = alg
        .parameters
        .as_ref()
        .ok_or_else(|| SmimeError::malformed("PBE parameters", "absent"))?
        .decode_as()
        .map_err(|e| SmimeError::malformed("PBE parameters", e))?;
    if !ITERATIONS.contains(&params.iterations) {
        return Err(SmimeError::malformed("PBE parameters", "iteration count out of range"));
    }
    let derive = |kind, len| {
        pkcs12::kdf::derive_key_utf8::<sha1::Sha1>(password, params.salt.as_bytes(), kind, params.iterations, len)
            .map_err(|e| SmimeError::malformed("the password", e))
    };
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockDecryptMut as _, InnerIvInit as _, KeyIvInit as _};
    use pkcs12::kdf::Pkcs12KeyType::{EncryptionKey, Iv};
    let iv = derive(Iv, 8)?;
    let wrong = |_| SmimeError::WrongPassword;
    if alg.oid == oids::PBE_SHA1_3DES {
        let key = derive(EncryptionKey, 24)?;
        let d = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|e| SmimeError::malformed("a 3DES key", e))?;
        return d.decrypt_padded_vec_mut::<Pkcs7>(ciphertext).map_err(wrong);
    }
    let bits = match alg.oid {
        o if o == oids::PBE_SHA1_RC2_40 => 40,
        o if o == oids::PBE_SHA1_RC2_128 => 128,
        o => return Err(SmimeError::UnsupportedPkcs12(format!("encryption {o}"))),
    };
    let key = derive(EncryptionKey, bits / 8)?;
    let cipher = rc2::Rc2::new_with_eff_key_len(&key, bits);
    let d = cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, &iv)
        .map_err(|e| SmimeError::malformed("an RC2 IV", e))?;
    d.decrypt_padded_vec_mut::<Pkcs7>(ciphertext).map_err(wrong)
}

/// The certificate of `key` first, then its issuers among `certs`.
fn order_chain(key: &[u8], certs: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, SmimeError> {
    let parsed: Vec<(Vec<u8>, Certificate)> =
        certs.into_iter().map(|d| crate::certs::parse(&d).map(|c| (d, c))).collect::<Result<_, _>>()?;
    let public = crate::sign::public_key_of(key)?;
    let Some(first) = parsed
        .iter()
        .position(|(_, c)| c.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes() == public)
    else {
        return Err(SmimeError::Incomplete("no certificate for its private key"));
    };
    let mut chain = vec![parsed[first].clone()];
    let mut rest: Vec<(Vec<u8>, Certificate)> =
        parsed.into_iter().enumerate().filter(|(i, _)| *i != first).map(|(_, c)| c).collect();
    while let Some(last) = chain.last() {
        let issuer = last.1.tbs_certificate.issuer.clone();
        if issuer == last.1.tbs_certificate.subject {
            break;
        }
        let Some(next) = rest.iter().position(|(_, c)| c.tbs_certificate.subject == issuer) else { break };
        chain.push(rest.remove(next));
    }
    Ok(chain.into_iter().map(|(d, _)| d).collect())
}
