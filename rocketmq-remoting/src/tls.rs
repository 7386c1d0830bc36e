//! TLS for remoting connections (feature `tls`), over [rustls] with the *ring* crypto provider.
//!
//! The TLS layer is runtime-agnostic: it wraps any [`AsyncStream`] through `futures-rustls`, so
//! it works the same on tokio, async-std and smol.
//!
//! - **Clients**: put a [`TlsClientConfig`] into
//!   [`TransportConfig::tls`](crate::transport::TransportConfig::tls); every connection the
//!   [`RemotingClient`](crate::transport::RemotingClient) dials is then TLS. The server
//!   certificate is verified by default against the CAs you add; client certificates are
//!   optional. The handshake counts against `connect_timeout`, so a plain server answering a TLS
//!   client fails the dial with [`RemotingError::Connect`](crate::RemotingError::Connect) instead
//!   of hanging.
//! - **Servers**: put a [`TlsServerConfig`] into
//!   [`TransportConfig::tls_server`](crate::transport::TransportConfig::tls_server). In
//!   [`TlsMode::Permissive`] (Apache's default) one port accepts both: the first byte of a new
//!   connection is `0x16` (a TLS handshake record) for TLS and `0x00` (the high byte of a frame
//!   length) for plain remoting (docs/protocol/frame.md §1). [`TlsMode::Enforcing`] closes plain
//!   connections at once.
//!
//! ```
//! # #[cfg(feature = "runtime-tokio")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use rocketmq_rs_remoting::protocol::{RemotingCommand, code::ResponseCode};
//! use rocketmq_rs_remoting::rt::default_runtime;
//! use rocketmq_rs_remoting::tls::{TlsClientConfig, TlsMode, TlsServerConfig};
//! use rocketmq_rs_remoting::transport::{
//!     Connection, RemotingClient, RemotingServer, RequestHandler, TransportConfig,
//! };
//!
//! // A self-signed certificate for 127.0.0.1 (in production: PEM files from your CA).
//! let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
//! let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
//!
//! struct Echo;
//! impl RequestHandler for Echo {
//!     async fn handle(&self, _c: &Connection, req: RemotingCommand) -> Option<RemotingCommand> {
//!         Some(RemotingCommand::response(ResponseCode::SUCCESS, None).with_body(req.body))
//!     }
//! }
//!
//! let rt = default_runtime().unwrap();
//! let server_tls = TlsServerConfig::builder(cert_pem.as_bytes(), key_pem.as_bytes())
//!     .unwrap()
//!     .mode(TlsMode::Enforcing)
//!     .build()
//!     .unwrap();
//! let mut server_config = TransportConfig::default();
//! server_config.tls_server = Some(server_tls);
//! let server = RemotingServer::start(rt.clone(), "127.0.0.1:0".parse().unwrap(), server_config, Arc::new(Echo))
//!     .await
//!     .unwrap();
//!
//! let client_tls = TlsClientConfig::builder().add_ca_pem(cert_pem.as_bytes()).unwrap().build().unwrap();
//! let mut client_config = TransportConfig::default();
//! client_config.tls = Some(client_tls);
//! let client = RemotingClient::new(rt, client_config);
//! let req = RemotingCommand::request(105).with_body(&b"over TLS"[..]);
//! let resp = client
//!     .invoke(&server.local_addr().to_string(), req, Duration::from_secs(3))
//!     .await
//!     .unwrap();
//! assert_eq!(&resp.body[..], b"over TLS");
//! client.shutdown();
//! server.shutdown().await;
//! # });
//! ```

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::rt::{timeout, AsyncStream, BoxRead, BoxWrite, Runtime};

/// First byte of a TLS handshake record (content type 22).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// A TLS configuration that cannot be built: unreadable or malformed PEM, no CA, a key that does
/// not match the certificate, ...
#[derive(Debug, thiserror::Error)]
#[error("TLS configuration: {0}")]
pub struct TlsConfigError(String);

