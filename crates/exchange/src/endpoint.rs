//! Where a remote service is and how to address it: directly, or through our own X-Road security server.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use crate::ExchangeError;

/// The timeout an endpoint gets unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A bearer token. It never appears in `Debug` or `Display` output, so configs and errors can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn new(token: impl Into<String>) -> SecretToken {
        SecretToken(token.into())
    }

    /// The token itself, for the `Authorization` header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for SecretToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretToken)
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

/// An X-Road identifier part: non-empty, no control characters, at most 255 characters. `/` is allowed
/// (X-Road percent-encodes it) but discouraged.
fn check_part(what: &str, part: &str) -> Result<(), ExchangeError> {
    if part.is_empty() {
        return Err(ExchangeError::InvalidConfig(format!("{what} is empty")));
    }
    if part.chars().count() > 255 {
        return Err(ExchangeError::InvalidConfig(format!(
            "{what} is longer than 255 characters"
        )));
    }
    if part.chars().any(char::is_control) {
        return Err(ExchangeError::InvalidConfig(format!(
            "{what} contains a control character"
        )));
    }
    Ok(())
}

/// Percent-encodes one identifier part for the `X-Road-Client` header (PR-REST 4.2 and 4.3): UTF-8, every
/// byte outside the unreserved set encoded, so a `/` inside a part cannot split it.
fn encode_part(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The X-Road identity we call as: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, e.g. `KH/GOV/MOSVY/DSPP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRoadClientId {
    instance: String,
    member_class: String,
    member_code: String,
    subsystem: Option<String>,
}

impl XRoadClientId {
    /// Reads `INSTANCE/CLASS/MEMBER` or `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
    pub fn parse(text: &str) -> Result<XRoadClientId, ExchangeError> {
        let parts: Vec<&str> = text.split('/').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(ExchangeError::InvalidConfig(format!(
                "X-Road client id {text:?} must be INSTANCE/CLASS/MEMBER or INSTANCE/CLASS/MEMBER/SUBSYSTEM"
            )));
        }
        for (part, what) in
            parts
                .iter()
                .zip(["instance", "member class", "member code", "subsystem"])
        {
            check_part(&format!("X-Road client id {text:?}: the {what}"), part)?;
        }
        Ok(XRoadClientId {
            instance: parts[0].to_owned(),
            member_class: parts[1].to_owned(),
            member_code: parts[2].to_owned(),
            subsystem: parts.get(3).map(|s| (*s).to_owned()),
        })
    }

    /// The `X-Road-Client` header value, each part percent-encoded.
    pub fn header_value(&self) -> String {
        let mut parts = vec![
            encode_part(&self.instance),
            encode_part(&self.member_class),
            encode_part(&self.member_code),
        ];
        if let Some(subsystem) = &self.subsystem {
            parts.push(encode_part(subsystem));
        }
        parts.join("/")
    }
}

impl fmt::Display for XRoadClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.instance, self.member_class, self.member_code
        )?;
        if let Some(subsystem) = &self.subsystem {
            write!(f, "/{subsystem}")?;
        }
        Ok(())
    }
}

/// The X-Road service we call: `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE`, e.g.
/// `KH/GOV/MOI/NIDVERIFY/identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRoadServiceId {
    parts: [String; 5],
}

impl XRoadServiceId {
    pub fn parse(text: &str) -> Result<XRoadServiceId, ExchangeError> {
        let parts: Vec<&str> = text.split('/').collect();
        let [instance, class, member, subsystem, service] = parts.as_slice() else {
            return Err(ExchangeError::InvalidConfig(format!(
                "X-Road service id {text:?} must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE"
            )));
        };
        let parts = [*instance, *class, *member, *subsystem, *service];
        for (part, what) in parts.iter().zip([
            "instance",
            "member class",
            "member code",
            "subsystem",
            "service code",
        ]) {
            check_part(&format!("X-Road service id {text:?}: the {what}"), part)?;
        }
        Ok(XRoadServiceId {
            parts: parts.map(str::to_owned),
        })
    }
}

impl fmt::Display for XRoadServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts.join("/"))
    }
}

/// How to reach a service through X-Road: who we are and which service we call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XRoadRoute {
    pub client: XRoadClientId,
    pub service: XRoadServiceId,
}

