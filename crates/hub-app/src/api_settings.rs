//! `[web.api]`: which server-to-server API groups exist at all. Both are off by default; an
//! off group answers 404 exactly as if its routes did not exist (UCW's
//! `DATA_ENDPOINTS_ENABLE` / `DELETE_USER_ENDPOINT_ENABLE`). Who may call them is configured
//! separately, in `[auth.data]` and `[auth.delete]`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// `GET /api/data/*` and `GET /api/vc/data/*` (v2 and v1 paths).
    pub data_endpoints: bool,
    /// `DELETE /api/user`, `DELETE /api/connection` and the v1 delete paths.
    pub delete_endpoints: bool,
}
