//! PAdES baseline B-B signatures of PDF documents (ETSI EN 319 142-1; SubFilter
//! `ETSI.CAdES.detached`) with an identity read from a PKCS#12 file.
//!
//! How a signature is made (the recipe in docs/signing.md):
//! 1. the PDF gets an incremental update (its original bytes are kept as they are) with a `/Sig`
//!    dictionary whose `/ByteRange` and `/Contents` are placeholders, an invisible signature field
//!    that is also its widget on the first page, and the catalogue's `/AcroForm`;
//! 2. the `/ByteRange` is patched in place to cover the whole file but the `/Contents` hole;
//! 3. SHA-256 of the covered bytes goes into a CMS `SignedData` (detached, signed attributes
//!    content-type, message-digest and signing-certificate-v2; no signing-time: PAdES takes the
//!    claimed time from `/M`), whose signature the private key makes with `ring`;
//! 4. the DER of the CMS is written, in hexadecimal, into the hole.
//!
//! No I/O: the caller reads the PKCS#12 and stores the result.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedAttributes, SignedData, SignerIdentifier,
    SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use lopdf::{Dictionary, Document, IncrementalDocument, Object, ObjectId, StringFormat};
use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    RSA_PKCS1_SHA256, RsaKeyPair,
};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

/// Bytes reserved for the CMS in the PDF (its hexadecimal takes twice as many). An RSA-2048
/// signature with a chain of two certificates takes about 2.4 KB; a later B-T level (a
/// time-stamp token) would add 4–6 KB.
pub const RESERVED: usize = 16 * 1024;

/// Why a document could not be signed, or an identity not read. The messages are for logs
/// and operators; the portal shows its own words to officials.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the PKCS#12 file cannot be read (wrong password or damaged file): {0}")]
    Pkcs12(String),
    #[error("the PKCS#12 file holds no private key with its certificate")]
    NoKey,
    #[error("unsupported private key ({0}): use RSA, or ECDSA on P-256 or P-384")]
    UnsupportedKey(String),
    #[error("the private key does not match the first certificate of the PKCS#12 file")]
    KeyMismatch,
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("the PDF cannot be read: {0}")]
    Pdf(String),
    #[error("the PDF is encrypted; an encrypted PDF cannot be signed")]
    Encrypted,
    #[error("CMS encoding: {0}")]
    Der(#[from] der::Error),
    #[error("the private-key operation failed")]
    KeyOperation,
    #[error("the signature ({0} bytes) does not fit in the space reserved in the PDF")]
    TooLarge(usize),
}

enum Key {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair, ObjectIdentifier),
}

/// A private key with its certificate chain (leaf first).
pub struct Identity {
    key: Key,
    chain: Vec<Certificate>,
    leaf_der: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.subject())
            .field("key", &"<private>")
            .finish()
    }
}

const RSA: &str = "1.2.840.113549.1.1.1";
const EC: &str = "1.2.840.10045.2.1";

