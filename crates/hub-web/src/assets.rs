//! Static files compiled into the binary, so the hub is one file with no asset directory.

use actix_web::http::header;
use actix_web::{HttpResponse, get, options, web};

macro_rules! assets {
    ($($name:literal => $mime:literal),* $(,)?) => {
        /// `(name, content type, bytes)` for every file under `static/`.
        pub static ASSETS: &[(&str, &str, &[u8])] = &[
            $(($name, $mime, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../static/", $name)))),*
        ];
    };
}

assets! {
    "widget.css" => "text/css; charset=utf-8",
    "widget.js" => "text/javascript; charset=utf-8",
    "oauth-return.js" => "text/javascript; charset=utf-8",
    "demo.js" => "text/javascript; charset=utf-8",
    "demo.css" => "text/css; charset=utf-8",
    "connect.js" => "text/javascript; charset=utf-8",
    "connect.d.ts" => "application/typescript; charset=utf-8",
}

pub fn find(name: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, mime, bytes)| (*mime, *bytes))
}

#[get("/static/{name}")]
pub async fn static_file(name: web::Path<String>) -> HttpResponse {
    match find(&name) {
        Some((mime, bytes)) => HttpResponse::Ok()
            .content_type(mime)
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("Not Found"),
    }
}

/// The embed SDK and its types at short, stable paths. Host pages on other origins load
/// them (and tools fetch the types), so these two files, and only these, allow any origin.
fn sdk_response(name: &str) -> HttpResponse {
    match find(name) {
        Some((mime, bytes)) => HttpResponse::Ok()
            .content_type(mime)
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .body(bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

#[get("/connect.js")]
pub async fn connect_js() -> HttpResponse {
    sdk_response("connect.js")
}

#[get("/connect.d.ts")]
pub async fn connect_d_ts() -> HttpResponse {
    sdk_response("connect.d.ts")
}

/// CORS preflight for the two SDK files (a plain GET needs none, but some loaders ask).
#[options("/{name:connect\\.(js|d\\.ts)}")]
pub async fn connect_preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{App, test};

    #[actix_web::test]
    async fn the_sdk_is_served_cross_origin_with_its_types() {
        let app = test::init_service(
            App::new()
                .service(connect_js)
                .service(connect_d_ts)
                .service(connect_preflight)
                .service(static_file),
        )
        .await;
        for (path, mime, needle) in [
            (
                "/connect.js",
                "text/javascript; charset=utf-8",
                "ConnectHub",
            ),
            (
                "/connect.d.ts",
                "application/typescript; charset=utf-8",
                "export function embed",
            ),
        ] {
            let res =
                test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(res.status(), 200, "{path}");
            let h = res.headers();
            assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), mime);
            assert_eq!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(), "*");
            let body = test::read_body(res).await;
            assert!(String::from_utf8_lossy(&body).contains(needle), "{path}");
        }
        let res = test::call_service(
            &app,
            test::TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .uri("/connect.js")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 204);
        // Other static files stay same-origin only.
        let res = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/static/widget.js")
                .to_request(),
        )
        .await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
}