impl TlsConfigError {
    fn new(msg: impl fmt::Display) -> Self {
        TlsConfigError(msg.to_string())
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::new(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(TlsConfigError::new(format!(
            "{what}: no CERTIFICATE section found"
        )));
    }
    Ok(certs)
}

fn parse_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsConfigError::new(format!("private key: {e}")))
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| TlsConfigError::new(format!("{}: {e}", path.display())))
}

// ------------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------------

/// How a client speaks TLS. Cheap to clone (the rustls configuration is shared).
///
/// Build it with [`TlsClientConfig::builder`], or wrap a rustls configuration of your own with
/// [`TlsClientConfig::from_rustls`]. See the [module documentation](self) for an example.
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsClientConfig {
    inner: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl TlsClientConfig {
    /// A builder with no trusted CA yet.
    pub fn builder() -> TlsClientConfigBuilder {
        TlsClientConfigBuilder {
            roots: RootCertStore::empty(),
            client_cert: None,
            insecure: false,
        }
    }

    /// Uses a rustls configuration built elsewhere.
    pub fn from_rustls(config: Arc<rustls::ClientConfig>) -> Self {
        TlsClientConfig {
            inner: config,
            server_name: None,
        }
    }

    /// Verifies every server against `name` (a DNS name or an IP address) instead of the host of
    /// the address dialled. Useful because brokers are known by IP address (routes carry IPs)
    /// while certificates often name a host.
    ///
    /// # Errors
    ///
    /// `name` is neither a valid DNS name nor an IP address.
    pub fn with_server_name(mut self, name: &str) -> Result<Self, TlsConfigError> {
        let name = ServerName::try_from(name.to_owned())
            .map_err(|e| TlsConfigError::new(format!("server name {name:?}: {e}")))?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<rustls::ClientConfig> {
        &self.inner
    }

    /// Runs the client handshake over `stream`, verifying the server as `addr`'s host (a
    /// `host:port` or `[v6]:port` address) unless a server name was set.
    ///
    /// # Errors
    ///
    /// The handshake failed: the peer does not speak TLS (`UnexpectedEof`/`InvalidData`), or its
    /// certificate was refused (`InvalidData`).
    pub async fn connect(
        &self,
        addr: &str,
        stream: Box<dyn AsyncStream>,
    ) -> io::Result<Box<dyn AsyncStream>> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => {
                let host = host_of(addr);
                ServerName::try_from(host.to_owned()).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("`{host}` is not a valid TLS server name: {e}"),
                    )
                })?
            }
        };
        let tls = TlsConnector::from(Arc::clone(&self.inner))
            .connect(name, stream)
            .await
            .map_err(|e| handshake_error(addr, e))?;
        Ok(Box::new(tls))
    }

    /// The handshake of [`connect`](Self::connect), bounded by `limit`.
    pub(crate) async fn connect_within(
        &self,
        rt: &dyn Runtime,
        limit: Duration,
        addr: &str,
        stream: Box<dyn AsyncStream>,
    ) -> io::Result<Box<dyn AsyncStream>> {
        match timeout(rt, limit, self.connect(addr, stream)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("TLS handshake with {addr} timed out (does the peer speak TLS?)"),
            )),
        }
    }
}

fn handshake_error(peer: &str, e: io::Error) -> io::Error {
    let refused_cert = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| matches!(r, rustls::Error::InvalidCertificate(_)));
    let hint = if e.kind() == io::ErrorKind::UnexpectedEof {
        " (the peer closed the connection: does it speak TLS?)"
    } else if refused_cert {
        " (the server's certificate is not trusted here: add the CA that signed it with \
         TlsClientConfig::builder().add_ca_pem / add_ca_pem_file, or use with_server_name when \
         it names another host than the address dialled)"
    } else {
        ""
    };
    io::Error::new(
        e.kind(),
        format!("TLS handshake with {peer} failed: {e}{hint}"),
    )
}

/// `host` of `host:port`, `[v6]:port` or a bare host.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
        _ => addr,
    }
}

