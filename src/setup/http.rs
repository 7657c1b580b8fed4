//! [`Respond`] over HTTPS: one PUT of the response to CloudFormation's pre-signed S3 URL, with the headers `cfn-response` sends.
//!
//! Built on the HTTP stack the AWS SDK's `default-https-client` already compiles (hyper 1,
//! hyper-util's pooled client, hyper-rustls with rustls on aws-lc-rs and the platform's
//! root certificates, as `aws-smithy-http-client` configures them), so it adds no crate.
//!
//! Headers: `content-type: ""` and `content-length` (CFN-UG
//! `cfn-lambda-function-code-cfnresponsemodule.md`): the URL is signed without a content
//! type, so the PUT must not invent one.

use super::{Respond, RespondError};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::error::Error as StdError;

/// The most characters of an error response kept for the error message.
const ERROR_BODY_CHARS: usize = 512;

/// Sends responses with a real HTTP client, built once per cold start.
#[derive(Clone)]
pub struct HttpResponder {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpResponder").finish_non_exhaustive()
    }
}

impl HttpResponder {
    /// An HTTPS-only client (a `ResponseURL` is always `https://`) trusting the platform's
    /// root certificates. Fails when the platform has none.
    pub fn new() -> std::io::Result<Self> {
        Self::build(true)
    }

    /// The same client that also speaks plain `http://`: for a local endpoint or a test.
    pub fn allowing_plain_http() -> std::io::Result<Self> {
        Self::build(false)
    }

    fn build(https_only: bool) -> std::io::Result<Self> {
        Ok(Self {
            client: https_client(https_only)?,
        })
    }
}

/// The HTTP client the gate's own requests use (this PUT, `gate approve`'s signed POST):
/// hyper-util's pooled client over hyper-rustls, rustls on aws-lc-rs with the platform's root
/// certificates; `https_only: false` also speaks plain `http://` (a local endpoint, a test).
pub fn https_client(
    https_only: bool,
) -> std::io::Result<Client<HttpsConnector<HttpConnector>, Full<Bytes>>> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?;
    let builder = if https_only {
        builder.https_only()
    } else {
        builder.https_or_http()
    };
    let connector = builder.enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// An error and every cause under it, on one line (hyper's own Display says only "client
/// error (Connect)").
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl Respond for HttpResponder {
    async fn put(&self, url: &str, body: &str) -> Result<(), RespondError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| RespondError::InvalidUrl(e.to_string()))?;
        if uri.host().is_none() {
            return Err(RespondError::InvalidUrl(format!("`{url}` names no host")));
        }
        let request = Request::builder()
            .method(Method::PUT)
            .uri(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static(""))
            .header(CONTENT_LENGTH, body.len())
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| RespondError::InvalidUrl(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| RespondError::Transport(chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = match response.into_body().collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
                .chars()
                .take(ERROR_BODY_CHARS)
                .collect(),
            Err(e) => format!("(body unreadable: {})", chain(&e)),
        };
        Err(RespondError::Status {
            status: status.as_u16(),
            body: text,
        })
    }
}