impl Identity {
    /// Reads the first private key and its chain from a PKCS#12 file (openssl's default
    /// PBES2/AES, `-legacy` RC2/3DES, and p12-keystore's own output).
    pub fn from_pkcs12(data: &[u8], password: &str) -> Result<Identity, SignError> {
        let ks = KeyStore::from_pkcs12(data, password, Pkcs12ImportPolicy::Relaxed)
            .map_err(|e| SignError::Pkcs12(e.to_string()))?;
        let (_alias, chain) = ks.private_key_chain().ok_or(SignError::NoKey)?;
        let certs = chain
            .certs()
            .iter()
            .map(|c| {
                Certificate::from_der(c.as_der()).map_err(|e| SignError::Certificate(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let Some(leaf) = certs.first() else {
            return Err(SignError::NoKey);
        };
        let leaf_der = leaf.to_der()?;
        let key_der = chain.key().as_der();
        let rng = SystemRandom::new();
        let key = match chain.key().oid().to_string().as_str() {
            RSA => Key::Rsa(
                RsaKeyPair::from_pkcs8(key_der)
                    .map_err(|e| SignError::UnsupportedKey(e.to_string()))?,
            ),
            EC => {
                if let Ok(k) =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, key_der, &rng)
                {
                    Key::Ecdsa(k, rfc5912::ECDSA_WITH_SHA_256)
                } else {
                    let k =
                        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, key_der, &rng)
                            .map_err(|e| SignError::UnsupportedKey(e.to_string()))?;
                    Key::Ecdsa(k, rfc5912::ECDSA_WITH_SHA_384)
                }
            }
            other => return Err(SignError::UnsupportedKey(other.to_string())),
        };
        let public = match &key {
            Key::Rsa(k) => k.public_key().as_ref(),
            Key::Ecdsa(k, _) => k.public_key().as_ref(),
        };
        if leaf
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            != public
        {
            return Err(SignError::KeyMismatch);
        }
        Ok(Identity {
            key,
            chain: certs,
            leaf_der,
        })
    }

    /// The signer's certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// The signer's distinguished name, as text.
    pub fn subject(&self) -> String {
        self.chain
            .first()
            .map(|c| c.tbs_certificate().subject().to_string())
            .unwrap_or_default()
    }

    /// Whether the signer's certificate is self-signed (issuer = subject).
    pub fn self_signed(&self) -> bool {
        self.chain
            .first()
            .is_some_and(|c| c.tbs_certificate().subject() == c.tbs_certificate().issuer())
    }

    /// SHA-256 fingerprint of the signer's certificate, in hexadecimal.
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(Sha256::digest(&self.leaf_der))
    }

    /// The signature of `message` and its algorithm identifier.
    fn sign(&self, message: &[u8]) -> Result<(Vec<u8>, AlgorithmIdentifierOwned), SignError> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .map_err(|_| SignError::KeyOperation)?;
                Ok((
                    sig,
                    AlgorithmIdentifierOwned {
                        oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                        parameters: Some(Any::null()),
                    },
                ))
            }
            Key::Ecdsa(k, oid) => {
                let sig = k.sign(&rng, message).map_err(|_| SignError::KeyOperation)?;
                Ok((
                    sig.as_ref().to_vec(),
                    AlgorithmIdentifierOwned {
                        oid: *oid,
                        parameters: None,
                    },
                ))
            }
        }
    }
}

/// A self-signed demonstration identity (ECDSA P-256), written as a PKCS#12 file protected by
/// `password`. Valid from `from` (year, month, day) for `years` years. For trying the portal
/// only: no citizen's software trusts it.
pub fn generate_demo_pkcs12(
    common_name: &str,
    organisation: &str,
    from: (i32, u8, u8),
    years: i32,
    password: &str,
) -> Result<Vec<u8>, SignError> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate().map_err(|e| SignError::Certificate(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "VN");
    dn.push(DnType::OrganizationName, organisation);
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let (y, m, d) = from;
    let (m, d) = (m.clamp(1, 12), d.clamp(1, 28));
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y.saturating_add(years), m, d);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(|e| SignError::Certificate(e.to_string()))?;
    let cert_der: &[u8] = cert.der().as_ref();
    let p12_cert = p12_keystore::Certificate::from_der(cert_der)
        .map_err(|e| SignError::Certificate(e.to_string()))?;
    let p12_key = p12_keystore::PrivateKey::from_der(&key.serialize_der())
        .map_err(|e| SignError::Pkcs12(e.to_string()))?;
    let local_id = Sha256::digest(cert_der)[..20].to_vec();
    let mut ks = KeyStore::new();
    ks.add_entry(
        "signing",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
            local_id,
            p12_key,
            [p12_cert],
        )),
    );
    ks.writer(password)
        .write()
        .map_err(|e| SignError::Pkcs12(e.to_string()))
}

