//! `gate approve|reject`'s call of gate-approve's function URL (`AuthType: AWS_IAM`): a JSON
//! POST signed with AWS Signature Version 4 for the service `lambda`, with the caller's own
//! credentials from the SDK's default chain. Lambda checks the signature and hands the
//! function the caller's ARN (docs/design.md, "Approving a release").
//!
//! The request is signed with the `aws-sigv4` crate the SDK signs its own calls with, and
//! sent with the gate's own hyper client ([`crate::setup::http::https_client`]). The signed
//! headers are `content-type`, `host`, `x-amz-content-sha256` (the body's SHA-256) and
//! `x-amz-date`, plus `x-amz-security-token` for temporary credentials.

use aws_sdk_sfn::config::{Credentials, ProvideCredentials};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use std::time::SystemTime;

/// The SigV4 signing name of function URLs.
pub const SERVICE: &str = "lambda";

/// The most characters of a response body kept.
const RESPONSE_CHARS: usize = 8_192;

/// The region of a function URL, `https://<url-id>.lambda-url.<region>.on.aws/`.
pub fn region_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let host = uri.host()?;
    let rest = host.split_once(".lambda-url.")?.1;
    let region = rest.strip_suffix(".on.aws")?;
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

/// Who signs, where, for which service and when.
#[derive(Debug, Clone)]
pub struct Signer<'a> {
    /// The caller's credentials.
    pub credentials: &'a Credentials,
    /// The region the endpoint is in.
    pub region: &'a str,
    /// The signing name ([`SERVICE`] for function URLs).
    pub service: &'a str,
    /// The signing time.
    pub time: SystemTime,
}

impl Signer<'_> {
    /// The headers that sign a request (`authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, with a session token, `x-amz-security-token`): SigV4 over
    /// `method`, `url`, `headers` (the host comes from the URL) and `body`.
    pub fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        let identity = self.credentials.clone().into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .map_err(|e| format!("cannot sign: {e}"))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("cannot sign {url}: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("cannot sign: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

/// The caller's credentials from the SDK's default chain (environment, profile, SSO, IMDS).
pub async fn default_credentials() -> Result<Credentials, String> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let provider = config
        .credentials_provider()
        .ok_or_else(|| "no AWS credentials provider is configured".to_owned())?;
    provider.provide_credentials().await.map_err(|e| {
        format!(
            "no AWS credentials: {}",
            aws_sdk_sfn::error::DisplayErrorContext(&e)
        )
    })
}

/// Whether `url` may be called: `https://`, or plain `http://` to this machine (a local
/// endpoint or a test), never plain HTTP across a network.
pub fn allowed_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<Uri>() else {
        return false;
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(host)) => matches!(host, "127.0.0.1" | "localhost" | "[::1]"),
        _ => false,
    }
}

/// POSTs `body` (JSON) to `url`, signed for `region` now; the HTTP status and the response
/// body. `Err` for a URL that cannot be called or a transport failure.
pub async fn post_signed_json(
    url: &str,
    region: &str,
    credentials: &Credentials,
    body: &str,
) -> Result<(u16, String), String> {
    if !allowed_url(url) {
        return Err(format!(
            "`{url}` is not an https:// URL (plain http:// only to this machine)"
        ));
    }
    let content_type = ("content-type", "application/json");
    let signer = Signer {
        credentials,
        region,
        service: SERVICE,
        time: SystemTime::now(),
    };
    let signed = signer.headers("POST", url, &[content_type], body.as_bytes())?;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header(content_type.0, content_type.1);
    for (name, value) in &signed {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let client =
        crate::setup::http::https_client(false).map_err(|e| format!("no HTTPS client: {e}"))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("cannot reach {url}: {}", crate::setup::http::chain(&e)))?;
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("cannot read the answer: {}", crate::setup::http::chain(&e)))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes)
        .chars()
        .take(RESPONSE_CHARS)
        .collect();
    Ok((status, text))
}