impl PartialEq for TlsClientConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.server_name == other.server_name
    }
}

impl Eq for TlsClientConfig {}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClientConfig")
            .field("server_name", &self.server_name)
            .field(
                "client_auth",
                &self.inner.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsClientConfig`].
///
/// ```
/// use rocketmq_rs_remoting::tls::TlsClientConfig;
/// // Without a CA there is nothing to verify the server against:
/// assert!(TlsClientConfig::builder().build().is_err());
/// // Test set-ups with self-signed broker certificates (Apache's default "test mode"):
/// let insecure = TlsClientConfig::builder().danger_accept_invalid_certs().build().unwrap();
/// # drop(insecure);
/// ```
pub struct TlsClientConfigBuilder {
    roots: RootCertStore,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    insecure: bool,
}

impl TlsClientConfigBuilder {
    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE` sections). To trust the
    /// system's CAs, add the system bundle, e.g. `/etc/ssl/certs/ca-certificates.crt`.
    ///
    /// # Errors
    ///
    /// Malformed PEM, no certificate, or a certificate that is not a usable trust anchor.
    pub fn add_ca_pem(mut self, pem: &[u8]) -> Result<Self, TlsConfigError> {
        for cert in parse_certs(pem, "CA")? {
            self.roots
                .add(cert)
                .map_err(|e| TlsConfigError::new(format!("CA: {e}")))?;
        }
        Ok(self)
    }

    /// [`add_ca_pem`](Self::add_ca_pem) with the contents of a file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or as [`add_ca_pem`](Self::add_ca_pem).
    pub fn add_ca_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TlsConfigError> {
        let pem = read_file(path.as_ref())?;
        self.add_ca_pem(&pem)
    }

    /// Presents a client certificate (for servers that require one): the chain in `cert_pem`,
    /// leaf first, and its private key (PKCS#8, PKCS#1 or SEC1) in `key_pem`.
    ///
    /// # Errors
    ///
    /// Malformed PEM or no certificate / key found.
    pub fn client_cert_pem(
        mut self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Self, TlsConfigError> {
        self.client_cert = Some((
            parse_certs(cert_pem, "client certificate")?,
            parse_key(key_pem)?,
        ));
        Ok(self)
    }

    /// [`client_cert_pem`](Self::client_cert_pem) with the contents of two files.
    ///
    /// # Errors
    ///
    /// A file cannot be read, or as [`client_cert_pem`](Self::client_cert_pem).
    pub fn client_cert_pem_files(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, TlsConfigError> {
        let cert = read_file(cert.as_ref())?;
        let key = read_file(key.as_ref())?;
        self.client_cert_pem(&cert, &key)
    }

    /// Accepts any server certificate: the connection is encrypted but the server is not
    /// authenticated. Only for test set-ups (Apache brokers in their default "test mode" use
    /// self-signed certificates and Apache clients do not verify them).
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Builds the configuration (TLS 1.2 and 1.3).
    ///
    /// # Errors
    ///
    /// No CA was added (and verification is on), or the client key does not suit rustls.
    pub fn build(self) -> Result<TlsClientConfig, TlsConfigError> {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::new)?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                    algorithms: provider.signature_verification_algorithms,
                }))
        } else {
            if self.roots.is_empty() {
                return Err(TlsConfigError::new(
                    "no trusted CA: add one with add_ca_pem (or use danger_accept_invalid_certs)",
                ));
            }
            builder.with_root_certificates(self.roots)
        };
        let config = match self.client_cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(TlsConfigError::new)?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClientConfig::from_rustls(Arc::new(config)))
    }
}

impl fmt::Debug for TlsClientConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClientConfigBuilder")
            .field("cas", &self.roots.len())
            .field("client_cert", &self.client_cert.is_some())
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// Skips certificate checks but still checks the handshake signatures, so the peer must at
/// least hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyServerCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

// ------------------------------------------------------------------------------------------------
// Server
// ------------------------------------------------------------------------------------------------

/// Which connections a TLS-capable server accepts (Apache `TlsMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain TCP only; the TLS configuration is ignored.
    Disabled,
    /// TLS and plain on the same port, told apart by the first byte (Apache's default).
    #[default]
    Permissive,
    /// TLS only; plain connections are closed.
    Enforcing,
}

/// How a server speaks TLS. Cheap to clone.
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsServerConfig {
    inner: Arc<rustls::ServerConfig>,
    mode: TlsMode,
}

impl TlsServerConfig {
    /// A builder for a server presenting the certificate chain in `cert_pem` (leaf first) with
    /// the private key in `key_pem`. The mode defaults to [`TlsMode::Permissive`].
    ///
    /// # Errors
    ///
    /// Malformed PEM or no certificate / key found.
    pub fn builder(
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsServerConfigBuilder, TlsConfigError> {
        Ok(TlsServerConfigBuilder {
            chain: parse_certs(cert_pem, "server certificate")?,
            key: parse_key(key_pem)?,
            mode: TlsMode::default(),
            client_roots: None,
            client_auth_required: false,
        })
    }

    /// [`builder`](Self::builder) with the contents of two files.
    ///
    /// # Errors
    ///
    /// A file cannot be read, or as [`builder`](Self::builder).
    pub fn builder_from_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsServerConfigBuilder, TlsConfigError> {
        Self::builder(&read_file(cert.as_ref())?, &read_file(key.as_ref())?)
    }

    /// Uses a rustls configuration built elsewhere.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>, mode: TlsMode) -> Self {
        TlsServerConfig {
            inner: config,
            mode,
        }
    }

    /// The mode.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<rustls::ServerConfig> {
        &self.inner
    }

    /// Runs the server side of a new connection according to the mode: waits for the first
    /// byte, then runs the TLS handshake (`0x16`) or hands the stream on as plain remoting
    /// (permissive mode) or refuses it (enforcing mode). The byte read is not lost.
    ///
    /// # Errors
    ///
    /// The peer closed before sending anything, sent plain data to an enforcing server, or the
    /// handshake failed.
    pub async fn accept(&self, stream: Box<dyn AsyncStream>) -> io::Result<Box<dyn AsyncStream>> {
        if self.mode == TlsMode::Disabled {
            return Ok(stream);
        }
        let mut stream = stream;
        let mut first = [0u8; 1];
        let n = stream.read(&mut first).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before its first byte",
            ));
        }
        let rewound = Rewind {
            first: Some(first[0]),
            inner: stream,
        };
        if first[0] != TLS_HANDSHAKE_RECORD {
            return match self.mode {
                TlsMode::Enforcing => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "plain connection (first byte {:#04x}) refused: this server requires TLS",
                        first[0]
                    ),
                )),
                _ => Ok(Box::new(rewound)),
            };
        }
        let tls = TlsAcceptor::from(Arc::clone(&self.inner))
            .accept(rewound)
            .await?;
        Ok(Box::new(tls))
    }

    /// [`accept`](Self::accept) with deadlines: `first_byte` (none = wait as long as the peer
    /// stays connected, like a plain connection) for the first byte, then `handshake` for the
    /// TLS handshake.
    pub(crate) async fn accept_within(
        &self,
        rt: &dyn Runtime,
        first_byte: Option<Duration>,
        handshake: Duration,
        stream: Box<dyn AsyncStream>,
    ) -> io::Result<Box<dyn AsyncStream>> {
        let limit = first_byte.map_or(handshake, |f| f.saturating_add(handshake));
        match timeout(rt, limit, self.accept(stream)).await {
            Ok(result) => result,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS sniffing/handshake timed out",
            )),
        }
    }
}