/// What the signature dictionary says besides the signature.
#[derive(Debug, Clone, Default)]
pub struct SignOptions<'a> {
    /// `/M`, a PDF date such as `D:20261204143000+07'00'` (the claimed signing time).
    pub signing_time: &'a str,
    pub reason: &'a str,
    pub location: &'a str,
    /// `/Name`: who signs (the agency).
    pub name: &'a str,
}

/// Text as a PDF text string: PDFDocEncoding for ASCII, else UTF-16BE with a BOM.
fn text(s: &str) -> Object {
    if s.is_ascii() {
        return Object::String(s.as_bytes().to_vec(), StringFormat::Literal);
    }
    let mut b = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        b.extend_from_slice(&u.to_be_bytes());
    }
    Object::String(b, StringFormat::Hexadecimal)
}

fn pdf_err(e: lopdf::Error) -> SignError {
    SignError::Pdf(e.to_string())
}

/// Signs `pdf` as PAdES B-B with `id`: returns the PDF with one more revision.
pub fn sign_pdf(pdf: &[u8], id: &Identity, opts: &SignOptions<'_>) -> Result<Vec<u8>, SignError> {
    let (mut out, hole, byte_range) = prepare(pdf, opts)?;
    let (hole_start, hole_end) = hole;
    // The ByteRange: everything but the hole, written in place at the placeholder's width.
    let ranges = [0, hole_start, hole_end, out.len() - hole_end];
    let mut br = format!("{} {} {} {}", ranges[0], ranges[1], ranges[2], ranges[3]).into_bytes();
    let (open, close) = byte_range;
    let width = close - open - 1;
    if br.len() > width {
        return Err(SignError::Pdf("ByteRange placeholder too small".into()));
    }
    br.resize(width, b' ');
    out[open + 1..close].copy_from_slice(&br);
    let mut h = Sha256::new();
    h.update(&out[..hole_start]);
    h.update(&out[hole_end..]);
    let digest = h.finalize();
    let cms = cms_signed_data(&digest, id)?;
    let hexed = hex::encode_upper(&cms);
    if hexed.len() > hole_end - hole_start - 2 {
        return Err(SignError::TooLarge(cms.len()));
    }
    out[hole_start + 1..hole_start + 1 + hexed.len()].copy_from_slice(hexed.as_bytes());
    Ok(out)
}