/// An endpoint as written in configuration (`dspp.toml`, environment): plain fields, checked by
/// `Endpoint::from_settings`. The token stays hidden in `Debug`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSettings {
    /// The service's base URL, or our security server's when the X-Road ids are set.
    pub url: String,
    /// `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`; set together with `x_road_service`.
    #[serde(default)]
    pub x_road_client: Option<String>,
    /// `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE`; set together with `x_road_client`.
    #[serde(default)]
    pub x_road_service: Option<String>,
    #[serde(default)]
    pub token: Option<SecretToken>,
    /// Milliseconds; `DEFAULT_TIMEOUT` when absent.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A remote service's address and credentials.
///
/// Direct: requests go to `{base_url}/{resource}`. Through X-Road: `base_url` is our own (consumer)
/// security server and requests go to `{base_url}/r1/{INSTANCE}/{CLASS}/{MEMBER}/{SUBSYSTEM}/{SERVICE}/{resource}`
/// with `X-Road-Client` set (X-Road Message Protocol for REST, PR-REST r1).
#[derive(Debug, Clone)]
pub struct Endpoint {
    base_url: Url,
    x_road: Option<XRoadRoute>,
    token: Option<SecretToken>,
    timeout: Duration,
}

impl Endpoint {
    /// An endpoint reached directly at `base_url` (`http://` or `https://`).
    pub fn direct(base_url: &str) -> Result<Endpoint, ExchangeError> {
        let text = base_url;
        let base_url = Url::parse(text)
            .map_err(|error| ExchangeError::InvalidConfig(format!("base URL {text:?}: {error}")))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(ExchangeError::InvalidConfig(format!(
                "base URL {text:?}: the scheme must be http or https"
            )));
        }
        if base_url.cannot_be_a_base() || base_url.query().is_some() {
            return Err(ExchangeError::InvalidConfig(format!(
                "base URL {text:?} cannot have paths appended"
            )));
        }
        Ok(Endpoint {
            base_url,
            x_road: None,
            token: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// An endpoint reached through our X-Road security server at `security_server_url`.
    pub fn via_x_road(
        security_server_url: &str,
        client: XRoadClientId,
        service: XRoadServiceId,
    ) -> Result<Endpoint, ExchangeError> {
        let mut endpoint = Endpoint::direct(security_server_url)?;
        endpoint.x_road = Some(XRoadRoute { client, service });
        Ok(endpoint)
    }

    /// Checks settings read from configuration: the URL, both X-Road ids or neither, a timeout above zero.
    pub fn from_settings(settings: &EndpointSettings) -> Result<Endpoint, ExchangeError> {
        let mut endpoint = match (&settings.x_road_client, &settings.x_road_service) {
            (None, None) => Endpoint::direct(&settings.url)?,
            (Some(client), Some(service)) => Endpoint::via_x_road(
                &settings.url,
                XRoadClientId::parse(client)?,
                XRoadServiceId::parse(service)?,
            )?,
            _ => {
                return Err(ExchangeError::InvalidConfig(
                    "x_road_client and x_road_service must be set together".into(),
                ));
            }
        };
        if let Some(timeout_ms) = settings.timeout_ms {
            if timeout_ms == 0 {
                return Err(ExchangeError::InvalidConfig(
                    "timeout_ms must be above zero".into(),
                ));
            }
            endpoint.timeout = Duration::from_millis(timeout_ms);
        }
        endpoint.token = settings.token.clone();
        Ok(endpoint)
    }

    pub fn with_token(mut self, token: SecretToken) -> Endpoint {
        self.token = Some(token);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Endpoint {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn x_road(&self) -> Option<&XRoadRoute> {
        self.x_road.as_ref()
    }

    pub fn token(&self) -> Option<&SecretToken> {
        self.token.as_ref()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The URL of `resource` (segments such as `["v1", "identity", "verify"]`) on this endpoint, each
    /// segment percent-encoded by itself.
    pub fn url(&self, resource: &[&str]) -> Result<Url, ExchangeError> {
        let mut url = self.base_url.clone();
        {
            let mut segments = url.path_segments_mut().map_err(|()| {
                ExchangeError::InvalidConfig(format!(
                    "base URL {} cannot have paths appended",
                    self.base_url
                ))
            })?;
            segments.pop_if_empty();
            if let Some(route) = &self.x_road {
                segments.push("r1");
                segments.extend(route.service.parts.iter());
            }
            segments.extend(resource);
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_token_never_prints() {
        let endpoint = Endpoint::direct("http://127.0.0.1:1")
            .unwrap()
            .with_token(SecretToken::new("hunter2"));
        let shown = format!("{endpoint:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("SecretToken(***)"), "{shown}");
        assert_eq!(endpoint.token().unwrap().expose(), "hunter2");
    }

    #[test]
    fn settings_become_endpoints_or_say_what_is_wrong() {
        let settings = EndpointSettings {
            url: "http://ss.local:8080".into(),
            x_road_client: Some("KH/GOV/MOSVY/DSPP".into()),
            x_road_service: Some("KH/GOV/MOI/NID/identity".into()),
            token: Some(SecretToken::new("hunter2")),
            timeout_ms: Some(2500),
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
        let endpoint = Endpoint::from_settings(&settings).unwrap();
        assert_eq!(endpoint.timeout(), Duration::from_millis(2500));
        assert_eq!(
            endpoint.x_road().unwrap().service.to_string(),
            "KH/GOV/MOI/NID/identity"
        );
        assert_eq!(endpoint.token().unwrap().expose(), "hunter2");
        let half = EndpointSettings {
            x_road_service: None,
            ..settings.clone()
        };
        assert_eq!(
            Endpoint::from_settings(&half).unwrap_err(),
            ExchangeError::InvalidConfig(
                "x_road_client and x_road_service must be set together".into()
            )
        );
        let direct = EndpointSettings {
            url: "https://nsaf.example/api".into(),
            ..EndpointSettings::default()
        };
        let endpoint = Endpoint::from_settings(&direct).unwrap();
        assert!(endpoint.x_road().is_none());
        assert_eq!(endpoint.timeout(), DEFAULT_TIMEOUT);
        let zero = EndpointSettings {
            timeout_ms: Some(0),
            ..direct
        };
        assert!(Endpoint::from_settings(&zero).is_err());
    }

    #[test]
    fn direct_urls_append_to_the_base_path() {
        let endpoint = Endpoint::direct("http://operator.example:8080/api/").unwrap();
        assert_eq!(
            endpoint.url(&["enrolments"]).unwrap().as_str(),
            "http://operator.example:8080/api/enrolments"
        );
        let endpoint = Endpoint::direct("http://operator.example:8080/api").unwrap();
        assert_eq!(
            endpoint.url(&["enrolments"]).unwrap().as_str(),
            "http://operator.example:8080/api/enrolments"
        );
    }

    #[test]
    fn x_road_urls_carry_the_service_id_and_encode_each_part() {
        let endpoint = Endpoint::via_x_road(
            "http://ss.local:8080",
            XRoadClientId::parse("KH/GOV/MOSVY/DSPP").unwrap(),
            XRoadServiceId::parse("KH/GOV/MOI/NID REG/identity").unwrap(),
        )
        .unwrap();
        assert_eq!(
            endpoint
                .url(&["v1", "identity", "verify"])
                .unwrap()
                .as_str(),
            "http://ss.local:8080/r1/KH/GOV/MOI/NID%20REG/identity/v1/identity/verify"
        );
    }

    #[test]
    fn client_ids_parse_with_or_without_subsystem_and_encode_for_the_header() {
        let with = XRoadClientId::parse("KH/GOV/MOSVY/DSPP").unwrap();
        assert_eq!(with.header_value(), "KH/GOV/MOSVY/DSPP");
        let without = XRoadClientId::parse("KH/GOV/MOSVY").unwrap();
        assert_eq!(without.to_string(), "KH/GOV/MOSVY");
        let spaced = XRoadClientId::parse("KH/GOV/MO SVY/ស").unwrap();
        assert_eq!(spaced.header_value(), "KH/GOV/MO%20SVY/%E1%9E%9F");
    }

    #[test]
    fn bad_identifiers_and_urls_are_refused_with_the_reason() {
        let cases = [
            (
                XRoadClientId::parse("KH/GOV").map(|_| ()),
                "X-Road client id \"KH/GOV\" must be INSTANCE/CLASS/MEMBER or INSTANCE/CLASS/MEMBER/SUBSYSTEM",
            ),
            (
                XRoadClientId::parse("KH//MOSVY").map(|_| ()),
                "X-Road client id \"KH//MOSVY\": the member class is empty",
            ),
            (
                XRoadServiceId::parse("KH/GOV/MOI/NID").map(|_| ()),
                "X-Road service id \"KH/GOV/MOI/NID\" must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE",
            ),
            (
                Endpoint::direct("ftp://x").map(|_| ()),
                "base URL \"ftp://x\": the scheme must be http or https",
            ),
            (
                Endpoint::direct("not a url").map(|_| ()),
                "base URL \"not a url\": relative URL without a base",
            ),
        ];
        for (result, expected) in cases {
            match result {
                Err(ExchangeError::InvalidConfig(message)) => assert_eq!(message, expected),
                other => panic!("expected InvalidConfig({expected:?}), got {other:?}"),
            }
        }
    }
}
