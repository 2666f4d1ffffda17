//! Static files compiled into the binary, so the hub is one file with no asset directory.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};

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