/// The PDF with its signature revision appended, the hole `[start, end)` (from `<` to `>`
/// inclusive) and the positions of the ByteRange's `[` and `]`.
#[allow(clippy::type_complexity)]
fn prepare(
    pdf: &[u8],
    opts: &SignOptions<'_>,
) -> Result<(Vec<u8>, (usize, usize), (usize, usize)), SignError> {
    let doc = Document::load_mem(pdf).map_err(pdf_err)?;
    if doc.is_encrypted() || doc.encryption_state.is_some() || doc.trailer.has(b"Encrypt") {
        return Err(SignError::Encrypted);
    }
    let page_id = *doc
        .get_pages()
        .values()
        .next()
        .ok_or_else(|| SignError::Pdf("the PDF has no page".into()))?;
    let root_id = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(pdf_err)?;
    let taken = field_names(&doc, root_id);
    let field_name = (1..)
        .map(|i| format!("Signature{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| "Signature".into());
    let mut inc = IncrementalDocument::create_from(pdf.to_vec(), doc);

    let mut sig = Dictionary::new();
    sig.set("Type", Object::Name(b"Sig".to_vec()));
    sig.set("Filter", Object::Name(b"Adobe.PPKLite".to_vec()));
    sig.set("SubFilter", Object::Name(b"ETSI.CAdES.detached".to_vec()));
    sig.set(
        "ByteRange",
        Object::Array(vec![
            Object::Integer(0),
            Object::Integer(9_999_999_999),
            Object::Integer(9_999_999_999),
            Object::Integer(9_999_999_999),
        ]),
    );
    sig.set(
        "Contents",
        Object::String(vec![0; RESERVED], StringFormat::Hexadecimal),
    );
    if !opts.signing_time.is_empty() {
        sig.set(
            "M",
            Object::String(opts.signing_time.as_bytes().to_vec(), StringFormat::Literal),
        );
    }
    for (k, v) in [
        ("Reason", opts.reason),
        ("Location", opts.location),
        ("Name", opts.name),
    ] {
        if !v.is_empty() {
            sig.set(k, text(v));
        }
    }
    let sig_id = inc.new_document.add_object(Object::Dictionary(sig));

    let mut field = Dictionary::new();
    field.set("Type", Object::Name(b"Annot".to_vec()));
    field.set("Subtype", Object::Name(b"Widget".to_vec()));
    field.set("FT", Object::Name(b"Sig".to_vec()));
    field.set("T", Object::string_literal(field_name.into_bytes()));
    field.set("V", Object::Reference(sig_id));
    // Print + Locked: an invisible signature that cannot be moved.
    field.set("F", Object::Integer(132));
    field.set(
        "Rect",
        Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()]),
    );
    field.set("P", Object::Reference(page_id));
    let field_id = inc.new_document.add_object(Object::Dictionary(field));

    // The page's /Annots, inline or indirect.
    inc.opt_clone_object_to_new_document(page_id)
        .map_err(pdf_err)?;
    let annots = inc
        .new_document
        .get_object(page_id)
        .and_then(Object::as_dict)
        .map_err(pdf_err)?
        .get(b"Annots")
        .ok()
        .cloned();
    match annots {
        Some(Object::Reference(aid)) => {
            inc.opt_clone_object_to_new_document(aid).map_err(pdf_err)?;
            inc.new_document
                .get_object_mut(aid)
                .and_then(Object::as_array_mut)
                .map_err(pdf_err)?
                .push(Object::Reference(field_id));
        }
        Some(Object::Array(mut a)) => {
            a.push(Object::Reference(field_id));
            page_dict(&mut inc, page_id)?.set("Annots", Object::Array(a));
        }
        _ => {
            page_dict(&mut inc, page_id)?
                .set("Annots", Object::Array(vec![Object::Reference(field_id)]));
        }
    }

    // The catalogue's /AcroForm (inline or indirect) and its /Fields (inline or indirect).
    inc.opt_clone_object_to_new_document(root_id)
        .map_err(pdf_err)?;
    let acroform = page_dict(&mut inc, root_id)?.get(b"AcroForm").ok().cloned();
    let (form_id, mut form) = match acroform {
        Some(Object::Reference(fid)) => {
            inc.opt_clone_object_to_new_document(fid).map_err(pdf_err)?;
            let d = inc
                .new_document
                .get_object(fid)
                .and_then(Object::as_dict)
                .map_err(pdf_err)?
                .clone();
            (Some(fid), d)
        }
        Some(Object::Dictionary(d)) => (None, d),
        _ => (None, Dictionary::new()),
    };
    match form.get(b"Fields").ok().cloned() {
        Some(Object::Reference(fields_id)) => {
            inc.opt_clone_object_to_new_document(fields_id)
                .map_err(pdf_err)?;
            inc.new_document
                .get_object_mut(fields_id)
                .and_then(Object::as_array_mut)
                .map_err(pdf_err)?
                .push(Object::Reference(field_id));
        }
        Some(Object::Array(mut a)) => {
            a.push(Object::Reference(field_id));
            form.set("Fields", Object::Array(a));
        }
        _ => form.set("Fields", Object::Array(vec![Object::Reference(field_id)])),
    }
    form.set("SigFlags", Object::Integer(3));
    match form_id {
        Some(fid) => {
            *inc.new_document
                .get_object_mut(fid)
                .and_then(Object::as_dict_mut)
                .map_err(pdf_err)? = form;
        }
        None => page_dict(&mut inc, root_id)?.set("AcroForm", Object::Dictionary(form)),
    }

    let mut out = Vec::with_capacity(pdf.len() + 2 * RESERVED + 4096);
    inc.save_to(&mut out)
        .map_err(|e| SignError::Pdf(e.to_string()))?;

    // Find the placeholders in the appended revision only.
    let tail = pdf.len();
    let mut zeros = Vec::with_capacity(2 * RESERVED + 2);
    zeros.push(b'<');
    zeros.resize(2 * RESERVED + 1, b'0');
    zeros.push(b'>');
    let hole_start = find(&out[tail..], &zeros)
        .map(|i| i + tail)
        .ok_or_else(|| SignError::Pdf("Contents placeholder not found".into()))?;
    let hole_end = hole_start + zeros.len();
    let key = find(&out[tail..], b"/ByteRange")
        .map(|i| i + tail)
        .ok_or_else(|| SignError::Pdf("ByteRange placeholder not found".into()))?;
    let open = out[key..]
        .iter()
        .position(|&b| b == b'[')
        .map(|i| i + key)
        .ok_or_else(|| SignError::Pdf("ByteRange placeholder not found".into()))?;
    let close = out[open..]
        .iter()
        .position(|&b| b == b']')
        .map(|i| i + open)
        .ok_or_else(|| SignError::Pdf("ByteRange placeholder not found".into()))?;
    Ok((out, (hole_start, hole_end), (open, close)))
}

