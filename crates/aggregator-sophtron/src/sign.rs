//! Sophtron's `FIApiAUTH` request signature (`aggregator-apis.md` §3.2):
//!
//! ```text
//! authPath = the last path segment (from the last '/'), plus the query as sent, lower-cased
//! text     = METHOD + "\n" + authPath
//! sig      = base64(HMAC-SHA256(base64_decode(access_key), text))
//! header   = "FIApiAUTH:" + user_id + ":" + sig + ":" + authPath
//! ```
//!
//! Hand-written on `hmac`/`sha2` because no maintained crate implements this scheme; it is a
//! dozen lines and proven on the eight vectors computed with UCW's own function.
//!
//! Two deliberate choices:
//! * **What is signed is what goes out.** The client signs `Url::path()` and `Url::query()` of
//!   the very URL reqwest sends, after percent-encoding; UCW signed its unencoded string and
//!   then let axios encode it, so an id with a space or `?` produced a signature over
//!   something the server never received. The last segment is taken from the *path* only,
//!   so a `/` inside a query value cannot move the cut.
//! * **The VC transactions query is signed too.** UCW passed `startTime`/`endTime` as axios
//!   `params` (added after signing); the hub signs the query like every other call's.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The scheme name that starts every header value.
pub const SCHEME: &str = "FIApiAUTH";

/// Decodes an access key as leniently as Node's `Buffer.from(key, "base64")`, which Sophtron's
/// own clients use: both alphabets, padding optional, decoding stops at the first `=`, any
/// other character is skipped, and a dangling last character (a length of 4n+1) is dropped.
/// `"testSecret"` → `b5eb2d49e72b7a`.
pub fn decode_access_key(key: &str) -> Vec<u8> {
    let mut cleaned: String = key
        .chars()
        .take_while(|c| *c != '=')
        .filter_map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '+' | '/' => Some(c),
            '-' => Some('+'),
            '_' => Some('/'),
            _ => None,
        })
        .collect();
    if cleaned.len() % 4 == 1 {
        cleaned.pop();
    }
    let lenient = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    // Every character is in the alphabet and the length is valid, so this cannot fail; an
    // empty key is the documented fallback all the same.
    lenient.decode(cleaned.as_bytes()).unwrap_or_default()
}

/// The signed part of a request: from the last `/` of `path` to its end, plus `?query` when
/// there is one, lower-cased. `path` and `query` are exactly what goes on the wire.
pub fn auth_path(path: &str, query: Option<&str>) -> String {
    let cut = path.rfind('/').unwrap_or(0);
    let mut out = path[cut..].to_owned();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        out.push('?');
        out.push_str(query);
    }
    out.to_lowercase()
}