impl PartialEq for TlsServerConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) && self.mode == other.mode
    }
}

impl Eq for TlsServerConfig {}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TlsServerConfig`].
pub struct TlsServerConfigBuilder {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    mode: TlsMode,
    client_roots: Option<RootCertStore>,
    client_auth_required: bool,
}

impl TlsServerConfigBuilder {
    /// Sets the mode (default [`TlsMode::Permissive`]).
    pub fn mode(mut self, mode: TlsMode) -> Self {
        self.mode = mode;
        self
    }

    /// Verifies client certificates against the CAs in `ca_pem`. With `required`, clients
    /// without a certificate are refused; otherwise they may connect anonymously, but a
    /// certificate they do present must verify.
    ///
    /// # Errors
    ///
    /// Malformed PEM or no certificate.
    pub fn client_auth_ca_pem(
        mut self,
        ca_pem: &[u8],
        required: bool,
    ) -> Result<Self, TlsConfigError> {
        let mut roots = self
            .client_roots
            .take()
            .unwrap_or_else(RootCertStore::empty);
        for cert in parse_certs(ca_pem, "client CA")? {
            roots
                .add(cert)
                .map_err(|e| TlsConfigError::new(format!("client CA: {e}")))?;
        }
        self.client_roots = Some(roots);
        self.client_auth_required = required;
        Ok(self)
    }

    /// Builds the configuration (TLS 1.2 and 1.3).
    ///
    /// # Errors
    ///
    /// The key does not match the certificate or is of an unsupported kind.
    pub fn build(self) -> Result<TlsServerConfig, TlsConfigError> {
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsConfigError::new)?;
        let builder = match self.client_roots {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if self.client_auth_required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                builder.with_client_cert_verifier(verifier.build().map_err(TlsConfigError::new)?)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(self.chain, self.key)
            .map_err(TlsConfigError::new)?;
        Ok(TlsServerConfig::from_rustls(Arc::new(config), self.mode))
    }
}

impl fmt::Debug for TlsServerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServerConfigBuilder")
            .field("chain_len", &self.chain.len())
            .field("mode", &self.mode)
            .field("client_auth", &self.client_roots.is_some())
            .field("client_auth_required", &self.client_auth_required)
            .finish()
    }
}

// ------------------------------------------------------------------------------------------------
// Streams
// ------------------------------------------------------------------------------------------------

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream
    for futures_rustls::client::TlsStream<S>
{
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> AsyncStream
    for futures_rustls::server::TlsStream<S>
{
}

/// A stream whose first byte was read to sniff the protocol and is replayed on the first read.
struct Rewind {
    first: Option<u8>,
    inner: Box<dyn AsyncStream>,
}

fn replay(first: &mut Option<u8>, buf: &mut [u8]) -> Option<Poll<io::Result<usize>>> {
    let b = (*first)?;
    if buf.is_empty() {
        return Some(Poll::Ready(Ok(0)));
    }
    buf[0] = b;
    *first = None;
    Some(Poll::Ready(Ok(1)))
}

impl AsyncRead for Rewind {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(ready) = replay(&mut this.first, buf) {
            return ready;
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

impl AsyncStream for Rewind {
    /// Keeps the inner stream's (lock-free) halves: a plain connection accepted by a permissive
    /// server costs nothing after its first byte.
    fn into_split(self: Box<Self>) -> (BoxRead, BoxWrite) {
        let Rewind { first, inner } = *self;
        let (read, write) = inner.into_split();
        (Box::new(RewindRead { first, inner: read }), write)
    }
}

struct RewindRead {
    first: Option<u8>,
    inner: BoxRead,
}

impl AsyncRead for RewindRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(ready) = replay(&mut this.first, buf) {
            return ready;
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_addresses() {
        assert_eq!(host_of("127.0.0.1:10911"), "127.0.0.1");
        assert_eq!(host_of("broker.example.com:10911"), "broker.example.com");
        assert_eq!(host_of("[::1]:9876"), "::1");
        assert_eq!(host_of("broker"), "broker");
        assert_eq!(host_of("::1"), "::1");
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(TlsClientConfig::builder().add_ca_pem(b"not pem").is_err());
        assert!(TlsServerConfig::builder(b"", b"").is_err());
        assert!(TlsClientConfig::builder()
            .client_cert_pem(
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                b""
            )
            .is_err());
    }
}