fn page_dict(inc: &mut IncrementalDocument, id: ObjectId) -> Result<&mut Dictionary, SignError> {
    inc.new_document
        .get_object_mut(id)
        .and_then(Object::as_dict_mut)
        .map_err(pdf_err)
}

/// The names (`/T`) of the form's top-level fields.
fn field_names(doc: &Document, root: ObjectId) -> Vec<String> {
    let fields = doc
        .get_object(root)
        .and_then(Object::as_dict)
        .and_then(|c| c.get(b"AcroForm"))
        .and_then(|f| doc.dereference(f))
        .and_then(|(_, f)| f.as_dict())
        .and_then(|f| f.get(b"Fields"))
        .and_then(|a| doc.dereference(a))
        .and_then(|(_, a)| a.as_array());
    let Ok(fields) = fields else {
        return vec![];
    };
    fields
        .iter()
        .filter_map(|f| doc.dereference(f).ok())
        .filter_map(|(_, f)| f.as_dict().ok())
        .filter_map(|f| f.get(b"T").ok())
        .filter_map(|t| t.as_str().ok())
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// signing-certificate-v2 (RFC 5035): no RustCrypto crate ships the ESS types.
#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct EssCertIdV2 {
    // hashAlgorithm DEFAULT sha256 is left out (DER).
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

#[derive(Clone, Debug, Eq, PartialEq, der::Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<x509_cert::attr::Attribute, SignError> {
    Ok(x509_cert::attr::Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// The detached CMS SignedData over `digest` (SHA-256 of the signed byte ranges).
fn cms_signed_data(digest: &[u8], id: &Identity) -> Result<Vec<u8>, SignError> {
    let leaf = id.chain.first().ok_or(SignError::NoKey)?;
    let tbs = leaf.tbs_certificate();
    let sha256 = AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    };
    let ess = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            cert_hash: OctetString::new(Sha256::digest(&id.leaf_der).to_vec())?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                serial_number: tbs.serial_number().clone(),
            }),
        }],
    };
    let signed_attrs: SignedAttributes = SetOfVec::try_from(vec![
        attribute(
            rfc5911::ID_CONTENT_TYPE,
            Any::encode_from(&rfc5911::ID_DATA)?,
        )?,
        attribute(
            rfc5911::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest.to_vec())?)?,
        )?,
        attribute(
            rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2,
            Any::encode_from(&ess)?,
        )?,
    ])?;
    // The signature covers the DER of the SET OF (not the [0] IMPLICIT tag of the field).
    let (signature, sig_alg) = id.sign(&signed_attrs.to_der()?)?;
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: sig_alg,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let certs: Vec<CertificateChoices> = id
        .chain
        .iter()
        .cloned()
        .map(CertificateChoices::Certificate)
        .collect();
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet::try_from(certs)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![si])?,
    };
    Ok(ContentInfo {
        content_type: rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&sd)?,
    }
    .to_der()?)
}

