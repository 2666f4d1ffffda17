//! Every fixture parses with the plugin's own types: the project's (`tests/fixtures/`) and,
//! when the workspace sits next to `shared/fixtures/mx/`, the ones derived from UCW's tests.

use aggregator_mx::{mapping, vc, wire};
use hub_core::ConnectionStatus;
use std::path::{Path, PathBuf};

/// Parses one fixture by its file name; returns what it is, for the caller's counts.
fn parse(path: &Path) -> Result<&'static str, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("no file name")?;
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let err = |e: serde_json::Error| format!("{name}: {e}");
    let stem = name.trim_end_matches(".json");
    let kind = match stem {
        "create_user" | "user_create" => {
            let user: wire::UserResponse = serde_json::from_str(&text).map_err(err)?;
            user.user.guid.ok_or(format!("{name}: no guid"))?;
            "user"
        }
        s if s.starts_with("list_users") || s.starts_with("users_list") => {
            serde_json::from_str::<wire::UsersResponse>(&text).map_err(err)?;
            "users"
        }
        s if s.contains("credentials") => {
            let list: wire::CredentialsResponse = serde_json::from_str(&text).map_err(err)?;
            if mapping::credential_fields(&list.credentials).is_empty() {
                return Err(format!("{name}: no usable credential"));
            }
            "credentials"
        }
        s if s.contains("institution") => {
            let read: wire::InstitutionResponse = serde_json::from_str(&text).map_err(err)?;
            mapping::institution(&read.institution).map_err(|e| format!("{name}: {e}"))?;
            "institution"
        }
        s if s.starts_with("list_members") || s.starts_with("members_list") => {
            serde_json::from_str::<wire::MembersResponse>(&text).map_err(err)?;
            "members"
        }
        s if s.starts_with("member_status") => {
            let status: wire::MemberStatusResponse = serde_json::from_str(&text).map_err(err)?;
            mapping::status_state(&status.member, "fallback")
                .map_err(|e| format!("{name}: {e}"))?;
            for (i, challenge) in status.member.challenges.iter().enumerate() {
                mapping::challenge(i, challenge);
            }
            "member status"
        }
        s if s.starts_with("vc_") => {
            let envelope: wire::VcResponse = serde_json::from_str(&text).map_err(err)?;
            let subject = vc::credential_subject(&envelope.verifiable_credential)
                .map_err(|e| format!("{name}: {e}"))?;
            ["accounts", "customers", "transactions"]
                .into_iter()
                .find(|k| {
                    subject
                        .get(*k)
                        .and_then(|v| v.as_array())
                        .is_some_and(|a| !a.is_empty())
                })
                .ok_or(format!(
                    "{name}: no non-empty accounts/customers/transactions"
                ))?;
            "verifiable credential"
        }
        s if s.starts_with("webhook") => {
            let hook: wire::MxWebhook = serde_json::from_str(&text).map_err(err)?;
            hook.member_guid.ok_or(format!("{name}: no member_guid"))?;
            "webhook"
        }
        s if s.contains("member") || s == "oauth_window_uri" => {
            let member: wire::MemberResponse = serde_json::from_str(&text).map_err(err)?;
            mapping::member_state(&member.member, "fallback", ConnectionStatus::CREATED)
                .map_err(|e| format!("{name}: {e}"))?;
            "member"
        }
        _ => return Err(format!("{name}: no parser knows this fixture")),
    };
    Ok(kind)
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_projects_fixtures_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = json_files(&dir);
    assert!(files.len() >= 15, "{} fixtures", files.len());
    let failures: Vec<String> = files.iter().filter_map(|f| parse(f).err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn ucws_mx_fixtures_parse_with_the_plugins_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/mx");
    if !dir.is_dir() {
        println!(
            "note: {} does not exist; skipping the UCW fixture check",
            dir.display()
        );
        return;
    }
    let files = json_files(&dir);
    assert!(!files.is_empty(), "{} holds no fixtures", dir.display());
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for file in &files {
        match parse(file) {
            Ok(kind) => *kinds.entry(kind).or_default() += 1,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    println!("parsed {} UCW MX fixtures: {kinds:?}", files.len());
    assert!(kinds.get("verifiable credential").is_some_and(|n| *n >= 4));
    assert!(kinds.get("member status").is_some_and(|n| *n >= 2));
}

#[test]
fn ucws_challenge_example_maps_every_type() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/mx/member_status_with_challenges.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("note: {} does not exist; skipping", path.display());
        return;
    };
    let status: wire::MemberStatusResponse = serde_json::from_str(&text).unwrap();
    let types: Vec<hub_core::ChallengeType> = status
        .member
        .challenges
        .iter()
        .enumerate()
        .map(|(i, c)| mapping::challenge(i, c).challenge_type)
        .collect();
    use hub_core::ChallengeType as T;
    assert_eq!(
        types,
        [T::Question, T::Options, T::Token, T::Image, T::ImageOptions]
    );
    // UCW's fixture keeps CONNECTED with challenges: challenges only count when CHALLENGED.
    let state = mapping::status_state(&status.member, "x").unwrap();
    assert_eq!(state.status, ConnectionStatus::CONNECTED);
    assert!(state.challenges.is_empty());
}