/// `base64(HMAC-SHA256(key, text))`; empty when the key or the text is empty (UCW's
/// `getHmac` returns `""` then, giving headers like `FIApiAUTH:id::/path`).
pub fn signature(key: &[u8], text: &str) -> String {
    if key.is_empty() || text.is_empty() {
        return String::new();
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The whole `Authorization` value for `method` on `path` (+ `query`).
pub fn authorization(
    user_id: &str,
    key: &[u8],
    method: &str,
    path: &str,
    query: Option<&str>,
) -> String {
    let auth_path = auth_path(path, query);
    let text = format!("{}\n{auth_path}", method.to_uppercase());
    format!("{SCHEME}:{user_id}:{}:{auth_path}", signature(key, &text))
}

/// [`authorization`] for a path that may carry its own `?query` (the form UCW signs).
pub fn authorization_for(user_id: &str, key: &[u8], method: &str, path_and_query: &str) -> String {
    match path_and_query.split_once('?') {
        Some((path, query)) => authorization(user_id, key, method, path, Some(query)),
        None => authorization(user_id, key, method, path_and_query, None),
    }
}

/// Checks a received `Authorization` value (used by the fake server): the header must be
/// exactly what [`authorization`] computes for this request.
pub fn verify(
    header: Option<&str>,
    user_id: &str,
    key: &[u8],
    method: &str,
    path: &str,
    query: Option<&str>,
) -> bool {
    header == Some(authorization(user_id, key, method, path, query).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "testClientId";

    /// The eight vectors of `aggregator-apis.md` §3.2, computed with UCW's own function.
    #[test]
    fn the_eight_ucw_vectors() {
        let test_secret = decode_access_key("testSecret");
        let long_secret = decode_access_key("dGVzdFNlY3JldEtleTEyMzQ1Njc4OTA=");
        let cases: [(&[u8], &str, &str, &str); 8] = [
            (
                &test_secret,
                "post",
                "/Institution/GetInstitutionByID",
                "FIApiAUTH:testClientId:iJNBUMPwbp7tRBUn4fPcpxx+zXjg3BEYS0HC/AXlYP4=:/getinstitutionbyid",
            ),
            (
                &test_secret,
                "get",
                "/v2/customers?uniqueID=testUserId",
                "FIApiAUTH:testClientId:WQUbMRewzbMAtERDuyDROPxUwMFw+VvCbuD8AZOZ1Bs=:/customers?uniqueid=testuserid",
            ),
            (
                &test_secret,
                "get",
                "/v2/customers/CustomerIdUniqueId/members/memberId",
                "FIApiAUTH:testClientId:MysUFbCK4I7Tp7bM+Vq2LKOHqr31l9VE2GAYQAtKsEc=:/memberid",
            ),
            (
                &test_secret,
                "post",
                "/v2/customers/cust-1/members/verification|identity|aggregate|history",
                "FIApiAUTH:testClientId:Pgf2uomzBdI9rXyooSN0x4KE5/4c8gMM7VfYRIvTju0=:/verification|identity|aggregate|history",
            ),
            (
                &test_secret,
                "put",
                "/v2/job/jobId/challenge/SecurityQuestion",
                "FIApiAUTH:testClientId:85COfeS55uBjhWWbHxMwQYFyQ3Aul1p7fSFG7erqb6s=:/securityquestion",
            ),
            (
                &test_secret,
                "get",
                "customers/userId/accounts/accountId/transactions",
                "FIApiAUTH:testClientId:BBKIfFZd1HcX6CunnuJnAdRq9VHX1Lthf79ohtHS1CE=:/transactions",
            ),
            (
                &long_secret,
                "post",
                "/User/GetUserIntegrationKey",
                "FIApiAUTH:testClientId:73+aa1hfOpWobv4VKPOC5tJTNXvHQRMhZHx/O/1NLG4=:/getuserintegrationkey",
            ),
            (
                &long_secret,
                "delete",
                "/v2/customers/ABC-123",
                "FIApiAUTH:testClientId:m1XSoFBt0yX5+L4NBk3GfFpMtbc8gyCvm9dO42p/PWM=:/abc-123",
            ),
        ];
        for (i, (key, method, path, expected)) in cases.iter().enumerate() {
            assert_eq!(
                authorization_for(ID, key, method, path),
                *expected,
                "vector {}",
                i + 1
            );
        }
    }

    #[test]
    fn the_empty_secret_gives_an_empty_signature() {
        assert_eq!(
            authorization_for(ID, &decode_access_key(""), "GET", "/v2/job/j1"),
            "FIApiAUTH:testClientId::/j1"
        );
        assert_eq!(signature(b"key", ""), "");
    }

    #[test]
    fn access_keys_decode_like_node() {
        assert_eq!(
            decode_access_key("testSecret"),
            [0xb5, 0xeb, 0x2d, 0x49, 0xe7, 0x2b, 0x7a]
        );
        // Padding, whitespace, line breaks and the URL-safe alphabet change nothing.
        let padded = decode_access_key("dGVzdFNlY3JldEtleTEyMzQ1Njc4OTA=");
        assert_eq!(padded, b"testSecretKey1234567890");
        assert_eq!(
            decode_access_key("dGVzdFNlY3Jld\nEtleTEyMzQ1Njc4OTA"),
            padded
        );
        assert_eq!(
            decode_access_key(" dGVzdFNlY3JldEtleTEyMzQ1Njc4OTA= "),
            padded
        );
        assert_eq!(decode_access_key("-_8="), decode_access_key("+/8="));
        // Decoding stops at the first '='; a dangling character is dropped.
        assert_eq!(decode_access_key("QQ==QUJD"), b"A");
        assert_eq!(decode_access_key("QUJDR"), b"ABC");
        assert!(decode_access_key("!!!").is_empty());
    }

    #[test]
    fn only_the_path_decides_where_the_signed_part_starts() {
        assert_eq!(
            auth_path("/v2/customers", Some("uniqueID=a%2Fb")),
            "/customers?uniqueid=a%2fb"
        );
        assert_eq!(auth_path("/v2/customers", Some("")), "/customers");
        assert_eq!(auth_path("nopath", None), "nopath");
        let key = decode_access_key("testSecret");
        let header = authorization(ID, &key, "put", "/v2/job/j/challenge/TokenRead", None);
        assert!(verify(
            Some(&header),
            ID,
            &key,
            "PUT",
            "/v2/job/j/challenge/TokenRead",
            None
        ));
        assert!(!verify(
            Some(&header),
            ID,
            &key,
            "POST",
            "/v2/job/j/challenge/TokenRead",
            None
        ));
        assert!(!verify(
            None,
            ID,
            &key,
            "PUT",
            "/v2/job/j/challenge/TokenRead",
            None
        ));
    }
}