/// The signatures of a PDF as found by a simple scan: for each `/ByteRange`, whether the
/// range covers the file but the `/Contents` hole and the CMS digest matches. Not a
/// validator (pyHanko or poppler's pdfsig are), but enough to tell a signed result at a
/// glance and in unit tests.
pub fn byte_ranges(pdf: &[u8]) -> Vec<[usize; 4]> {
    let mut found = vec![];
    let mut from = 0;
    while let Some(i) = find(&pdf[from..], b"/ByteRange") {
        let at = from + i;
        from = at + 1;
        let Some(open) = pdf[at..].iter().position(|&b| b == b'[') else {
            break;
        };
        let Some(close) = pdf[at + open..].iter().position(|&b| b == b']') else {
            break;
        };
        let inner = &pdf[at + open + 1..at + open + close];
        let nums: Vec<usize> = String::from_utf8_lossy(inner)
            .split_ascii_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if let [a, b, c, d] = nums[..] {
            found.push([a, b, c, d]);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal one-page PDF written by hand (classic xref table).
    fn tiny_pdf() -> Vec<u8> {
        let objs = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        ];
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = vec![];
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(b"xref\n0 4\n0000000000 65535 f \n");
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size 4 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        out
    }

    #[test]
    fn signs_a_pdf_and_keeps_the_original_bytes() {
        let p12 = generate_demo_pkcs12("Thử nghiệm", "Cổng DVC", (2026, 1, 1), 5, "mật khẩu")
            .expect("demo");
        let id = Identity::from_pkcs12(&p12, "mật khẩu").expect("identity");
        assert!(id.self_signed());
        assert!(id.subject().contains("Thử nghiệm"), "{}", id.subject());
        let pdf = tiny_pdf();
        let signed = sign_pdf(
            &pdf,
            &id,
            &SignOptions {
                signing_time: "D:20261204143000+07'00'",
                reason: "Kết quả giải quyết thủ tục hành chính",
                location: "Việt Nam",
                name: "UBND",
            },
        )
        .expect("sign");
        assert_eq!(&signed[..pdf.len()], &pdf[..]);
        let ranges = byte_ranges(&signed);
        assert_eq!(ranges.len(), 1);
        let [a, b, c, d] = ranges[0];
        assert_eq!(a, 0);
        assert_eq!(c + d, signed.len());
        assert_eq!(signed[b], b'<');
        assert_eq!(signed[c - 1], b'>');
        // lopdf reads it back, with one signature field.
        let doc = Document::load_mem(&signed).expect("reload");
        let root = doc
            .trailer
            .get(b"Root")
            .and_then(Object::as_reference)
            .expect("root");
        assert_eq!(field_names(&doc, root), vec!["Signature1".to_string()]);
        // A second signature gets its own field name.
        let twice = sign_pdf(&signed, &id, &SignOptions::default()).expect("second");
        let doc = Document::load_mem(&twice).expect("reload");
        assert_eq!(
            field_names(&doc, root),
            vec!["Signature1".to_string(), "Signature2".to_string()]
        );
    }

    #[test]
    fn wrong_password_and_garbage_are_errors_not_panics() {
        let p12 = generate_demo_pkcs12("A", "B", (2026, 2, 30), 1, "pw").expect("demo");
        assert!(matches!(
            Identity::from_pkcs12(&p12, "wrong"),
            Err(SignError::Pkcs12(_))
        ));
        assert!(Identity::from_pkcs12(b"not a p12", "pw").is_err());
        let id = Identity::from_pkcs12(&p12, "pw").expect("identity");
        assert!(matches!(
            sign_pdf(b"%PDF-1.7 garbage", &id, &SignOptions::default()),
            Err(SignError::Pdf(_))
        ));
    }
}
